/**
 * What the Electron host needs before the node starts: the better-sqlite3 binding built for this
 * Electron, and a one-sentence explanation when the start fails.
 */
import { existsSync } from 'node:fs'
import { join, sep } from 'node:path'
import { P2pdsError } from '../core/errors.js'

/**
 * Where `scripts/prepare-electron.mjs` puts better-sqlite3 built for one Electron version:
 * `<root>/.native/electron-<version>/better_sqlite3.node` (keep the two in step).
 */
export function electronSqliteBindingPath(packageRoot: string, electronVersion: string): string {
  return join(packageRoot, '.native', `electron-${electronVersion}`, 'better_sqlite3.node')
}

/**
 * The Electron-specific binding when it has been built, else undefined (better-sqlite3 then loads
 * its own build, which only works if it was built for this Electron). Inside a packaged app the
 * file must be unpacked from the asar archive (`asarUnpack: .native/**`), so that copy is preferred.
 */
export function findElectronSqliteBinding(
  packageRoot: string,
  electronVersion: string,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  const path = electronSqliteBindingPath(packageRoot, electronVersion)
  const asar = `${sep}app.asar${sep}`
  if (path.includes(asar)) {
    const unpacked = path.replace(asar, `${sep}app.asar.unpacked${sep}`)
    if (exists(unpacked)) return unpacked
  }
  return exists(path) ? path : undefined
}

/** The sentence shown in the start-failure dialog: what happened and what to do. */
export function describeStartFailure(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  const message = err instanceof Error ? err.message : String(err)
  if (code === 'ERR_DLOPEN_FAILED' || /NODE_MODULE_VERSION|was compiled against a different Node\.js version/.test(message)) {
    return 'The SQLite module is not built for this version of Electron: run `node scripts/prepare-electron.mjs` (or `npm start`), then open P2PDS again.'
  }
  // P2pdsError messages are already written for the user (ConfigError, DataDirLockedError, ...).
  if (err instanceof P2pdsError && message.trim() !== '') return firstLine(message)
  return `P2PDS could not start: ${firstLine(message)}`
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).trim()
}

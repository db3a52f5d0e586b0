import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageRoot(): string {
  // Works from the sources (core/…) and from the build (dist/core/…), inside an asar too.
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string }
      if (pkg.name === 'p2pds') return dir
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error('P2PDS package.json not found above ' + fileURLToPath(import.meta.url))
    dir = parent
  }
}

/** The folder holding P2PDS's package.json. */
export const PACKAGE_ROOT = findPackageRoot()

/** P2PDS's version, from package.json. */
export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** Built UI files (renderer and the browser-mode bridge), produced by `npm run build`. */
export const BUILD_DIRS = {
  renderer: join(PACKAGE_ROOT, 'dist', 'renderer'),
  browserBridge: join(PACKAGE_ROOT, 'dist', 'preload', 'browser.js'),
} as const

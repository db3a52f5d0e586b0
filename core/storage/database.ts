import BetterSqlite3 from 'better-sqlite3'
import type { Database } from 'better-sqlite3'

/** How to open the node's SQLite database. */
export interface OpenDatabaseOptions {
  /**
   * Path of a better-sqlite3 native binding built for the runtime in use (Electron keeps its own
   * build, see scripts/prepare-electron.mjs). @default the binding better-sqlite3 finds itself
   */
  nativeBinding?: string
  /** Open read-only (no migrations, no writes). @default false */
  readonly?: boolean
}

/**
 * Opens `pds.db` with the settings every part of the node relies on: WAL (readers never block the
 * writer, a crash loses no committed transaction), synchronous=NORMAL (safe with WAL), foreign
 * keys on, and a busy timeout so a short lock by another connection is waited out, not failed.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database {
  const db = new BetterSqlite3(file, {
    readonly: options.readonly ?? false,
    fileMustExist: options.readonly ?? false,
    ...(options.nativeBinding !== undefined ? { nativeBinding: options.nativeBinding } : {}),
  })
  try {
    if (options.readonly !== true) db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    // 64 MiB of page cache (negative = KiB): large syncs insert hundreds of thousands of blocks.
    db.pragma('cache_size = -65536')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

export type { Database }

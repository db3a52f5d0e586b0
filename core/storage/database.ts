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
    // 4 MiB of page cache (negative = KiB). A full sync writes its blocks in key order from a
    // staging area, so a larger cache does not make it faster (bench/sync.bench.ts), only fuller:
    // one large transaction fills the whole cache, which then stays in the process's memory.
    db.pragma('cache_size = -4096')
    // TEMP tables (a full sync's staging area) spill to a temporary file beyond 2 MiB of cache.
    db.pragma('temp.cache_size = -2048')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

export type { Database }

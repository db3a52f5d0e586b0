/**
 * Helpers for tests of code that writes `pds.db`: a fresh migrated database in a temp folder, and
 * a dump of tables to compare before and after an operation that must change nothing.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase, type Database } from './database.js'
import { createSqliteStorage } from './index.js'
import { migrate } from './migrations.js'
import type { RepoStorage } from './types.js'

/** The tables migration 2 adds, in dependency order. */
export const REPO_TABLES = ['blocks', 'accounts', 'commits', 'block_refs', 'records', 'blobs', 'verifications'] as const

/** A migrated `pds.db` in a fresh temp folder, with the SQLite stores over it. */
export interface TempStorage extends RepoStorage {
  db: Database
  file: string
  /** Closes the database and removes the folder. */
  close(): void
}

/** Opens a fresh, migrated database in a temp folder. */
export function openTempStorage(init: { now?: () => number } = {}): TempStorage {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-storage-'))
  const file = join(dir, 'pds.db')
  const db = openDatabase(file)
  migrate(db)
  return {
    ...createSqliteStorage(db, init),
    db,
    file,
    close() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Every row of the tables, in primary-key order, hashed per table (a block table of megabytes
 * compares as one string). Equal dumps mean byte-for-byte equal contents.
 */
export function dumpTables(db: Database, tables: readonly string[] = REPO_TABLES): Record<string, { rows: number; sha256: string }> {
  const out: Record<string, { rows: number; sha256: string }> = {}
  for (const table of tables) {
    const hash = createHash('sha256')
    let rows = 0
    for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).raw().iterate() as Iterable<unknown[]>) {
      rows++
      for (const value of row) {
        if (Buffer.isBuffer(value)) hash.update(`b${value.length}:`).update(value)
        else hash.update(`v:${JSON.stringify(value)}`)
        hash.update('\u0000')
      }
      hash.update('\n')
    }
    out[table] = { rows, sha256: hash.digest('hex') }
  }
  return out
}

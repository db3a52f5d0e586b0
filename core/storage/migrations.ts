/**
 * Versioned schema migrations for `pds.db`.
 *
 * The schema version is SQLite's `user_version`. Each migration runs in its own transaction that
 * also bumps `user_version`, so a crash leaves the database at one version or the next, never
 * between. Append new migrations; never edit a released one (the upgrade test in
 * `migrations.test.ts` builds every earlier version and upgrades it).
 */
import type { Database } from 'better-sqlite3'
import { SchemaTooNewError } from '../errors.js'

/** One step of the schema. */
export interface Migration {
  /** The `user_version` after this migration; migrations are numbered 1, 2, 3, … */
  version: number
  /** What it adds, for people reading the history. */
  description: string
  up(db: Database): void
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'node metadata and user settings',
    up(db) {
      db.exec(`
        CREATE TABLE meta (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        ) STRICT;
        CREATE TABLE settings (
          key        TEXT PRIMARY KEY,
          value_json TEXT NOT NULL,
          updated_at INTEGER NOT NULL
        ) STRICT;
      `)
    },
  },
]

/** The version a fully migrated database has. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0

/** Reads the schema version of an open database. */
export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number
}

/**
 * Brings the database up to `target` (default: the latest). Returns the versions applied.
 * Refuses a database newer than this code knows.
 */
export function migrate(db: Database, target: number = LATEST_SCHEMA_VERSION, now: () => number = Date.now): number[] {
  const current = schemaVersion(db)
  if (current > LATEST_SCHEMA_VERSION) throw new SchemaTooNewError(current, LATEST_SCHEMA_VERSION)
  const applied: number[] = []
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > target) continue
    db.transaction(() => {
      m.up(db)
      db.pragma(`user_version = ${m.version}`)
      if (m.version >= 1) {
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
          `migration.${m.version}.applied_at`,
          new Date(now()).toISOString(),
        )
      }
    })()
    applied.push(m.version)
  }
  return applied
}

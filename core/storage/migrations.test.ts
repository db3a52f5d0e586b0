import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SchemaTooNewError } from '../errors.js'
import { openDatabase, type Database } from './database.js'
import { LATEST_SCHEMA_VERSION, migrate, MIGRATIONS, schemaVersion } from './migrations.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-migrations-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** Tables, columns and indexes, as SQLite reports them, for comparing two databases. */
function schemaOf(db: Database): unknown {
  const objects = db
    .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
    .all() as Array<{ type: string; name: string }>
  return objects.map((o) => ({
    ...o,
    columns: o.type === 'table' ? db.pragma(`table_info(${JSON.stringify(o.name)})`) : undefined,
  }))
}

describe('migrations', () => {
  it('are numbered 1, 2, 3, … without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1))
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length)
  })

  it('open a fresh database at the latest version in WAL mode', () => {
    const db = openDatabase(join(dir, 'pds.db'))
    expect(migrate(db)).toEqual(MIGRATIONS.map((m) => m.version))
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(migrate(db)).toEqual([]) // a second run does nothing
    db.close()
  })

  // Every earlier version, upgraded, ends with exactly the schema of a fresh database.
  it.each(Array.from({ length: LATEST_SCHEMA_VERSION }, (_, v) => v))('upgrade from version %i to the latest', (from) => {
    const fresh = openDatabase(join(dir, 'fresh.db'))
    migrate(fresh)
    const old = openDatabase(join(dir, `v${from}.db`))
    migrate(old, from)
    expect(schemaVersion(old)).toBe(from)
    const applied = migrate(old)
    expect(applied).toEqual(MIGRATIONS.filter((m) => m.version > from).map((m) => m.version))
    expect(schemaOf(old)).toEqual(schemaOf(fresh))
    fresh.close()
    old.close()
  })

  it('refuse a database from a newer P2PDS and leave it untouched', () => {
    const db = openDatabase(join(dir, 'pds.db'))
    migrate(db)
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`)
    const before = schemaOf(db)
    expect(() => migrate(db)).toThrow(SchemaTooNewError)
    expect(schemaOf(db)).toEqual(before)
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION + 1)
    db.close()
  })

  it('roll back a migration that fails half-way', () => {
    const db = openDatabase(join(dir, 'pds.db'))
    db.exec('CREATE TABLE meta (x INTEGER)') // makes migration 1 fail on CREATE TABLE meta
    expect(() => migrate(db)).toThrow(/already exists/)
    expect(schemaVersion(db)).toBe(0)
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all()
    expect(tables).toEqual([{ name: 'meta' }])
    db.close()
  })
})

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
  {
    version: 2,
    description: 'blocks, backed-up accounts, commit history, record index, blob tracking, verification results',
    up(db) {
      db.exec(`
        -- Content-addressed blocks, shared by every account and revision (one row per CID):
        -- repository blocks (dag-cbor) and blob bytes (raw CIDs). Doubles as the IPFS blockstore.
        CREATE TABLE blocks (
          cid   TEXT PRIMARY KEY,
          bytes BLOB NOT NULL,
          size  INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE accounts (
          did             TEXT PRIMARY KEY,
          handle          TEXT,
          pds_url         TEXT NOT NULL,
          signing_key     TEXT NOT NULL,
          head_cid        TEXT,
          head_rev        TEXT,
          data_cid        TEXT,
          added_at        INTEGER NOT NULL,
          last_sync_at    INTEGER,
          last_error_code TEXT,
          last_error      TEXT,
          last_error_at   INTEGER
        ) STRICT;

        -- Every synced commit. TIDs sort as text, so ORDER BY rev is commit order.
        CREATE TABLE commits (
          did      TEXT NOT NULL REFERENCES accounts (did),
          rev      TEXT NOT NULL,
          cid      TEXT NOT NULL,
          data_cid TEXT NOT NULL,
          prev_cid TEXT,
          source   TEXT NOT NULL CHECK (source IN ('full', 'diff')),
          seen_at  INTEGER NOT NULL,
          PRIMARY KEY (did, rev)
        ) STRICT, WITHOUT ROWID;

        -- The blocks each account needs (every kept commit's commit block, MST nodes and records).
        -- A block with no reference here and no blob row is garbage. The foreign key to blocks
        -- makes deleting a referenced block impossible, whatever the code above does.
        CREATE TABLE block_refs (
          did  TEXT NOT NULL REFERENCES accounts (did),
          cid  TEXT NOT NULL REFERENCES blocks (cid),
          kind TEXT NOT NULL CHECK (kind IN ('commit', 'mst', 'record')),
          PRIMARY KEY (did, cid)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX block_refs_by_cid ON block_refs (cid);

        -- Records at each account's head (history is read from the MST of kept commits).
        CREATE TABLE records (
          did        TEXT NOT NULL REFERENCES accounts (did),
          collection TEXT NOT NULL,
          rkey       TEXT NOT NULL,
          cid        TEXT NOT NULL,
          PRIMARY KEY (did, collection, rkey)
        ) STRICT, WITHOUT ROWID;

        -- Blobs referenced by an account's records. Their bytes live in blocks under the raw CID;
        -- a row in any state keeps that block alive.
        CREATE TABLE blobs (
          did        TEXT NOT NULL REFERENCES accounts (did),
          cid        TEXT NOT NULL,
          state      TEXT NOT NULL CHECK (state IN ('pending', 'stored', 'failed')),
          size       INTEGER,
          mime_type  TEXT,
          attempts   INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (did, cid)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX blobs_by_cid ON blobs (cid);
        CREATE INDEX blobs_by_state ON blobs (did, state, cid);

        CREATE TABLE verifications (
          id      INTEGER PRIMARY KEY,
          did     TEXT NOT NULL REFERENCES accounts (did),
          level   TEXT NOT NULL CHECK (level IN ('L0', 'L1')),
          ok      INTEGER NOT NULL CHECK (ok IN (0, 1)),
          details TEXT NOT NULL,
          at      INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX verifications_by_did ON verifications (did, level, at);
      `)
    },
  },
  {
    version: 3,
    description: 'per-account sync pause (the node-wide pause is the `sync.paused` setting)',
    up(db) {
      db.exec(`ALTER TABLE accounts ADD COLUMN paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))`)
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

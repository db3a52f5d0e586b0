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
  {
    version: 4,
    description: 'peers (libp2p and HTTP addresses, DIDs each holds) and storage-challenge history',
    up(db) {
      db.exec(`
        CREATE TABLE peers (
          id           INTEGER PRIMARY KEY,
          peer_id      TEXT UNIQUE,
          multiaddrs   TEXT NOT NULL DEFAULT '[]',
          endpoint     TEXT UNIQUE,
          source       TEXT NOT NULL,
          added_at     INTEGER NOT NULL,
          last_seen_at INTEGER,
          CHECK (peer_id IS NOT NULL OR endpoint IS NOT NULL)
        ) STRICT;

        CREATE TABLE peer_dids (
          peer INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
          did  TEXT NOT NULL,
          PRIMARY KEY (peer, did)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX peer_dids_by_did ON peer_dids (did);

        CREATE TABLE challenges (
          id          INTEGER PRIMARY KEY,
          peer        INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
          did         TEXT NOT NULL,
          level       TEXT NOT NULL CHECK (level IN ('L2', 'L3')),
          transport   TEXT NOT NULL CHECK (transport IN ('libp2p', 'http', 'none')),
          ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
          reason      TEXT,
          message     TEXT,
          commit_cid  TEXT,
          rev         TEXT,
          samples     INTEGER NOT NULL,
          nonce       TEXT NOT NULL,
          duration_ms INTEGER NOT NULL,
          at          INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX challenges_by_peer ON challenges (peer, at);
        CREATE INDEX challenges_by_did ON challenges (did, at);
      `)
    },
  },
  {
    version: 5,
    description: 'storage usage (bytes and count of stored blocks, kept by triggers) for the storage cap',
    up(db) {
      // One row, kept exact by triggers inside every writer's own transaction: reading usage is
      // O(1), where SUM(size) over blocks reads the whole table (core/settings.ts, storage cap).
      db.exec(`
        CREATE TABLE storage_usage (
          id     INTEGER PRIMARY KEY CHECK (id = 1),
          bytes  INTEGER NOT NULL,
          blocks INTEGER NOT NULL
        ) STRICT;
        INSERT INTO storage_usage (id, bytes, blocks) SELECT 1, COALESCE(SUM(size), 0), COUNT(*) FROM blocks;
        CREATE TRIGGER storage_usage_insert AFTER INSERT ON blocks BEGIN
          UPDATE storage_usage SET bytes = bytes + NEW.size, blocks = blocks + 1 WHERE id = 1;
        END;
        CREATE TRIGGER storage_usage_delete AFTER DELETE ON blocks BEGIN
          UPDATE storage_usage SET bytes = bytes - OLD.size, blocks = blocks - 1 WHERE id = 1;
        END;
        CREATE TRIGGER storage_usage_update AFTER UPDATE OF size ON blocks BEGIN
          UPDATE storage_usage SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
        END;
      `)
    },
  },
  {
    version: 6,
    description: 'PLC log mirror and lexicon index',
    up(db) {
      db.exec(`
        -- The last valid PLC audit log of each held did:plc (log_json NULL until one was), and the
        -- outcome of the latest attempt: valid 1/0, NULL when no source answered.
        CREATE TABLE plc_logs (
          did        TEXT PRIMARY KEY,
          log_json   TEXT,
          op_count   INTEGER NOT NULL DEFAULT 0,
          tombstoned INTEGER NOT NULL DEFAULT 0 CHECK (tombstoned IN (0, 1)),
          summary_json TEXT,
          fetched_at INTEGER,
          source     TEXT,
          checked_at INTEGER NOT NULL,
          valid      INTEGER CHECK (valid IN (0, 1)),
          error_code TEXT,
          error      TEXT
        ) STRICT;

        -- Lexicon index: NSIDs (collections and record $types) at each held account's head.
        -- No foreign key to accounts: rows go when the account's index is recomputed after removal.
        CREATE TABLE lexicon_usage (
          did        TEXT NOT NULL,
          nsid       TEXT NOT NULL,
          records    INTEGER NOT NULL,
          first_seen INTEGER NOT NULL,
          last_seen  INTEGER NOT NULL,
          PRIMARY KEY (did, nsid)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX lexicon_usage_by_nsid ON lexicon_usage (nsid);
        CREATE TABLE lexicon_repos (
          did        TEXT PRIMARY KEY,
          head_cid   TEXT,
          records    INTEGER NOT NULL,
          indexed_at INTEGER NOT NULL
        ) STRICT;
      `)
    },
  },
  {
    version: 7,
    description: 'firehose cursor per stream, and per-account live state (status, owed resync, events applied)',
    up(db) {
      db.exec(`
        -- The seq of the last event of each subscribeRepos stream handled (saved in the same
        -- transaction as what the event changed).
        CREATE TABLE firehose_cursors (
          url        TEXT PRIMARY KEY,
          seq        INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        ) STRICT;
        -- What the firehose knows of each held account.
        CREATE TABLE live_state (
          did             TEXT PRIMARY KEY REFERENCES accounts (did) ON DELETE CASCADE,
          -- the hosting status from #account: active, takendown, suspended, deactivated, deleted, ...
          status          TEXT NOT NULL DEFAULT 'active',
          -- non-NULL while a resync (getRepo since the head) is owed, saying why
          resync_reason   TEXT,
          events_applied  INTEGER NOT NULL DEFAULT 0,
          -- Unix ms the last event of the account was handled, and the time the event carried
          last_event_at   INTEGER,
          last_event_time INTEGER,
          -- the last event refused, in a sentence, and when
          error           TEXT,
          error_at        INTEGER
        ) STRICT;
      `)
    },
  },
  {
    version: 8,
    description: 'held rotation and signing keys (sealed), restores to a new PDS (resumable steps)',
    up(db) {
      db.exec(`
        -- Private keys the node holds, sealed with the node's data key (purpose held-key:<did_key>).
        CREATE TABLE held_keys (
          did_key    TEXT PRIMARY KEY,
          purpose    TEXT NOT NULL CHECK (purpose IN ('rotation', 'signing')),
          did        TEXT,
          sealed     TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          added_at   INTEGER
        ) STRICT;

        -- One restore per DID: where to, with which keys, and how far each step has come.
        CREATE TABLE restores (
          did           TEXT PRIMARY KEY,
          target_url    TEXT NOT NULL,
          target_did    TEXT,
          handle        TEXT NOT NULL,
          email         TEXT NOT NULL,
          rotation_key  TEXT NOT NULL,
          signing_key   TEXT,
          state         TEXT NOT NULL CHECK (state IN ('running', 'failed', 'done')),
          steps_json    TEXT NOT NULL,
          error_code    TEXT,
          error_message TEXT,
          started_at    INTEGER NOT NULL,
          updated_at    INTEGER NOT NULL
        ) STRICT;
      `)
    },
  },
  {
    version: 9,
    description: 'logins (OAuth and app-password sessions, sealed), offers, replication policies',
    up(db) {
      db.exec(`
        -- Accounts logged in on this node (several may be). Their secrets are in auth_secrets.
        CREATE TABLE logins (
          did          TEXT PRIMARY KEY,
          handle       TEXT,
          pds_url      TEXT NOT NULL,
          method       TEXT NOT NULL CHECK (method IN ('oauth', 'app-password')),
          logged_in_at INTEGER NOT NULL
        ) STRICT;

        -- Sealed with the node's data key (purpose <kind>:<key>): OAuth states, OAuth sessions
        -- (DPoP key and tokens), app-password sessions.
        CREATE TABLE auth_secrets (
          kind       TEXT NOT NULL CHECK (kind IN ('oauth-state', 'oauth-session', 'app-password')),
          key        TEXT NOT NULL,
          sealed     TEXT NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (kind, key)
        ) STRICT, WITHOUT ROWID;

        -- Offers made by a logged-in account (outgoing) or to one (incoming, verified in the
        -- offerer's repo), with the local decision on incoming ones (denial is kept, undoable).
        CREATE TABLE offers (
          offerer     TEXT NOT NULL,
          subject     TEXT NOT NULL,
          direction   TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
          uri         TEXT NOT NULL,
          cid         TEXT,
          record_json TEXT NOT NULL,
          decision    TEXT NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'accepted', 'denied')),
          created_at  INTEGER NOT NULL,
          updated_at  INTEGER NOT NULL,
          PRIMARY KEY (offerer, subject)
        ) STRICT, WITHOUT ROWID;

        -- Why the node holds a DID: reciprocal (mutual offers), archive (added by hand or with
        -- consent), config (REPLICATE_DIDS / POLICY_FILE). Lifecycle and merge rules: core/policy/.
        CREATE TABLE policies (
          id              TEXT PRIMARY KEY,
          type            TEXT NOT NULL CHECK (type IN ('reciprocal', 'archive', 'config')),
          did             TEXT NOT NULL,
          local_did       TEXT,
          state           TEXT NOT NULL CHECK (state IN ('proposed', 'active', 'suspended', 'terminated', 'purged')),
          consent         TEXT NOT NULL CHECK (consent IN ('reciprocal', 'consented', 'unconsented', 'revoked')),
          min_copies      INTEGER,
          interval_sec    INTEGER,
          retention_days  INTEGER,
          preferred_peers TEXT NOT NULL DEFAULT '[]',
          purge_at        INTEGER,
          created_at      INTEGER NOT NULL,
          updated_at      INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX policies_by_did ON policies (did, state);
      `)
    },
  },
  {
    version: 10,
    description: 'groups: named lists of DIDs (core/groups.ts)',
    up(db) {
      db.exec(`
        CREATE TABLE groups (
          name        TEXT PRIMARY KEY,
          members     TEXT NOT NULL,
          created_at  INTEGER NOT NULL,
          updated_at  INTEGER NOT NULL
        ) STRICT;
      `)
    },
  },
  {
    version: 11,
    description: "accounts: what served each account's last sync ('pds' or 'peer:<PeerID>')",
    up(db) {
      db.exec('ALTER TABLE accounts ADD COLUMN last_sync_source TEXT')
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

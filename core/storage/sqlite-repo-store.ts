/**
 * `SqliteRepoStore`: the {@link RepoStore} over the tables of migrations 2 and 3 in `pds.db` (and the
 * `settings` table of migration 1).
 *
 * Garbage collection is by reference sets: `block_refs` says which blocks each account needs,
 * `blobs` which blob blocks it tracks. Removing an account or pruning history first gathers the
 * CIDs it gives up into a temp table, drops its references, then deletes just those candidates
 * that no other reference (of any account) still names — all in one transaction. The foreign key
 * from `block_refs` to `blocks` makes deleting a referenced repository block fail outright.
 */
import type { Database, Statement } from 'better-sqlite3'
import {
  HeadMovedError,
  InvalidBlockError,
  InvalidInputError,
  MissingBlockError,
  RevNotForwardError,
  throwIfAborted,
  UnknownAccountError,
} from '../errors.js'
import { checkBlock } from './cid.js'
import { asBuffer } from './sqlite-block-store.js'
import type {
  AbortOptions,
  AccountIdentity,
  AccountState,
  BlobInfo,
  BlobRefInput,
  BlobState,
  BlockKind,
  CommitApplied,
  CommitInfo,
  CommitSource,
  CommitWrite,
  GcResult,
  PageOptions,
  RecordRef,
  RepoStore,
  RetainPlan,
  StorageUsage,
  SyncErrorInfo,
  VerificationLevel,
  VerificationResult,
} from './types.js'

/** What a {@link SqliteRepoStore} is made from. */
export interface SqliteRepoStoreInit {
  /** An open `pds.db`, migrated to at least version 2. */
  db: Database
  /** Clock for `addedAt` and blob timestamps. @default Date.now */
  now?: () => number
}

interface AccountRow {
  did: string
  handle: string | null
  pds_url: string
  signing_key: string
  head_cid: string | null
  head_rev: string | null
  data_cid: string | null
  added_at: number
  last_sync_at: number | null
  last_sync_source: string | null
  last_error_code: string | null
  last_error: string | null
  last_error_at: number | null
  /** 1 when syncing the account is paused (migration 3). */
  paused: number
}

interface CommitRow {
  did: string
  rev: string
  cid: string
  data_cid: string
  prev_cid: string | null
  source: CommitSource
  seen_at: number
}

interface BlobRow {
  did: string
  cid: string
  state: BlobState
  size: number | null
  mime_type: string | null
  attempts: number
  last_error: string | null
  updated_at: number
}

const DEFAULT_LIMIT = 100

export class SqliteRepoStore implements RepoStore {
  readonly #db: Database
  readonly #now: () => number
  readonly #stmts: ReturnType<typeof prepare>
  #tempTablesReady = false

  constructor(init: SqliteRepoStoreInit) {
    this.#db = init.db
    this.#now = init.now ?? Date.now
    this.#stmts = prepare(init.db)
  }

  // --- Accounts --------------------------------------------------------------------------------

  async upsertAccount(identity: AccountIdentity, options: AbortOptions = {}): Promise<AccountState> {
    throwIfAborted(options.signal)
    const s = this.#stmts
    return this.#db.transaction(() => {
      const existing = s.account.get(identity.did)
      if (existing === undefined) {
        s.insertAccount.run(identity.did, identity.handle ?? null, identity.pdsUrl, identity.signingKey, this.#now())
      } else {
        const handle = identity.handle === undefined ? existing.handle : identity.handle
        s.updateIdentity.run(handle, identity.pdsUrl, identity.signingKey, identity.did)
      }
      return toAccount(s.account.get(identity.did)!)
    })()
  }

  async getAccount(did: string, options: AbortOptions = {}): Promise<AccountState | null> {
    throwIfAborted(options.signal)
    const row = this.#stmts.account.get(did)
    return row === undefined ? null : toAccount(row)
  }

  async listAccounts(options: AbortOptions = {}): Promise<AccountState[]> {
    throwIfAborted(options.signal)
    return this.#stmts.accounts.all().map(toAccount)
  }

  async removeAccount(did: string, options: AbortOptions = {}): Promise<GcResult> {
    throwIfAborted(options.signal)
    this.#ensureTempTables()
    const db = this.#db
    return db.transaction((): GcResult => {
      if (this.#stmts.account.get(did) === undefined) throw new UnknownAccountError(did)
      db.prepare('DELETE FROM temp.gc_candidates').run()
      db.prepare('INSERT OR IGNORE INTO temp.gc_candidates (cid) SELECT cid FROM block_refs WHERE did = ?').run(did)
      db.prepare('INSERT OR IGNORE INTO temp.gc_candidates (cid) SELECT cid FROM blobs WHERE did = ?').run(did)
      for (const table of ['block_refs', 'blobs', 'records', 'commits', 'verifications', 'accounts']) {
        db.prepare(`DELETE FROM ${table} WHERE did = ?`).run(did)
      }
      return this.#sweep()
    })()
  }

  async recordSyncError(did: string, error: SyncErrorInfo, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    this.#stmts.setError.run(error.code, error.message, error.at, did)
  }

  async recordSyncSuccess(did: string, at: number, options: AbortOptions & { source?: string } = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.#stmts.setSynced.run(at, options.source ?? null, did).changes === 0) throw new UnknownAccountError(did)
  }

  async setAccountPaused(did: string, paused: boolean, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.#stmts.setPaused.run(paused ? 1 : 0, did).changes === 0) throw new UnknownAccountError(did)
  }

  async listPausedAccounts(options: AbortOptions = {}): Promise<string[]> {
    throwIfAborted(options.signal)
    return this.#stmts.pausedAccounts.all().map((r) => r.did)
  }

  // --- Node settings (the `settings` table of migration 1) -------------------------------------

  async getSetting(key: string, options: AbortOptions = {}): Promise<unknown> {
    throwIfAborted(options.signal)
    const row = this.#stmts.setting.get(key)
    return row === undefined ? undefined : (JSON.parse(row.value_json) as unknown)
  }

  async putSetting(key: string, value: unknown, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    const json = JSON.stringify(value)
    if (json === undefined) throw new InvalidInputError(`The setting ${key} needs a JSON value.`)
    this.#stmts.putSetting.run(key, json, this.#now())
  }

  // --- Commits ---------------------------------------------------------------------------------

  async applyCommit(write: CommitWrite, options: AbortOptions = {}): Promise<CommitApplied> {
    throwIfAborted(options.signal)
    const s = this.#stmts
    const { did, commit, at } = write
    return this.#db.transaction((): CommitApplied => {
      const account = s.account.get(did)
      if (account === undefined) throw new UnknownAccountError(did)
      if (account.head_cid !== write.expectedHead) throw new HeadMovedError(did, write.expectedHead, account.head_cid)
      if (account.head_rev !== null && !(commit.rev > account.head_rev)) throw new RevNotForwardError(did, account.head_rev, commit.rev)

      let blocksWritten = 0
      let bytesWritten = 0
      // In CID order: inserting into the blocks index in key order is about twice as fast as the
      // CAR's (random, hash) order for large repos (bench/sync.bench.ts).
      const blocks = [...write.blocks].sort((a, b) => (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0))
      for (const { cid, bytes } of blocks) {
        if (s.insertBlock.run(cid, asBuffer(bytes), bytes.byteLength).changes > 0) {
          blocksWritten++
          bytesWritten += bytes.byteLength
        }
      }
      let refsAdded = 0
      for (const { cid, kind } of write.refs) refsAdded += s.insertRef.run(did, cid, kind).changes
      for (const r of write.records.delete) s.deleteRecord.run(did, r.collection, r.rkey)
      for (const r of write.records.put) s.putRecord.run(did, r.collection, r.rkey, r.cid)
      const newBlobs: string[] = []
      for (const blob of write.blobs) {
        const params = { did, cid: blob.cid, size: blob.size ?? null, mime: blob.mimeType ?? null, at }
        if (s.insertBlob.run(params).changes > 0) newBlobs.push(blob.cid)
      }
      s.insertCommit.run(did, commit.rev, commit.cid, commit.dataCid, commit.prevCid, commit.source, at)
      s.setHead.run(commit.cid, commit.rev, commit.dataCid, at, did)
      return { blocksWritten, bytesWritten, refsAdded, newBlobs }
    })()
  }

  async listCommits(did: string, options: PageOptions & AbortOptions & { before?: string } = {}): Promise<CommitInfo[]> {
    throwIfAborted(options.signal)
    const limit = options.limit ?? DEFAULT_LIMIT
    const rows = options.before === undefined ? this.#stmts.commits.all(did, limit) : this.#stmts.commitsBefore.all(did, options.before, limit)
    return rows.map(toCommit)
  }

  async getCommit(did: string, rev: string, options: AbortOptions = {}): Promise<CommitInfo | null> {
    throwIfAborted(options.signal)
    const row = this.#stmts.commit.get(did, rev)
    return row === undefined ? null : toCommit(row)
  }

  async retainHistory(did: string, plan: RetainPlan, options: AbortOptions = {}): Promise<GcResult & { commitsRemoved: number }> {
    throwIfAborted(options.signal)
    this.#ensureTempTables()
    const db = this.#db
    return db.transaction(() => {
      const account = this.#stmts.account.get(did)
      if (account === undefined) throw new UnknownAccountError(did)
      if (account.head_cid !== plan.expectedHead) throw new HeadMovedError(did, plan.expectedHead, account.head_cid)
      let commitsRemoved = 0
      const removeCommit = db.prepare('DELETE FROM commits WHERE did = ? AND rev = ?')
      for (const rev of plan.removeRevs) {
        if (rev === account.head_rev) throw new InvalidInputError(`Revision ${rev} is the head of ${did} and cannot be pruned.`)
        commitsRemoved += removeCommit.run(did, rev).changes
      }
      for (const t of ['gc_candidates', 'gc_keep', 'gc_keep_blobs']) db.prepare(`DELETE FROM temp.${t}`).run()
      const keep = db.prepare('INSERT OR IGNORE INTO temp.gc_keep (cid) VALUES (?)')
      for (const cid of plan.keepRefs) keep.run(cid)
      const keepBlob = db.prepare('INSERT OR IGNORE INTO temp.gc_keep_blobs (cid) VALUES (?)')
      for (const cid of plan.keepBlobs) keepBlob.run(cid)
      db.prepare(
        'INSERT OR IGNORE INTO temp.gc_candidates (cid) SELECT cid FROM block_refs WHERE did = ? AND cid NOT IN (SELECT cid FROM temp.gc_keep)',
      ).run(did)
      db.prepare(
        'INSERT OR IGNORE INTO temp.gc_candidates (cid) SELECT cid FROM blobs WHERE did = ? AND cid NOT IN (SELECT cid FROM temp.gc_keep_blobs)',
      ).run(did)
      db.prepare('DELETE FROM block_refs WHERE did = ? AND cid NOT IN (SELECT cid FROM temp.gc_keep)').run(did)
      db.prepare('DELETE FROM blobs WHERE did = ? AND cid NOT IN (SELECT cid FROM temp.gc_keep_blobs)').run(did)
      return { ...this.#sweep(), commitsRemoved }
    })()
  }

  // --- Record index ----------------------------------------------------------------------------

  async listRecords(
    did: string,
    options: PageOptions & AbortOptions & { collection?: string; after?: string } = {},
  ): Promise<RecordRef[]> {
    throwIfAborted(options.signal)
    const limit = options.limit ?? DEFAULT_LIMIT
    const [afterCollection, afterRkey] = splitKey(options.after)
    if (options.collection !== undefined) {
      const after = afterCollection === options.collection ? afterRkey : afterCollection > options.collection ? '\u{10FFFF}' : ''
      return this.#stmts.recordsInCollection.all(did, options.collection, after, limit)
    }
    return this.#stmts.records.all(did, afterCollection, afterRkey, limit)
  }

  async listRecordBlocks(did: string, options: PageOptions & AbortOptions & { after?: string } = {}): Promise<Array<RecordRef & { bytes: Uint8Array }>> {
    throwIfAborted(options.signal)
    const [afterCollection, afterRkey] = splitKey(options.after)
    const rows = this.#stmts.recordBlocks.all(did, afterCollection, afterRkey, options.limit ?? DEFAULT_LIMIT)
    for (const row of rows) if (row.bytes === null) throw new MissingBlockError(row.cid)
    return rows as Array<RecordRef & { bytes: Buffer }>
  }

  async getRecordCid(did: string, collection: string, rkey: string, options: AbortOptions = {}): Promise<string | null> {
    throwIfAborted(options.signal)
    return this.#stmts.recordCid.get(did, collection, rkey)?.cid ?? null
  }

  async countRecords(did: string, options: AbortOptions = {}): Promise<Record<string, number>> {
    throwIfAborted(options.signal)
    return Object.fromEntries(this.#stmts.recordCounts.all(did).map((r) => [r.collection, r.n]))
  }

  // --- References --------------------------------------------------------------------------------

  async getBlockRefs(did: string, cids: Iterable<string>, options: AbortOptions = {}): Promise<Map<string, BlockKind>> {
    throwIfAborted(options.signal)
    const out = new Map<string, BlockKind>()
    for (const cid of cids) {
      const row = this.#stmts.ref.get(did, cid)
      if (row !== undefined) out.set(cid, row.kind)
    }
    return out
  }

  async sampleBlocks(did: string, count: number, random: () => number, options: AbortOptions = {}): Promise<string[]> {
    throwIfAborted(options.signal)
    const s = this.#stmts
    const refs = s.refCount.get(did)!.n
    const blobs = s.storedBlobCount.get(did)!.n
    const total = refs + blobs
    const wanted = new Set<number>()
    if (count >= total) for (let i = 0; i < total; i++) wanted.add(i)
    else while (wanted.size < count) wanted.add(Math.min(total - 1, Math.floor(random() * total)))
    const out: string[] = []
    let i = 0
    // One ordered pass over the account's CIDs (index order, so no sort), picking the chosen ranks.
    for (const row of s.refCids.iterate(did)) if (wanted.has(i++)) out.push(row.cid)
    for (const row of s.storedBlobCids.iterate(did)) if (wanted.has(i++)) out.push(row.cid)
    return out
  }

  async storageUsage(did: string, options: AbortOptions = {}): Promise<StorageUsage> {
    throwIfAborted(options.signal)
    const s = this.#stmts
    const repo = s.repoUsage.get(did)!
    const blobs: Record<BlobState, number> = { pending: 0, stored: 0, failed: 0 }
    for (const row of s.blobStates.all(did)) blobs[row.state] = row.n
    return { repoBlocks: repo.n, repoBytes: repo.bytes, blobs, blobBytes: s.blobUsage.get(did)!.bytes }
  }

  // --- Blobs -----------------------------------------------------------------------------------

  async listBlobs(did: string, options: PageOptions & AbortOptions & { state?: BlobState; after?: string } = {}): Promise<BlobInfo[]> {
    throwIfAborted(options.signal)
    const limit = options.limit ?? DEFAULT_LIMIT
    const after = options.after ?? ''
    const rows = options.state === undefined ? this.#stmts.blobs.all(did, after, limit) : this.#stmts.blobsInState.all(did, options.state, after, limit)
    return rows.map(toBlob)
  }

  async getBlob(did: string, cid: string, options: AbortOptions = {}): Promise<BlobInfo | null> {
    throwIfAborted(options.signal)
    const row = this.#stmts.blob.get(did, cid)
    return row === undefined ? null : toBlob(row)
  }

  async trackBlobs(did: string, blobs: Iterable<BlobRefInput>, options: AbortOptions = {}): Promise<number> {
    throwIfAborted(options.signal)
    const s = this.#stmts
    return this.#db.transaction(() => {
      if (s.account.get(did) === undefined) throw new UnknownAccountError(did)
      const at = this.#now()
      let added = 0
      for (const blob of blobs) added += s.insertBlob.run({ did, cid: blob.cid, size: blob.size ?? null, mime: blob.mimeType ?? null, at }).changes
      return added
    })()
  }

  async storeBlob(did: string, cid: string, bytes: Uint8Array, options: AbortOptions & { mimeType?: string } = {}): Promise<void> {
    throwIfAborted(options.signal)
    const problem = checkBlock(cid, bytes)
    if (problem !== null) throw new InvalidBlockError(cid, problem)
    const s = this.#stmts
    this.#db.transaction(() => {
      if (s.account.get(did) === undefined) throw new UnknownAccountError(did)
      s.insertBlock.run(cid, asBuffer(bytes), bytes.byteLength)
      const at = this.#now()
      s.blobStored.run({ did, cid, size: bytes.byteLength, mime: options.mimeType ?? null, at })
      // One copy serves every account that references the blob.
      s.blobStoredElsewhere.run({ cid, at })
    })()
  }

  async recordBlobFailure(did: string, cid: string, reason: string, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    const s = this.#stmts
    this.#db.transaction(() => {
      if (s.account.get(did) === undefined) throw new UnknownAccountError(did)
      s.blobFailed.run({ did, cid, reason, at: this.#now() })
    })()
  }

  // --- Verification ----------------------------------------------------------------------------

  async recordVerification(result: VerificationResult, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.#stmts.account.get(result.did) === undefined) throw new UnknownAccountError(result.did)
    this.#stmts.insertVerification.run(result.did, result.level, result.ok ? 1 : 0, JSON.stringify(result.details), result.at)
  }

  async listVerifications(
    did: string,
    options: PageOptions & AbortOptions & { level?: VerificationLevel } = {},
  ): Promise<VerificationResult[]> {
    throwIfAborted(options.signal)
    const limit = options.limit ?? DEFAULT_LIMIT
    const rows = options.level === undefined ? this.#stmts.verifications.all(did, limit) : this.#stmts.verificationsAt.all(did, options.level, limit)
    return rows.map((r) => ({ did: r.did, level: r.level, ok: r.ok === 1, details: JSON.parse(r.details) as Record<string, unknown>, at: r.at }))
  }

  // --- Garbage collection ----------------------------------------------------------------------

  #ensureTempTables(): void {
    if (this.#tempTablesReady) return
    // Connection-local scratch tables (the temp schema is not part of pds.db's schema).
    this.#db.exec(`
      CREATE TEMP TABLE IF NOT EXISTS gc_candidates (cid TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TEMP TABLE IF NOT EXISTS gc_keep (cid TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TEMP TABLE IF NOT EXISTS gc_keep_blobs (cid TEXT PRIMARY KEY) WITHOUT ROWID;
    `)
    this.#tempTablesReady = true
  }

  /** Deletes the candidate blocks nothing references any more. Runs inside the caller's transaction. */
  #sweep(): GcResult {
    const unreferenced = `
      cid IN (SELECT cid FROM temp.gc_candidates)
      AND NOT EXISTS (SELECT 1 FROM block_refs r WHERE r.cid = blocks.cid)
      AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.cid = blocks.cid)`
    const freed = this.#db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blocks WHERE ${unreferenced}`).get() as {
      n: number
      bytes: number
    }
    this.#db.prepare(`DELETE FROM blocks WHERE ${unreferenced}`).run()
    this.#db.prepare('DELETE FROM temp.gc_candidates').run()
    return { blocksDeleted: freed.n, bytesFreed: freed.bytes }
  }
}

function prepare(db: Database) {
  return {
    account: db.prepare('SELECT * FROM accounts WHERE did = ?') as Statement<[string], AccountRow>,
    accounts: db.prepare('SELECT * FROM accounts ORDER BY added_at, did') as Statement<[], AccountRow>,
    insertAccount: db.prepare(
      'INSERT INTO accounts (did, handle, pds_url, signing_key, added_at) VALUES (?, ?, ?, ?, ?)',
    ) as Statement<[string, string | null, string, string, number]>,
    updateIdentity: db.prepare('UPDATE accounts SET handle = ?, pds_url = ?, signing_key = ? WHERE did = ?') as Statement<
      [string | null, string, string, string]
    >,
    setError: db.prepare('UPDATE accounts SET last_error_code = ?, last_error = ?, last_error_at = ? WHERE did = ?') as Statement<
      [string, string, number, string]
    >,
    setSynced: db.prepare(
      'UPDATE accounts SET last_sync_at = ?, last_sync_source = coalesce(?, last_sync_source), last_error_code = NULL, last_error = NULL, last_error_at = NULL WHERE did = ?',
    ) as Statement<[number, string | null, string]>,
    setPaused: db.prepare('UPDATE accounts SET paused = ? WHERE did = ?') as Statement<[number, string]>,
    pausedAccounts: db.prepare('SELECT did FROM accounts WHERE paused = 1 ORDER BY did') as Statement<[], { did: string }>,
    setting: db.prepare('SELECT value_json FROM settings WHERE key = ?') as Statement<[string], { value_json: string }>,
    putSetting: db.prepare(
      'INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at',
    ) as Statement<[string, string, number]>,
    setHead: db.prepare(
      `UPDATE accounts SET head_cid = ?, head_rev = ?, data_cid = ?, last_sync_at = ?,
         last_error_code = NULL, last_error = NULL, last_error_at = NULL WHERE did = ?`,
    ) as Statement<[string, string, string, number, string]>,
    insertBlock: db.prepare('INSERT INTO blocks (cid, bytes, size) VALUES (?, ?, ?) ON CONFLICT (cid) DO NOTHING') as Statement<
      [string, Buffer, number]
    >,
    insertRef: db.prepare('INSERT INTO block_refs (did, cid, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING') as Statement<
      [string, string, BlockKind]
    >,
    ref: db.prepare('SELECT kind FROM block_refs WHERE did = ? AND cid = ?') as Statement<[string, string], { kind: BlockKind }>,
    refCount: db.prepare('SELECT COUNT(*) AS n FROM block_refs WHERE did = ?') as Statement<[string], { n: number }>,
    refCids: db.prepare('SELECT cid FROM block_refs WHERE did = ? ORDER BY cid') as Statement<[string], { cid: string }>,
    storedBlobCount: db.prepare("SELECT COUNT(*) AS n FROM blobs WHERE did = ? AND state = 'stored'") as Statement<[string], { n: number }>,
    storedBlobCids: db.prepare("SELECT cid FROM blobs WHERE did = ? AND state = 'stored' ORDER BY cid") as Statement<[string], { cid: string }>,
    repoUsage: db.prepare(
      'SELECT COUNT(*) AS n, COALESCE(SUM(b.size), 0) AS bytes FROM block_refs r JOIN blocks b ON b.cid = r.cid WHERE r.did = ?',
    ) as Statement<[string], { n: number; bytes: number }>,
    blobStates: db.prepare('SELECT state, COUNT(*) AS n FROM blobs WHERE did = ? GROUP BY state') as Statement<
      [string],
      { state: BlobState; n: number }
    >,
    blobUsage: db.prepare(
      "SELECT COALESCE(SUM(b.size), 0) AS bytes FROM blobs bl JOIN blocks b ON b.cid = bl.cid WHERE bl.did = ? AND bl.state = 'stored'",
    ) as Statement<[string], { bytes: number }>,
    deleteRecord: db.prepare('DELETE FROM records WHERE did = ? AND collection = ? AND rkey = ?') as Statement<[string, string, string]>,
    putRecord: db.prepare(
      'INSERT INTO records (did, collection, rkey, cid) VALUES (?, ?, ?, ?) ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid',
    ) as Statement<[string, string, string, string]>,
    records: db.prepare(
      'SELECT collection, rkey, cid FROM records WHERE did = ? AND (collection, rkey) > (?, ?) ORDER BY collection, rkey LIMIT ?',
    ) as Statement<[string, string, string, number], RecordRef>,
    recordBlocks: db.prepare(
      `SELECT r.collection, r.rkey, r.cid, b.bytes FROM records r LEFT JOIN blocks b ON b.cid = r.cid
       WHERE r.did = ? AND (r.collection, r.rkey) > (?, ?) ORDER BY r.collection, r.rkey LIMIT ?`,
    ) as Statement<[string, string, string, number], RecordRef & { bytes: Buffer | null }>,
    recordsInCollection: db.prepare(
      'SELECT collection, rkey, cid FROM records WHERE did = ? AND collection = ? AND rkey > ? ORDER BY rkey LIMIT ?',
    ) as Statement<[string, string, string, number], RecordRef>,
    recordCid: db.prepare('SELECT cid FROM records WHERE did = ? AND collection = ? AND rkey = ?') as Statement<
      [string, string, string],
      { cid: string }
    >,
    recordCounts: db.prepare('SELECT collection, COUNT(*) AS n FROM records WHERE did = ? GROUP BY collection ORDER BY collection') as Statement<
      [string],
      { collection: string; n: number }
    >,
    // A blob already in the block store (another account has it) is stored for this one too.
    insertBlob: db.prepare(
      `INSERT INTO blobs (did, cid, state, size, mime_type, attempts, updated_at)
       VALUES (@did, @cid, CASE WHEN EXISTS (SELECT 1 FROM blocks WHERE cid = @cid) THEN 'stored' ELSE 'pending' END, @size, @mime, 0, @at)
       ON CONFLICT (did, cid) DO NOTHING`,
    ) as Statement<[BlobParams]>,
    blobStored: db.prepare(
      `INSERT INTO blobs (did, cid, state, size, mime_type, attempts, updated_at) VALUES (@did, @cid, 'stored', @size, @mime, 1, @at)
       ON CONFLICT (did, cid) DO UPDATE SET state = 'stored', size = @size, mime_type = COALESCE(@mime, mime_type),
         attempts = attempts + 1, last_error = NULL, updated_at = @at`,
    ) as Statement<[BlobParams]>,
    blobStoredElsewhere: db.prepare(
      "UPDATE blobs SET state = 'stored', last_error = NULL, updated_at = @at WHERE cid = @cid AND state <> 'stored'",
    ) as Statement<[{ cid: string; at: number }]>,
    blobFailed: db.prepare(
      `INSERT INTO blobs (did, cid, state, attempts, last_error, updated_at) VALUES (@did, @cid, 'failed', 1, @reason, @at)
       ON CONFLICT (did, cid) DO UPDATE SET state = 'failed', attempts = attempts + 1, last_error = @reason, updated_at = @at`,
    ) as Statement<[{ did: string; cid: string; reason: string; at: number }]>,
    blobs: db.prepare('SELECT * FROM blobs WHERE did = ? AND cid > ? ORDER BY cid LIMIT ?') as Statement<[string, string, number], BlobRow>,
    blob: db.prepare('SELECT * FROM blobs WHERE did = ? AND cid = ?') as Statement<[string, string], BlobRow>,
    blobsInState: db.prepare('SELECT * FROM blobs WHERE did = ? AND state = ? AND cid > ? ORDER BY cid LIMIT ?') as Statement<
      [string, BlobState, string, number],
      BlobRow
    >,
    insertCommit: db.prepare(
      'INSERT INTO commits (did, rev, cid, data_cid, prev_cid, source, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ) as Statement<[string, string, string, string, string | null, CommitSource, number]>,
    commit: db.prepare('SELECT * FROM commits WHERE did = ? AND rev = ?') as Statement<[string, string], CommitRow>,
    commits: db.prepare('SELECT * FROM commits WHERE did = ? ORDER BY rev DESC LIMIT ?') as Statement<[string, number], CommitRow>,
    commitsBefore: db.prepare('SELECT * FROM commits WHERE did = ? AND rev < ? ORDER BY rev DESC LIMIT ?') as Statement<
      [string, string, number],
      CommitRow
    >,
    insertVerification: db.prepare('INSERT INTO verifications (did, level, ok, details, at) VALUES (?, ?, ?, ?, ?)') as Statement<
      [string, VerificationLevel, number, string, number]
    >,
    verifications: db.prepare('SELECT * FROM verifications WHERE did = ? ORDER BY at DESC, id DESC LIMIT ?') as Statement<
      [string, number],
      VerificationRow
    >,
    verificationsAt: db.prepare('SELECT * FROM verifications WHERE did = ? AND level = ? ORDER BY at DESC, id DESC LIMIT ?') as Statement<
      [string, VerificationLevel, number],
      VerificationRow
    >,
  }
}

interface BlobParams {
  did: string
  cid: string
  size: number | null
  mime: string | null
  at: number
}

interface VerificationRow {
  did: string
  level: VerificationLevel
  ok: number
  details: string
  at: number
}

function toAccount(row: AccountRow): AccountState {
  return {
    did: row.did,
    handle: row.handle,
    pdsUrl: row.pds_url,
    signingKey: row.signing_key,
    head: row.head_cid === null || row.head_rev === null || row.data_cid === null ? null : { cid: row.head_cid, rev: row.head_rev, dataCid: row.data_cid },
    addedAt: row.added_at,
    lastSyncAt: row.last_sync_at,
    lastSyncSource: row.last_sync_source,
    lastError:
      row.last_error_code === null ? null : { code: row.last_error_code, message: row.last_error ?? '', at: row.last_error_at ?? 0 },
  }
}

function toCommit(row: CommitRow): CommitInfo {
  return { did: row.did, rev: row.rev, cid: row.cid, dataCid: row.data_cid, prevCid: row.prev_cid, source: row.source, seenAt: row.seen_at }
}

function toBlob(row: BlobRow): BlobInfo {
  return {
    did: row.did,
    cid: row.cid,
    state: row.state,
    size: row.size,
    mimeType: row.mime_type,
    attempts: row.attempts,
    lastError: row.last_error,
    updatedAt: row.updated_at,
  }
}

/** `collection/rkey` → [collection, rkey]; no cursor → ['', ''] (before everything). */
function splitKey(key: string | undefined): [string, string] {
  if (key === undefined || key === '') return ['', '']
  const slash = key.indexOf('/')
  return slash < 0 ? [key, ''] : [key.slice(0, slash), key.slice(slash + 1)]
}

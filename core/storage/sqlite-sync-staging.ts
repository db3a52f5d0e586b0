/**
 * `SqliteSyncStaging`: staging areas for full syncs in TEMP tables of the `pds.db` connection.
 *
 * A full sync streams every received block into a staging table as it arrives (appended, no
 * index, so a block costs one row write and no JavaScript object survives it), indexes the table
 * once the download is complete, verifies the commit and the MST reading from there, and stages
 * the records and the blocks the commit needs. `apply` then writes the new head with a few
 * `INSERT … SELECT` statements in one transaction (blocks and references in CID order, the fast
 * order for their indexes), without moving the blocks through JavaScript again.
 *
 * TEMP tables belong to the connection and never to the `pds.db` file: nothing staged is visible
 * in the real tables, other connections never see it, and a crash leaves nothing behind (the
 * temporary file is deleted with the connection). Each staging area has its own tables, so syncs
 * of several accounts (or two of one account, of which `apply` lets only the first through) can
 * run at once.
 */
import type { Database, Statement } from 'better-sqlite3'
import { HeadMovedError, RevNotForwardError, throwIfAborted, UnknownAccountError } from '../errors.js'
import { asBuffer } from './sqlite-block-store.js'
import type {
  AbortOptions,
  Block,
  BlobRefInput,
  BlockKind,
  RecordRef,
  StagedCommitApplied,
  StagedCommitWrite,
  StagedRepo,
  SyncStaging,
} from './types.js'

/** What a {@link SqliteSyncStaging} is made from. */
export interface SqliteSyncStagingInit {
  /** An open `pds.db`, migrated to at least version 2 (the same connection as the stores). */
  db: Database
}

// Table names are unique within the process (several stagings may share one connection).
let nextArea = 1

export class SqliteSyncStaging implements SyncStaging {
  readonly #db: Database

  constructor(init: SqliteSyncStagingInit) {
    this.#db = init.db
  }

  async open(did: string, options: AbortOptions = {}): Promise<StagedRepo> {
    throwIfAborted(options.signal)
    return new SqliteStagedRepo(this.#db, did, nextArea++)
  }
}

class SqliteStagedRepo implements StagedRepo {
  readonly did: string
  readonly #db: Database
  /** `temp.sync_<n>_` */
  readonly #t: string
  #closed = false
  #indexed = false
  #recordsIndexed = false
  readonly #insertBlocks: (values: unknown[]) => void
  readonly #insertBlobRef: Statement<[string, string, string | null, number | null]>
  readonly #insertRefs: (values: unknown[]) => void
  readonly #insertRecords: (values: unknown[]) => void
  #selectBlock: Statement<[string], Buffer> | undefined

  constructor(db: Database, did: string, area: number) {
    this.#db = db
    this.did = did
    const t = `temp.sync_${area}_`
    this.#t = t
    // blocks: as received (rowid order = CAR order); refs: commit and MST nodes the head needs;
    // records: the head's records in key order; blob_refs: blobs named by received records.
    db.exec(`
      CREATE TABLE ${t}blocks (cid TEXT NOT NULL, bytes BLOB NOT NULL);
      CREATE TABLE ${t}refs (cid TEXT NOT NULL, kind TEXT NOT NULL);
      CREATE TABLE ${t}records (collection TEXT NOT NULL, rkey TEXT NOT NULL, cid TEXT NOT NULL);
      CREATE TABLE ${t}blob_refs (record_cid TEXT NOT NULL, cid TEXT NOT NULL, mime_type TEXT, size INTEGER);
    `)
    this.#insertBlocks = bulkInsert(db, `INSERT INTO ${t}blocks (cid, bytes) VALUES`, 2)
    this.#insertBlobRef = db.prepare(`INSERT INTO ${t}blob_refs (record_cid, cid, mime_type, size) VALUES (?, ?, ?, ?)`)
    this.#insertRefs = bulkInsert(db, `INSERT INTO ${t}refs (cid, kind) VALUES`, 2)
    this.#insertRecords = bulkInsert(db, `INSERT INTO ${t}records (collection, rkey, cid) VALUES`, 3)
  }

  async putBlocks(blocks: Iterable<Block>, options: AbortOptions = {}): Promise<void> {
    this.#check(options)
    const values: unknown[] = []
    for (const { cid, bytes } of blocks) values.push(cid, asBuffer(bytes))
    this.#insertBlocks(values)
  }

  async putBlobRefs(recordCid: string, blobs: Iterable<BlobRefInput>, options: AbortOptions = {}): Promise<void> {
    this.#check(options)
    this.#db.transaction(() => {
      for (const b of blobs) this.#insertBlobRef.run(recordCid, b.cid, b.mimeType ?? null, b.size ?? null)
    })()
  }

  async getBlock(cid: string, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    this.#check(options)
    if (this.#selectBlock === undefined) {
      this.#indexBlocks()
      this.#selectBlock = this.#db.prepare<[string], Buffer>(`SELECT bytes FROM ${this.#t}blocks WHERE cid = ? LIMIT 1`).pluck()
    }
    return this.#selectBlock.get(cid)
  }

  async putRefs(refs: Iterable<{ cid: string; kind: BlockKind }>, options: AbortOptions = {}): Promise<void> {
    this.#check(options)
    const values: unknown[] = []
    for (const { cid, kind } of refs) values.push(cid, kind)
    this.#insertRefs(values)
  }

  async putRecords(records: Iterable<RecordRef>, options: AbortOptions = {}): Promise<void> {
    this.#check(options)
    const values: unknown[] = []
    for (const r of records) values.push(r.collection, r.rkey, r.cid)
    this.#insertRecords(values)
  }

  async firstMissingRecord(options: AbortOptions = {}): Promise<RecordRef | null> {
    this.#check(options)
    this.#indexBlocks()
    const t = this.#t
    const row = this.#db
      .prepare<[], RecordRef>(
        `SELECT collection, rkey, cid FROM ${t}records r
         WHERE NOT EXISTS (SELECT 1 FROM ${t}blocks s WHERE s.cid = r.cid)
           AND NOT EXISTS (SELECT 1 FROM main.blocks b WHERE b.cid = r.cid)
         ORDER BY r.rowid LIMIT 1`,
      )
      .get()
    return row ?? null
  }

  async storedRecordsToScan(options: AbortOptions = {}): Promise<string[]> {
    this.#check(options)
    this.#indexBlocks()
    const t = this.#t
    return this.#db
      .prepare<[string], string>(
        `SELECT DISTINCT r.cid FROM ${t}records r
         WHERE NOT EXISTS (SELECT 1 FROM ${t}blocks s WHERE s.cid = r.cid)
           AND NOT EXISTS (SELECT 1 FROM main.block_refs x WHERE x.did = ? AND x.cid = r.cid)`,
      )
      .pluck()
      .all(this.did)
  }

  async apply(write: StagedCommitWrite, options: AbortOptions = {}): Promise<StagedCommitApplied> {
    this.#check(options)
    this.#indexBlocks()
    const db = this.#db
    const t = this.#t
    const did = this.did
    const { commit, at } = write

    // The blocks the head needs, once each and in CID order; a CID staged as more than one kind
    // keeps the first (commit, then MST node, then record), as `applyCommit` does.
    db.exec(`
      CREATE TABLE ${t}need (cid TEXT PRIMARY KEY, kind TEXT NOT NULL) WITHOUT ROWID;
      INSERT OR IGNORE INTO ${t}need (cid, kind) SELECT cid, kind FROM ${t}refs ORDER BY rowid;
      INSERT OR IGNORE INTO ${t}need (cid, kind) SELECT cid, 'record' FROM ${t}records;
    `)
    const account = db.prepare<[string], { head_cid: string | null; head_rev: string | null }>(
      'SELECT head_cid, head_rev FROM accounts WHERE did = ?',
    )
    const hadRecords = db.prepare<[string], number>('SELECT EXISTS (SELECT 1 FROM records WHERE did = ?)').pluck()
    if (!this.#recordsIndexed && hadRecords.get(did) === 1) {
      // Comparing with the previous head's index needs the staged records by key.
      db.exec(`CREATE INDEX ${t}records_by_key ON ${t.slice('temp.'.length)}records (collection, rkey)`)
      this.#recordsIndexed = true
    }
    const newBlobs = db.prepare<[string], BlobRefInput & { mimeType: string | null; size: number | null }>(
      `SELECT b.cid AS cid, b.mime_type AS mimeType, b.size AS size FROM ${t}blob_refs b
       WHERE b.record_cid IN (SELECT cid FROM ${t}records)
         AND NOT EXISTS (SELECT 1 FROM main.block_refs x WHERE x.did = ? AND x.cid = b.record_cid)
       ORDER BY b.rowid`,
    )
    const insertBlocks = db
      .prepare<[], number>(
        `INSERT INTO main.blocks (cid, bytes, size)
         SELECT n.cid, s.bytes, length(s.bytes) FROM ${t}need n CROSS JOIN ${t}blocks s ON s.cid = n.cid WHERE true
         ON CONFLICT (cid) DO NOTHING RETURNING size`,
      )
      .pluck()
    const insertRefs = db.prepare<[string]>(
      `INSERT INTO main.block_refs (did, cid, kind) SELECT ?, cid, kind FROM ${t}need WHERE true ON CONFLICT DO NOTHING`,
    )
    const counts = db.prepare<[string], { creates: number; updates: number }>(
      `SELECT COALESCE(SUM(r.cid IS NULL), 0) AS creates, COALESCE(SUM(r.cid IS NOT NULL AND r.cid <> s.cid), 0) AS updates
       FROM ${t}records s LEFT JOIN main.records r ON r.did = ? AND r.collection = s.collection AND r.rkey = s.rkey`,
    )
    const deleteGone = db.prepare<[string]>(
      `DELETE FROM main.records WHERE did = ?
         AND NOT EXISTS (SELECT 1 FROM ${t}records s WHERE s.collection = records.collection AND s.rkey = records.rkey)`,
    )
    const putRecords = db.prepare<[string]>(
      `INSERT INTO main.records (did, collection, rkey, cid) SELECT ?, collection, rkey, cid FROM ${t}records WHERE true
       ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid WHERE cid <> excluded.cid`,
    )
    // Same rule as `RepoStore.trackBlobs`: a blob whose bytes are stored (another account's) is stored here too.
    const insertBlob = db.prepare<[{ did: string; cid: string; size: number | null; mime: string | null; at: number }]>(
      `INSERT INTO blobs (did, cid, state, size, mime_type, attempts, updated_at)
       VALUES (@did, @cid, CASE WHEN EXISTS (SELECT 1 FROM blocks WHERE cid = @cid) THEN 'stored' ELSE 'pending' END, @size, @mime, 0, @at)
       ON CONFLICT (did, cid) DO NOTHING`,
    )
    const stagedRecords = db.prepare<[], number>(`SELECT COUNT(*) FROM ${t}records`).pluck()

    try {
      return db.transaction((): StagedCommitApplied => {
        const row = account.get(did)
        if (row === undefined) throw new UnknownAccountError(did)
        if (row.head_cid !== write.expectedHead) throw new HeadMovedError(did, write.expectedHead, row.head_cid)
        if (row.head_rev !== null && !(commit.rev > row.head_rev)) throw new RevNotForwardError(did, row.head_rev, commit.rev)

        // Blobs first: "records the account did not reference before" is read before the new refs.
        const blobs = [...newBlobs.all(did), ...(write.blobs ?? [])]
        // A first sync (no index yet) creates every record; otherwise compare with the previous head.
        const first = hadRecords.get(did) !== 1
        const { creates, updates } = first ? { creates: stagedRecords.get()!, updates: 0 } : counts.get(did)!
        const deletes = first ? 0 : deleteGone.run(did).changes
        putRecords.run(did)

        let blocksWritten = 0
        let bytesWritten = 0
        for (const size of insertBlocks.all()) {
          blocksWritten++
          bytesWritten += size
        }
        const refsAdded = insertRefs.run(did).changes

        const added: string[] = []
        for (const blob of blobs) {
          if (insertBlob.run({ did, cid: blob.cid, size: blob.size ?? null, mime: blob.mimeType ?? null, at }).changes > 0) added.push(blob.cid)
        }
        db.prepare('INSERT INTO commits (did, rev, cid, data_cid, prev_cid, source, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          did,
          commit.rev,
          commit.cid,
          commit.dataCid,
          commit.prevCid,
          commit.source,
          at,
        )
        db.prepare(
          `UPDATE accounts SET head_cid = ?, head_rev = ?, data_cid = ?, last_sync_at = ?,
             last_error_code = NULL, last_error = NULL, last_error_at = NULL WHERE did = ?`,
        ).run(commit.cid, commit.rev, commit.dataCid, at, did)
        return { blocksWritten, bytesWritten, refsAdded, newBlobs: added, creates, updates, deletes }
      })()
    } finally {
      db.exec(`DROP TABLE IF EXISTS ${t}need`)
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    const t = this.#t
    this.#db.exec(`
      DROP TABLE IF EXISTS ${t}blocks;
      DROP TABLE IF EXISTS ${t}refs;
      DROP TABLE IF EXISTS ${t}records;
      DROP TABLE IF EXISTS ${t}blob_refs;
      DROP TABLE IF EXISTS ${t}need;
    `)
  }

  /** Indexes the staged blocks by CID, once the download is complete (one sort, not a b-tree insert per block). */
  #indexBlocks(): void {
    if (this.#indexed) return
    this.#indexed = true
    this.#db.exec(`CREATE INDEX ${this.#t}blocks_by_cid ON ${this.#t.slice('temp.'.length)}blocks (cid)`)
  }

  #check(options: AbortOptions): void {
    throwIfAborted(options.signal)
    if (this.#closed) throw new Error(`the staging area of ${this.did} is closed`)
  }
}

// Rows per INSERT statement when staging: one statement call per row costs more than the row.
const ROWS_PER_STATEMENT = 64

/**
 * An inserter of many rows of `width` columns (`values` holds them one after the other) in one
 * transaction, {@link ROWS_PER_STATEMENT} rows per statement.
 */
function bulkInsert(db: Database, insertValues: string, width: number): (values: unknown[]) => void {
  const row = `(${Array<string>(width).fill('?').join(', ')})`
  const many = db.prepare(`${insertValues} ${Array<string>(ROWS_PER_STATEMENT).fill(row).join(', ')}`)
  const one = db.prepare(`${insertValues} ${row}`)
  const step = ROWS_PER_STATEMENT * width
  return db.transaction((values: unknown[]) => {
    let i = 0
    for (; i + step <= values.length; i += step) many.run(values.slice(i, i + step))
    for (; i < values.length; i += width) one.run(values.slice(i, i + width))
  })
}

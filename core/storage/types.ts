/**
 * The storage layer's interfaces. Replication and policy talk to these, never to SQLite: a
 * {@link BlockStore} maps CID strings to bytes (the same store serves IPFS later), and a
 * {@link RepoStore} keeps what the node knows about each backed-up account (head, history,
 * record index, blob tracking, verification results) and which blocks each account needs.
 *
 * CIDs cross these interfaces as strings (CIDv1, base32), never as class instances.
 */

/** Options of every async operation that can be cancelled. */
export interface AbortOptions {
  /** Aborting it rejects the operation with `AbortError` (code `ERR_ABORTED`). */
  signal?: AbortSignal
}

/** One content-addressed block. */
export interface Block {
  /** CIDv1 string (base32), SHA-256, dag-cbor or raw codec. */
  cid: string
  /** The block's content. */
  bytes: Uint8Array
}

/** What {@link BlockStore.getBlocks} found. */
export interface GetBlocksResult {
  /** The blocks found, by CID. */
  blocks: Map<string, Uint8Array>
  /** The CIDs asked for that are not stored, in the order asked. */
  missing: string[]
}

/**
 * A content-addressed block store: CID string → bytes.
 *
 * Invariants every implementation keeps (checked by `describeBlockStore` in
 * `block-store.conformance.ts`):
 * - it never holds bytes that do not hash to their CID: `putBlock`/`putBlocks` check and refuse
 *   with `InvalidBlockError`;
 * - `putBlocks` is all-or-nothing;
 * - putting a block twice is a no-op; deleting a block that is not there is a no-op;
 * - bytes returned are the caller's to keep (later writes do not change them).
 */
export interface BlockStore {
  /** Stores a block after checking its bytes hash to its CID. */
  putBlock(cid: string, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  /** The block's bytes; rejects with `MissingBlockError` when it is not stored. */
  getBlock(cid: string, options?: AbortOptions): Promise<Uint8Array>
  /** Whether the block is stored. */
  hasBlock(cid: string, options?: AbortOptions): Promise<boolean>
  /**
   * Deletes a block. Implementations that track references (`SqliteBlockStore`) refuse a block an
   * account still needs with `BlockInUseError`.
   */
  deleteBlock(cid: string, options?: AbortOptions): Promise<void>
  /** Stores many blocks, all or none: every block is checked before any is written. */
  putBlocks(blocks: Iterable<Block>, options?: AbortOptions): Promise<void>
  /** The blocks stored among `cids`, and the ones missing. */
  getBlocks(cids: Iterable<string>, options?: AbortOptions): Promise<GetBlocksResult>
  /** The subset of `cids` that is stored. */
  hasBlocks(cids: Iterable<string>, options?: AbortOptions): Promise<Set<string>>
}

// --- Accounts and their repositories ----------------------------------------------------------

/** What a block is to the account that references it. */
export type BlockKind = 'commit' | 'mst' | 'record'

/** Where an account lives and how to check its data; supplied by identity resolution. */
export interface AccountIdentity {
  /** The account's DID (`did:plc:…` or `did:web:…`). */
  did: string
  /** The handle, when known. @default null */
  handle?: string | null
  /** The PDS origin, e.g. `https://pds.example.com`. */
  pdsUrl: string
  /** The repository signing key, a `did:key:` string (`#atproto` in the DID document). */
  signingKey: string
}

/** The head commit of a backed-up repository. */
export interface RepoHead {
  /** CID of the commit block. */
  cid: string
  /** The commit's revision (a TID; revisions sort as strings). */
  rev: string
  /** CID of the MST root the commit points to. */
  dataCid: string
}

/** A sync failure remembered on the account until the next successful sync. */
export interface SyncErrorInfo {
  /** The error's stable code, e.g. `ERR_COMMIT_SIGNATURE`. */
  code: string
  message: string
  /** Unix ms. */
  at: number
}

/** An account as stored. */
export interface AccountState {
  did: string
  /** The handle, when known. */
  handle: string | null
  /** The PDS origin the account was last synced from. */
  pdsUrl: string
  /** The did:key the account's commits were last checked against. */
  signingKey: string
  /** Null until the first successful sync. */
  head: RepoHead | null
  /** Unix ms the account was first added. */
  addedAt: number
  /** Unix ms of the last successful sync (including ones that found nothing new). */
  lastSyncAt: number | null
  /** What served the last sync that said (`'pds'` or `'peer:<PeerID>'`), or null. */
  lastSyncSource: string | null
  /** The last sync failure, cleared by a successful sync. */
  lastError: SyncErrorInfo | null
}

/** How a commit reached the store. */
export type CommitSource = 'full' | 'diff'

/** One kept commit of an account's history. */
export interface CommitInfo {
  did: string
  /** The commit's revision (TID). */
  rev: string
  /** CID of the commit block. */
  cid: string
  /** CID of the MST root at this commit. */
  dataCid: string
  /** The commit's `prev` field (usually null in v3 repos). */
  prevCid: string | null
  /** Whether it came from a whole-repo download or a diff (`getRepo?since=`). */
  source: CommitSource
  /** Unix ms it was stored. */
  seenAt: number
}

/** A record at the head: its place in the repo and the CID of its block. */
export interface RecordRef {
  /** The collection NSID, e.g. `app.bsky.feed.post`. */
  collection: string
  /** The record key. */
  rkey: string
  /** CID of the record block. */
  cid: string
}

/** A blob referenced by a record of the account. */
export interface BlobRefInput {
  /** Raw CID of the blob. */
  cid: string
  /** @default null */
  mimeType?: string | null
  /** Size the record declares, in bytes. @default null */
  size?: number | null
}

/** Where the copy of a blob stands. */
export type BlobState = 'pending' | 'stored' | 'failed'

/** A blob the account references, and the state of its local copy (bytes in the block store). */
export interface BlobInfo {
  did: string
  /** Raw CID of the blob (its bytes are the block under this CID once `stored`). */
  cid: string
  state: BlobState
  /** Size in bytes: stored size, else the size records declare, else null. */
  size: number | null
  /** MIME type records declare, when they do. */
  mimeType: string | null
  /** Fetch attempts so far. */
  attempts: number
  /** Why the last attempt failed, when it did. */
  lastError: string | null
  /** Unix ms of the last state change. */
  updatedAt: number
}

/**
 * A verified commit and everything that comes with it, applied by
 * {@link RepoStore.applyCommit} in one transaction.
 */
export interface CommitWrite {
  /** The account (must exist: see {@link RepoStore.upsertAccount}). */
  did: string
  /** The head CID the caller read before verifying (null: the account had none). */
  expectedHead: string | null
  /** The new head commit. */
  commit: Omit<CommitInfo, 'did' | 'seenAt'>
  /**
   * Blocks to store (already verified by the caller; a CID already stored is skipped). Every ref
   * in {@link refs} must name a block given here or already stored.
   */
  blocks: Iterable<Block>
  /** Blocks this account now needs (added to its reference set; existing ones are kept). */
  refs: Iterable<{ cid: string; kind: BlockKind }>
  /** Record index changes at the new head. */
  records: { put: Iterable<RecordRef>; delete: Iterable<{ collection: string; rkey: string }> }
  /** Blobs referenced by new records; tracked as `pending` unless already tracked or stored. */
  blobs: Iterable<BlobRefInput>
  /** Unix ms. */
  at: number
}

/** What {@link RepoStore.applyCommit} changed. */
export interface CommitApplied {
  /** Blocks newly written to the block store (others were already there). */
  blocksWritten: number
  /** Bytes of those blocks. */
  bytesWritten: number
  /** References newly added for the account. */
  refsAdded: number
  /** Blob CIDs the account newly tracks. */
  newBlobs: string[]
}

/** What a garbage-collecting operation freed. */
export interface GcResult {
  /** Blocks deleted because nothing referenced them any more. */
  blocksDeleted: number
  bytesFreed: number
}

/** What to keep when pruning history; see {@link RepoStore.retainHistory}. */
export interface RetainPlan {
  /** The head the caller read before computing the plan. */
  expectedHead: string | null
  /** Revs of commits to forget (never the head). */
  removeRevs: Iterable<string>
  /** Every block the kept commits need; the account's other references are dropped. */
  keepRefs: Iterable<string>
  /** Blob CIDs the kept commits reference; other blob rows of the account are dropped. */
  keepBlobs: Iterable<string>
}

/** Verification levels stored so far. */
export type VerificationLevel = 'L0' | 'L1'

/** The result of one verification run. */
export interface VerificationResult {
  did: string
  /** L0: head compared with the PDS; L1: sampled blocks re-hashed. */
  level: VerificationLevel
  /** Whether the check passed. */
  ok: boolean
  /** JSON-safe details (what was compared, what failed). */
  details: Record<string, unknown>
  /** Unix ms. */
  at: number
}

/** Space an account uses. */
export interface StorageUsage {
  /** Repository blocks (commits, MST nodes, records) the account references. */
  repoBlocks: number
  /** Bytes of those blocks (shared ones count for every account). */
  repoBytes: number
  /** Blobs by state. */
  blobs: Record<BlobState, number>
  /** Bytes of the stored blobs. */
  blobBytes: number
}

/** Options for paging lists. */
export interface PageOptions {
  /** Most items returned. @default 100 */
  limit?: number
}

/**
 * What the node knows about backed-up accounts, and which blocks each one needs (so removing an
 * account or pruning history deletes only blocks nothing else references).
 *
 * Writes that belong together happen in one transaction; those that depend on the head refuse,
 * changing nothing, when the head moved since the caller read it (`HeadMovedError`).
 */
export interface RepoStore {
  /** Adds the account, or updates its handle, PDS and signing key; keeps everything else. */
  upsertAccount(identity: AccountIdentity, options?: AbortOptions): Promise<AccountState>
  /** The account, or null when it is not backed up. */
  getAccount(did: string, options?: AbortOptions): Promise<AccountState | null>
  /** Every account, oldest first. */
  listAccounts(options?: AbortOptions): Promise<AccountState[]>
  /**
   * Removes the account and everything stored for it, then deletes the blocks (repository and
   * blobs) no other account references. Rejects with `UnknownAccountError`.
   */
  removeAccount(did: string, options?: AbortOptions): Promise<GcResult>
  /** Remembers a sync failure on the account (shown until the next successful sync). */
  recordSyncError(did: string, error: SyncErrorInfo, options?: AbortOptions): Promise<void>
  /** Marks a sync as successful (clears the last error); `source` (what served it) is kept when given. */
  recordSyncSuccess(did: string, at: number, options?: AbortOptions & { source?: string }): Promise<void>
  /** Pauses or resumes periodic and manual syncs of the account (kept across restarts). Rejects with `UnknownAccountError`. */
  setAccountPaused(did: string, paused: boolean, options?: AbortOptions): Promise<void>
  /** DIDs of the accounts whose syncing is paused. */
  listPausedAccounts(options?: AbortOptions): Promise<string[]>
  /** A node setting's JSON value, or undefined when it was never set. */
  getSetting(key: string, options?: AbortOptions): Promise<unknown>
  /** Sets a node setting to a JSON-safe value. */
  putSetting(key: string, value: unknown, options?: AbortOptions): Promise<void>

  /**
   * Applies a verified commit in ONE transaction: new blocks, the commit row, the new head, record
   * index changes, block references and blob rows. Refuses and changes nothing when the head moved
   * (`HeadMovedError`), the rev does not move forward (`RevNotForwardError`), or the account is
   * unknown (`UnknownAccountError`).
   */
  applyCommit(write: CommitWrite, options?: AbortOptions): Promise<CommitApplied>
  /** Kept commits, newest first. */
  listCommits(did: string, options?: PageOptions & AbortOptions & { before?: string }): Promise<CommitInfo[]>
  /** One kept commit, or null. */
  getCommit(did: string, rev: string, options?: AbortOptions): Promise<CommitInfo | null>
  /**
   * Forgets commits and shrinks the account's references to `keepRefs`/`keepBlobs`, then deletes
   * blocks nothing references any more, in one transaction. Refuses when the head moved, or when
   * asked to remove the head.
   */
  retainHistory(did: string, plan: RetainPlan, options?: AbortOptions): Promise<GcResult & { commitsRemoved: number }>

  /** Records at the head, ordered by collection then rkey; `after` is `collection/rkey`. */
  listRecords(
    did: string,
    options?: PageOptions & AbortOptions & { collection?: string; after?: string },
  ): Promise<RecordRef[]>
  /**
   * Records at the head with their blocks' bytes, ordered and paged as {@link listRecords} (one
   * query per page, for streaming a repository out). Rejects with `MissingBlockError` when a
   * record's block is not held.
   */
  listRecordBlocks(did: string, options?: PageOptions & AbortOptions & { after?: string }): Promise<Array<RecordRef & { bytes: Uint8Array }>>
  /** The CID of a record at the head, or null. */
  getRecordCid(did: string, collection: string, rkey: string, options?: AbortOptions): Promise<string | null>
  /** Records per collection at the head. */
  countRecords(did: string, options?: AbortOptions): Promise<Record<string, number>>

  /** Which of `cids` the account references, and as what. */
  getBlockRefs(did: string, cids: Iterable<string>, options?: AbortOptions): Promise<Map<string, BlockKind>>
  /**
   * A sample of the CIDs the account keeps (repository blocks and stored blobs), `count` at most,
   * picked with `random` (returns [0, 1)).
   */
  sampleBlocks(did: string, count: number, random: () => number, options?: AbortOptions): Promise<string[]>
  /** Space the account uses. */
  storageUsage(did: string, options?: AbortOptions): Promise<StorageUsage>

  /** One blob the account references, or null. */
  getBlob(did: string, cid: string, options?: AbortOptions): Promise<BlobInfo | null>
  /** Blobs the account references, by CID; `after` is a CID. */
  listBlobs(did: string, options?: PageOptions & AbortOptions & { state?: BlobState; after?: string }): Promise<BlobInfo[]>
  /**
   * Tracks blobs for the account (e.g. the ones its PDS lists) as `pending`, or `stored` when the
   * block store already has them; blobs already tracked are left as they are. Resolves with the
   * number newly tracked. (`retainHistory` drops rows its plan does not keep.)
   */
  trackBlobs(did: string, blobs: Iterable<BlobRefInput>, options?: AbortOptions): Promise<number>
  /**
   * Stores a blob's bytes (checked against its raw CID) and marks it `stored`, in one transaction.
   * Rejects with `InvalidBlockError` on a mismatch, recording nothing.
   */
  storeBlob(did: string, cid: string, bytes: Uint8Array, options?: AbortOptions & { mimeType?: string }): Promise<void>
  /** Records a failed fetch of a blob (state `failed`, attempts + 1, the reason). */
  recordBlobFailure(did: string, cid: string, reason: string, options?: AbortOptions): Promise<void>

  /** Stores a verification result. */
  recordVerification(result: VerificationResult, options?: AbortOptions): Promise<void>
  /** Verification results, newest first. */
  listVerifications(did: string, options?: PageOptions & AbortOptions & { level?: VerificationLevel }): Promise<VerificationResult[]>
}

/** The two stores replication works with, usually over the same `pds.db`. */
export interface RepoStorage {
  /** Where block bytes live. */
  blocks: BlockStore
  /** What is known about each account and which blocks it needs. */
  repos: RepoStore
  /**
   * Where a full sync keeps what it receives until the whole commit is verified, so memory stays
   * bounded whatever the repository's size. @default none: a full sync holds the repository in memory
   */
  staging?: SyncStaging
}

/** Staging areas for full syncs; see {@link StagedRepo}. */
export interface SyncStaging {
  /**
   * Opens a new, empty staging area for one full sync of `did`. Nothing staged is visible in the
   * stores until {@link StagedRepo.apply}; a staging area left by a crash is gone on restart.
   */
  open(did: string, options?: AbortOptions): Promise<StagedRepo>
}

/**
 * What one full sync received and verified so far, outside the stores. Blocks are staged as they
 * arrive (already checked against their CIDs), then the walk of the commit's MST stages the blocks
 * the commit needs and its records; {@link apply} writes the new head from there in one
 * transaction, and {@link close} drops everything staged.
 */
export interface StagedRepo {
  /** The account. */
  readonly did: string
  /** Stages received blocks (their bytes already hash to their CIDs). */
  putBlocks(blocks: Iterable<Block>, options?: AbortOptions): Promise<void>
  /** Notes the blob references found in a staged record block. */
  putBlobRefs(recordCid: string, blobs: Iterable<BlobRefInput>, options?: AbortOptions): Promise<void>
  /** A staged block's bytes, or undefined when none was received under `cid`. */
  getBlock(cid: string, options?: AbortOptions): Promise<Uint8Array | undefined>
  /** Notes blocks the new head needs other than records: its commit and MST nodes. */
  putRefs(refs: Iterable<{ cid: string; kind: BlockKind }>, options?: AbortOptions): Promise<void>
  /** Stages the records of the new head, in key order (a record's block is needed too). */
  putRecords(records: Iterable<RecordRef>, options?: AbortOptions): Promise<void>
  /** The first staged record (key order) whose block is neither staged nor stored, or null. */
  firstMissingRecord(options?: AbortOptions): Promise<RecordRef | null>
  /**
   * Records whose block was not received but is stored, and which the account does not reference
   * yet: the caller scans them for blobs (received ones were noted through {@link putBlobRefs}).
   */
  storedRecordsToScan(options?: AbortOptions): Promise<string[]>
  /**
   * Writes the staged commit as the account's new head in ONE transaction: the needed blocks
   * (those not stored yet), the commit row, the head, the record index (creates, updates and
   * deletes against the previous head's), references, and blob rows for records the account did
   * not reference before. Refuses and changes nothing like {@link RepoStore.applyCommit}.
   */
  apply(write: StagedCommitWrite, options?: AbortOptions): Promise<StagedCommitApplied>
  /** Drops the staging area; safe to call more than once. */
  close(): void
}

/** The head {@link StagedRepo.apply} writes. */
export interface StagedCommitWrite {
  /** The head CID the caller read before verifying (null: the account had none). */
  expectedHead: string | null
  /** The new head commit. */
  commit: Omit<CommitInfo, 'did' | 'seenAt'>
  /** Blobs of records scanned outside the staging area (see {@link StagedRepo.storedRecordsToScan}). @default none */
  blobs?: Iterable<BlobRefInput>
  /** Unix ms. */
  at: number
}

/** What {@link StagedRepo.apply} changed. */
export interface StagedCommitApplied extends CommitApplied {
  /** Records new at the head, changed, and gone since the previous head. */
  creates: number
  updates: number
  deletes: number
}

/**
 * Repository sync: fetch an account's repository from its PDS, verify it completely, and store it
 * in one transaction — or store nothing.
 *
 * Full sync streams `com.atproto.sync.getRepo` block by block (each checked against its CID) into
 * the storage's staging area (`RepoStorage.staging`: TEMP tables of `pds.db`, invisible in the real
 * tables), noting the blob references of received records on the way, then checks the commit
 * (DID, signature, rev moving forward) and walks the whole MST (well-formed, every record present)
 * reading from there, staging the nodes and records it finds; `StagedRepo.apply` then writes
 * blocks, commit, record index, references and blob rows in one transaction. Memory stays bounded
 * by a batch of blocks and the tree's depth. A storage without staging gets the same checks over
 * the repository held in memory (the CAR once, as its blocks) and `RepoStore.applyCommit`.
 *
 * Incremental sync asks for `getRepo?since=<our rev>`: the PDS sends only blocks written since.
 * The new commit is checked the same way; the MST walk skips subtrees this account already holds
 * (verified when they were stored) and checks only where they sit; `@atproto/repo`'s `verifyDiff`
 * over the stored repository plus the new blocks yields the record creates, updates and deletes.
 * When the PDS cannot serve the diff (an error status for `since`, or blocks missing from it),
 * the sync falls back to a full one.
 */
import { Repo, verifyDiff, WriteOpAction, type RepoStorage as AtprotoRepoStorage } from '@atproto/repo'
import { decode } from '@atproto/lex-cbor'
import { enumBlobRefs, getBlobCidString, getBlobMime, getBlobSize, parseCid, type Cid, type LexValue } from '@atproto/lex-data'
import {
  AbortError,
  HeadMovedError,
  IncompleteRepoError,
  MalformedRepoError,
  MissingBlockError,
  P2pdsError,
  PdsRequestError,
  RevNotForwardError,
  throwIfAborted,
  toErrorDto,
} from '../errors.js'
import type {
  AccountIdentity,
  Block,
  BlobRefInput,
  BlockKind,
  RecordRef,
  RepoHead,
  RepoStorage,
  StagedRepo,
  SyncStaging,
} from '../storage/types.js'
import { BlockStoreReader } from './blockstore-reader.js'
import { cidString } from './cid-string.js'
import { readRepoCar, streamRepoCar, type ReadRepoCarOptions, type ReceivedCar } from './car.js'
import { assertSigningKey, checkCommit, type CheckedCommit } from './commit-check.js'
import { checkMst, walkMst, type MstCheckResult } from './mst-check.js'
import { responseBody, xrpcGet, type XrpcTarget } from './pds-client.js'
import type { SyncOptions, SyncPhase, SyncSummary } from './types.js'

const GET_REPO = 'com.atproto.sync.getRepo'

// Answers that mean the repository itself is unavailable: asking for all of it will not help.
const REPO_UNAVAILABLE = new Set(['RepoNotFound', 'RepoTakendown', 'RepoSuspended', 'RepoDeactivated'])

/**
 * Syncs one account: adds it to the store (or updates its identity), then fetches, verifies and
 * stores its repository. Resolves with what changed; rejects — having stored nothing and kept
 * the previous copy — with a `RepoVerificationError` subclass, `PdsRequestError`,
 * `HeadMovedError` (another sync finished first) or `AbortError`. Other failures are also
 * remembered on the account (`lastError`) until the next successful sync.
 *
 * @param account - the DID, its PDS and its signing key, from identity resolution
 */
export async function syncRepo(storage: RepoStorage, account: AccountIdentity, options: SyncOptions = {}): Promise<SyncSummary> {
  throwIfAborted(options.signal)
  assertSigningKey(account.did, account.signingKey)
  const now = options.now ?? Date.now
  const sync = new RepoSyncRun(storage, account, options, now)
  await storage.repos.upsertAccount(account, { signal: options.signal })
  try {
    return await sync.run()
  } catch (err) {
    if (!(err instanceof AbortError) && !(err instanceof HeadMovedError)) {
      const { code, message } = toErrorDto(err)
      await storage.repos.recordSyncError(account.did, { code, message, at: now() })
    }
    throw err
  }
}

/** Whether a failed diff sync should be retried as a full one. */
function canFallBack(err: unknown): boolean {
  if (err instanceof IncompleteRepoError) return true
  return err instanceof PdsRequestError && err.status !== null && err.status >= 400 && err.status < 500 && !REPO_UNAVAILABLE.has(err.xrpcError ?? '')
}

/** What a verified download turns into before it is stored. */
interface Verified {
  car: ReceivedCar
  commit: CheckedCommit
  commitBytes: Uint8Array
  mst: MstCheckResult
  records: { put: RecordRef[]; delete: Array<{ collection: string; rkey: string }> }
  counts: { creates: number; updates: number; deletes: number }
}

class RepoSyncRun {
  readonly #storage: RepoStorage
  readonly #account: AccountIdentity
  readonly #options: SyncOptions
  readonly #now: () => number
  readonly #started: number
  readonly #target: XrpcTarget
  #bytes = 0
  #blocks = 0
  #fellBack = false

  constructor(storage: RepoStorage, account: AccountIdentity, options: SyncOptions, now: () => number) {
    this.#storage = storage
    this.#account = account
    this.#options = options
    this.#now = now
    this.#started = now()
    this.#target = { did: account.did, pdsUrl: account.pdsUrl, fetch: options.fetch, signal: options.signal }
  }

  get #did(): string {
    return this.#account.did
  }

  async run(): Promise<SyncSummary> {
    const state = await this.#storage.repos.getAccount(this.#did, { signal: this.#options.signal })
    const head = state?.head ?? null
    let summary: SyncSummary
    if (head !== null && this.#options.mode !== 'full') {
      try {
        summary = await this.#syncDiff(head)
      } catch (err) {
        if (!canFallBack(err)) throw err
        this.#fellBack = true
        summary = await this.#syncFull(head)
      }
    } else {
      summary = await this.#syncFull(head)
    }
    this.#progress('done')
    return summary
  }

  async #syncFull(head: RepoHead | null): Promise<SyncSummary> {
    const staging = this.#storage.staging
    if (staging !== undefined) return this.#syncFullStaged(head, staging)
    const car = await this.#download({ did: this.#did })
    this.#progress('verifying')
    if (head !== null && car.root.toString() === head.cid) return this.#unchanged(head, 'full')
    const getBlock = (cid: Cid) => car.blocks.get(cid) ?? this.#localBlock(cid)
    const commitBytes = await getBlock(car.root)
    if (commitBytes === undefined) throw new IncompleteRepoError(this.#did, car.root.toString(), 'commit')
    const commit = await checkCommit(this.#did, this.#account.signingKey, car.root, commitBytes)
    if (head !== null && !(commit.rev > head.rev)) throw new RevNotForwardError(this.#did, head.rev, commit.rev)
    const mst = await checkMst(commit.data, {
      did: this.#did,
      signal: this.#options.signal,
      getBlock,
      hasRecord: (cid) => car.blocks.has(cid) || this.#storage.blocks.hasBlock(cid.toString()),
    })
    const leaves = new Map(mst.leaves.map((l) => [l.key, l.cid.toString()]))
    const records: Verified['records'] = { put: [], delete: [] }
    const counts = { creates: 0, updates: 0, deletes: 0 }
    const current = head === null ? new Map<string, string>() : await this.#currentIndex()
    for (const [key, cid] of leaves) {
      const before = current.get(key)
      if (before === cid) continue
      records.put.push({ ...splitKey(key), cid })
      if (before === undefined) counts.creates++
      else counts.updates++
    }
    for (const key of current.keys()) {
      if (leaves.has(key)) continue
      records.delete.push(splitKey(key))
      counts.deletes++
    }
    return this.#store(head, { car, commit, commitBytes, mst, records, counts }, 'full')
  }

  /**
   * A full sync through a staging area: blocks go there as they arrive (with the blob references
   * of any record among them), the commit and MST are verified reading from there, and the new
   * head is written from there in one transaction. Memory stays bounded by a batch of blocks and
   * the MST's depth, whatever the repository's size.
   */
  async #syncFullStaged(head: RepoHead | null, staging: SyncStaging): Promise<SyncSummary> {
    const { signal } = this.#options
    const staged = await staging.open(this.#did, { signal })
    try {
      const root = await this.#downloadStaged(staged)
      this.#progress('verifying')
      if (head !== null && root.toString() === head.cid) return await this.#unchanged(head, 'full')
      const getBlock = async (cid: Cid) => (await staged.getBlock(cidString(cid), { signal })) ?? (await this.#localBlock(cid))
      const commitBytes = await getBlock(root)
      if (commitBytes === undefined) throw new IncompleteRepoError(this.#did, root.toString(), 'commit')
      const commit = await checkCommit(this.#did, this.#account.signingKey, root, commitBytes)
      if (head !== null && !(commit.rev > head.rev)) throw new RevNotForwardError(this.#did, head.rev, commit.rev)

      // The walk's nodes and records go to the staging area in batches.
      let refs: Array<{ cid: string; kind: BlockKind }> = [{ cid: commit.cid.toString(), kind: 'commit' }]
      let records: RecordRef[] = []
      const flush = async () => {
        if (refs.length > 0) await staged.putRefs(refs, { signal })
        if (records.length > 0) await staged.putRecords(records, { signal })
        refs = []
        records = []
      }
      await walkMst(commit.data, {
        did: this.#did,
        signal,
        getBlock,
        onNode: (cid) => {
          refs.push({ cid: cidString(cid), kind: 'mst' })
          if (refs.length >= STAGE_BATCH) return flush()
        },
        onLeaf: (key, cid) => {
          records.push({ ...splitKey(key), cid: cidString(cid) })
          if (records.length >= STAGE_BATCH) return flush()
        },
      })
      await flush()
      const missing = await staged.firstMissingRecord({ signal })
      if (missing !== null) throw new IncompleteRepoError(this.#did, missing.cid, `record ${missing.collection}/${missing.rkey}`)

      // Records not received but already stored (another account has them) are new to this one.
      const blobs: BlobRefInput[] = []
      const toScan = await staged.storedRecordsToScan({ signal })
      for (let i = 0; i < toScan.length; i += STAGE_BATCH) {
        const found = await this.#storage.blocks.getBlocks(toScan.slice(i, i + STAGE_BATCH), { signal })
        if (found.missing.length > 0) throw new IncompleteRepoError(this.#did, found.missing[0]!, 'record')
        for (const bytes of found.blocks.values()) blobs.push(...blobRefs(bytes))
      }

      throwIfAborted(signal)
      this.#progress('storing')
      const applied = await staged.apply(
        {
          expectedHead: head?.cid ?? null,
          commit: {
            cid: commit.cid.toString(),
            rev: commit.rev,
            dataCid: commit.data.toString(),
            prevCid: commit.prev?.toString() ?? null,
            source: 'full',
          },
          blobs,
          at: this.#now(),
        },
        { signal },
      )
      return {
        ...this.#summaryBase('full'),
        rev: commit.rev,
        cid: commit.cid.toString(),
        dataCid: commit.data.toString(),
        creates: applied.creates,
        updates: applied.updates,
        deletes: applied.deletes,
        blocksStored: applied.blocksWritten,
        bytesStored: applied.bytesWritten,
        newBlobs: applied.newBlobs,
      }
    } finally {
      staged.close()
    }
  }

  async #syncDiff(head: RepoHead): Promise<SyncSummary> {
    const car = await this.#download({ did: this.#did, since: head.rev })
    this.#progress('verifying')
    if (car.root.toString() === head.cid) return this.#unchanged(head, 'diff')
    const getBlock = (cid: Cid) => car.blocks.get(cid) ?? this.#localBlock(cid)
    const commitBytes = await getBlock(car.root)
    if (commitBytes === undefined) throw new IncompleteRepoError(this.#did, car.root.toString(), 'commit')
    const commit = await checkCommit(this.#did, this.#account.signingKey, car.root, commitBytes)
    if (!(commit.rev > head.rev)) throw new RevNotForwardError(this.#did, head.rev, commit.rev)
    const mst = await checkMst(commit.data, {
      did: this.#did,
      signal: this.#options.signal,
      getBlock,
      hasRecord: (cid) => car.blocks.has(cid) || this.#storage.blocks.hasBlock(cid.toString()),
      // MST nodes this account already holds were fully checked when they were stored.
      isVerified: async (cid) => (await this.#storage.repos.getBlockRefs(this.#did, [cid.toString()])).get(cid.toString()) === 'mst',
    })

    const reader = new BlockStoreReader(this.#storage.blocks, undefined, { signal: this.#options.signal })
    let writes
    try {
      // `ReadableRepo` is not exported by @atproto/repo 0.10; `Repo.load` given a commit CID only
      // reads (`readObj` + `MST.load`), which our read-only adapter provides.
      const previous = await Repo.load(reader as unknown as AtprotoRepoStorage, parseCid(head.cid))
      const diff = await verifyDiff(previous, car.blocks, car.root, this.#did, this.#account.signingKey, { ensureLeaves: false })
      writes = diff.writes
    } catch (err) {
      if (err instanceof P2pdsError) throw err
      // Upstream's MissingBlockError / MissingBlocksError: a block the diff needs is neither
      // received nor stored; a full sync does not depend on what is stored.
      if (err instanceof Error && /^Missing/.test(err.constructor.name)) {
        throw new IncompleteRepoError(this.#did, car.root.toString(), 'block of the diff')
      }
      throw new MalformedRepoError(this.#did, car.root.toString(), `the diff cannot be applied: ${(err as Error).message}`, { cause: err })
    }
    const records: Verified['records'] = { put: [], delete: [] }
    const counts = { creates: 0, updates: 0, deletes: 0 }
    for (const w of writes) {
      if (w.action === WriteOpAction.Delete) {
        records.delete.push({ collection: w.collection, rkey: w.rkey })
        counts.deletes++
      } else {
        records.put.push({ collection: w.collection, rkey: w.rkey, cid: w.cid.toString() })
        if (w.action === WriteOpAction.Create) counts.creates++
        else counts.updates++
      }
    }
    return this.#store(head, { car, commit, commitBytes, mst, records, counts }, 'diff')
  }

  /** Writes a verified commit and everything it brings, in one transaction. */
  async #store(head: RepoHead | null, v: Verified, source: 'full' | 'diff'): Promise<SyncSummary> {
    const { signal } = this.#options
    const blocks = new Map<string, Block & { kind: BlockKind }>()
    const add = (cid: string, bytes: Uint8Array, kind: BlockKind) => {
      if (!blocks.has(cid)) blocks.set(cid, { cid, bytes, kind })
    }
    add(v.commit.cid.toString(), v.commitBytes, 'commit')
    for (const node of v.mst.nodes) add(node.cid.toString(), node.bytes, 'mst')

    // Record blocks: from the download, else from the store (already verified there).
    const recordCids = new Set(v.mst.leaves.map((l) => l.cid.toString()))
    const fromStore: string[] = []
    for (const leaf of v.mst.leaves) {
      const bytes = v.car.blocks.get(leaf.cid)
      if (bytes !== undefined) add(leaf.cid.toString(), bytes, 'record')
      else if (!blocks.has(leaf.cid.toString())) fromStore.push(leaf.cid.toString())
    }
    if (fromStore.length > 0) {
      const found = await this.#storage.blocks.getBlocks(fromStore, { signal })
      if (found.missing.length > 0) throw new IncompleteRepoError(this.#did, found.missing[0]!, 'record')
      for (const [cid, bytes] of found.blocks) add(cid, bytes, 'record')
    }

    // Blobs: from records this account did not hold before (older ones are tracked already).
    const known = head === null ? new Map<string, BlockKind>() : await this.#storage.repos.getBlockRefs(this.#did, recordCids, { signal })
    const blobs = new Map<string, BlobRefInput>()
    for (const cid of recordCids) {
      if (known.has(cid)) continue
      for (const blob of blobRefs(blocks.get(cid)!.bytes)) if (!blobs.has(blob.cid)) blobs.set(blob.cid, blob)
    }

    throwIfAborted(signal)
    this.#progress('storing')
    const applied = await this.#storage.repos.applyCommit(
      {
        did: this.#did,
        expectedHead: head?.cid ?? null,
        commit: {
          cid: v.commit.cid.toString(),
          rev: v.commit.rev,
          dataCid: v.commit.data.toString(),
          prevCid: v.commit.prev?.toString() ?? null,
          source,
        },
        blocks: blocks.values(),
        refs: blocks.values(),
        records: v.records,
        blobs: blobs.values(),
        at: this.#now(),
      },
      { signal },
    )
    return {
      ...this.#summaryBase(source),
      rev: v.commit.rev,
      cid: v.commit.cid.toString(),
      dataCid: v.commit.data.toString(),
      ...v.counts,
      blocksStored: applied.blocksWritten,
      bytesStored: applied.bytesWritten,
      newBlobs: applied.newBlobs,
    }
  }

  async #unchanged(head: RepoHead, _asked: 'full' | 'diff'): Promise<SyncSummary> {
    await this.#storage.repos.recordSyncSuccess(this.#did, this.#now(), { signal: this.#options.signal })
    return {
      ...this.#summaryBase('unchanged'),
      rev: head.rev,
      cid: head.cid,
      dataCid: head.dataCid,
      creates: 0,
      updates: 0,
      deletes: 0,
      blocksStored: 0,
      bytesStored: 0,
      newBlobs: [],
    }
  }

  #summaryBase(mode: SyncSummary['mode']) {
    return {
      did: this.#did,
      mode,
      fellBackToFull: this.#fellBack,
      bytesReceived: this.#bytes,
      blocksReceived: this.#blocks,
      durationMs: this.#now() - this.#started,
    }
  }

  async #download(params: Record<string, string>): Promise<ReceivedCar> {
    return this.#fetchCar(params, (body, options) => readRepoCar(this.#did, body, options))
  }

  /** Streams the whole repository into `staged`, noting the blob references of received records. */
  async #downloadStaged(staged: StagedRepo): Promise<Cid> {
    const { signal } = this.#options
    const car = await this.#fetchCar({ did: this.#did }, (body, options) =>
      streamRepoCar(this.#did, body, {
        ...options,
        onBlocks: async (blocks) => {
          await staged.putBlocks(blocks, { signal })
          for (const block of blocks) {
            if (!mayHoldBlobs(block.bytes)) continue
            const refs = blobRefs(block.bytes)
            if (refs.length > 0) await staged.putBlobRefs(block.cid, refs, { signal })
          }
        },
      }),
    )
    return car.root
  }

  /** Asks for `getRepo` and reads the CAR with `read`, counting bytes and blocks for progress. */
  async #fetchCar<T extends { bytes: number; blockCount: number }>(
    params: Record<string, string>,
    read: (body: AsyncIterable<Uint8Array>, options: ReadRepoCarOptions) => Promise<T>,
  ): Promise<T> {
    this.#progress('requesting')
    const res = await xrpcGet(this.#target, GET_REPO, params, 'application/vnd.ipld.car')
    // Content-Length counts encoded bytes; only meaningful for progress when not compressed.
    const length = Number(res.headers.get('content-length'))
    const totalBytes = res.headers.get('content-encoding') === null && length > 0 ? this.#bytes + length : undefined
    const base = { bytes: this.#bytes, blocks: this.#blocks }
    try {
      const car = await read(responseBody(this.#target, GET_REPO, res), {
        signal: this.#options.signal,
        onProgress: (p) => this.#progress('downloading', base.blocks + p.blocks, base.bytes + p.bytes, totalBytes),
      })
      this.#bytes += car.bytes
      this.#blocks += car.blockCount
      return car
    } catch (err) {
      // Stop the download if the CAR was rejected before its end.
      await res.body?.cancel().catch(() => undefined)
      throw err
    }
  }

  async #localBlock(cid: Cid): Promise<Uint8Array | undefined> {
    try {
      return await this.#storage.blocks.getBlock(cid.toString(), { signal: this.#options.signal })
    } catch (err) {
      if (err instanceof MissingBlockError) return undefined
      throw err
    }
  }

  /** The record index at the head, `collection/rkey` → CID. */
  async #currentIndex(): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    let after: string | undefined
    for (;;) {
      const page = await this.#storage.repos.listRecords(this.#did, { after, limit: 5000, signal: this.#options.signal })
      for (const r of page) out.set(`${r.collection}/${r.rkey}`, r.cid)
      if (page.length < 5000) return out
      const last = page.at(-1)!
      after = `${last.collection}/${last.rkey}`
    }
  }

  #progress(phase: SyncPhase, blocks = this.#blocks, bytes = this.#bytes, totalBytes?: number): void {
    const cb = this.#options.onProgress
    if (cb === undefined) return
    cb(totalBytes === undefined ? { did: this.#did, phase, blocks, bytes } : { did: this.#did, phase, blocks, bytes, totalBytes })
  }
}

// Every blob reference, typed or legacy, has a "mimeType" key: its DAG-CBOR text-string encoding.
const MIME_TYPE_KEY = Buffer.from([0x68, ...Buffer.from('mimeType', 'ascii')])

/** Rows staged or written per batch during a staged full sync. */
const STAGE_BATCH = 4096

/** Whether a block may hold a blob reference (most do not, and are not decoded). */
function mayHoldBlobs(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(MIME_TYPE_KEY) >= 0
}

/** Blob references in a record block (typed and legacy); none when it does not decode. */
export function blobRefs(bytes: Uint8Array): BlobRefInput[] {
  let value: LexValue
  try {
    value = decode(bytes)
  } catch {
    // Not for us to judge a record's content: it is stored as received, just not scanned.
    return []
  }
  const out: BlobRefInput[] = []
  for (const ref of enumBlobRefs(value, { allowLegacy: true, strict: false })) {
    out.push({ cid: getBlobCidString(ref), mimeType: getBlobMime(ref) ?? null, size: getBlobSize(ref) ?? null })
  }
  return out
}

function splitKey(key: string): { collection: string; rkey: string } {
  const slash = key.indexOf('/')
  return { collection: key.slice(0, slash), rkey: key.slice(slash + 1) }
}

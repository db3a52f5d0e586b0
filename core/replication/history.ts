/**
 * Reading the backup at its head or at any kept revision, and pruning history.
 *
 * At the head, records come from the record index; at an older revision, from the MST under that
 * commit's data root (`@atproto/repo`'s `MST` over the block store). Blocks are kept for every
 * kept commit, so a record deleted later stays readable from the revisions that had it.
 */
import { MST } from '@atproto/repo'
import { decode } from '@atproto/lex-cbor'
import { enumBlobRefs, getBlobCidString, parseCid, type LexValue } from '@atproto/lex-data'
import { lexToJson } from '@atproto/lex-json'
import { InvalidInputError, throwIfAborted, UnknownAccountError, UnknownRevError } from '../errors.js'
import type { AbortOptions, AccountState, CommitInfo, GcResult, RepoStorage } from '../storage/types.js'
import { BlockStoreReader } from './blockstore-reader.js'
import { walkRepoBlocks } from './repo-walk.js'
import type { RecordListItem, RecordPage, RecordValue } from './types.js'

/** Which records to list. */
export interface ListRecordsOptions extends AbortOptions {
  /** A kept revision. @default the head */
  rev?: string
  /** Only this collection (NSID). @default every collection */
  collection?: string
  /** `cursor` from the previous page. @default the start */
  cursor?: string
  /** Most records per page. @default 100 */
  limit?: number
}

/** Records at the head or at a kept revision, in `collection/rkey` order, one page at a time. */
export async function listRecords(storage: RepoStorage, did: string, options: ListRecordsOptions = {}): Promise<RecordPage> {
  throwIfAborted(options.signal)
  const limit = options.limit ?? 100
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`limit must be a positive integer, not ${limit}.`)
  const { account, commit } = await resolveRev(storage, did, options.rev, options.signal)
  const item = (collection: string, rkey: string, cid: string): RecordListItem => ({ uri: `at://${did}/${collection}/${rkey}`, collection, rkey, cid })

  if (commit.rev === account.head?.rev) {
    const rows = await storage.repos.listRecords(did, { collection: options.collection, after: options.cursor, limit: limit + 1, signal: options.signal })
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    return {
      records: page.map((r) => item(r.collection, r.rkey, r.cid)),
      cursor: rows.length > limit && last !== undefined ? `${last.collection}/${last.rkey}` : null,
    }
  }

  const mst = MST.load(new BlockStoreReader(storage.blocks, undefined, { signal: options.signal }), parseCid(commit.dataCid))
  const prefix = options.collection === undefined ? '' : `${options.collection}/`
  const after = options.cursor ?? ''
  const records: RecordListItem[] = []
  let cursor: string | null = null
  for await (const leaf of mst.walkLeavesFrom(after > prefix ? after : prefix)) {
    throwIfAborted(options.signal)
    if (leaf.key <= after) continue
    if (!leaf.key.startsWith(prefix)) break
    if (records.length === limit) {
      cursor = records.at(-1)!.collection + '/' + records.at(-1)!.rkey
      break
    }
    const slash = leaf.key.indexOf('/')
    records.push(item(leaf.key.slice(0, slash), leaf.key.slice(slash + 1), leaf.value.toString()))
  }
  return { records, cursor }
}

/**
 * One record at the head or at a kept revision, decoded to atproto JSON; null when that revision
 * has no such record.
 */
export async function getRecord(
  storage: RepoStorage,
  did: string,
  collection: string,
  rkey: string,
  options: AbortOptions & { rev?: string } = {},
): Promise<RecordValue | null> {
  throwIfAborted(options.signal)
  const { account, commit } = await resolveRev(storage, did, options.rev, options.signal)
  let cid: string | null
  if (commit.rev === account.head?.rev) {
    cid = await storage.repos.getRecordCid(did, collection, rkey, { signal: options.signal })
  } else {
    const mst = MST.load(new BlockStoreReader(storage.blocks, undefined, { signal: options.signal }), parseCid(commit.dataCid))
    cid = (await mst.get(`${collection}/${rkey}`))?.toString() ?? null
  }
  if (cid === null) return null
  const bytes = await storage.blocks.getBlock(cid, { signal: options.signal })
  return { uri: `at://${did}/${collection}/${rkey}`, collection, rkey, cid, rev: commit.rev, value: lexToJson(decode(bytes)) }
}

/** What {@link pruneHistory} removed. */
export interface PruneResult extends GcResult {
  commitsRemoved: number
  /** Revisions still kept, newest first. */
  keptRevs: string[]
}

/**
 * Forgets the commits older than `before` (the head is always kept) and deletes the blocks and
 * blob rows only they needed — blocks still needed by a kept commit or by another account stay.
 * Rejects with `HeadMovedError` if a sync stores a new head meanwhile (nothing is changed then).
 */
export async function pruneHistory(storage: RepoStorage, did: string, options: AbortOptions & { before: string }): Promise<PruneResult> {
  const { signal } = options
  throwIfAborted(signal)
  const account = await storage.repos.getAccount(did, { signal })
  if (account === null) throw new UnknownAccountError(did)
  const head = account.head
  if (head === null) return { commitsRemoved: 0, blocksDeleted: 0, bytesFreed: 0, keptRevs: [] }
  const commits = await allCommits(storage, did, signal)
  const kept = commits.filter((c) => c.rev >= options.before || c.rev === head.rev)
  const removed = commits.filter((c) => !kept.includes(c))

  // Mark: every block the kept commits reach, and the blobs their records reference.
  const seen = new Set<string>()
  const keepBlobs = new Set<string>()
  for (const commit of kept) {
    for await (const block of walkRepoBlocks(storage.blocks, commit.cid, { seen, signal })) {
      if (block.kind !== 'record') continue
      let value: LexValue
      try {
        value = decode(block.bytes)
      } catch {
        continue
      }
      for (const ref of enumBlobRefs(value, { allowLegacy: true, strict: false })) keepBlobs.add(getBlobCidString(ref))
    }
  }
  // Sweep, in one transaction that refuses if the head moved meanwhile.
  const result = await storage.repos.retainHistory(
    did,
    { expectedHead: head.cid, removeRevs: removed.map((c) => c.rev), keepRefs: seen, keepBlobs },
    { signal },
  )
  return { ...result, keptRevs: kept.map((c) => c.rev) }
}

/** Every kept commit of the account, newest first. */
export async function allCommits(storage: RepoStorage, did: string, signal?: AbortSignal): Promise<CommitInfo[]> {
  const out: CommitInfo[] = []
  let before: string | undefined
  for (;;) {
    const page = await storage.repos.listCommits(did, { before, limit: 1000, signal })
    out.push(...page)
    if (page.length < 1000) return out
    before = page.at(-1)!.rev
  }
}

/** The account and the commit at `rev` (the head when absent). */
export async function resolveRev(
  storage: RepoStorage,
  did: string,
  rev: string | undefined,
  signal?: AbortSignal,
): Promise<{ account: AccountState; commit: CommitInfo }> {
  const account = await storage.repos.getAccount(did, { signal })
  if (account === null) throw new UnknownAccountError(did)
  const wanted = rev ?? account.head?.rev
  if (wanted === undefined) throw new UnknownRevError(did, '(none: the account has not been synced yet)')
  const commit = await storage.repos.getCommit(did, wanted, { signal })
  if (commit === null) throw new UnknownRevError(did, wanted)
  return { account, commit }
}

/**
 * CAR export of a backed-up repository at its head or at any kept revision: root = that commit,
 * followed by every MST node and record of the repository at that commit — what
 * `com.atproto.repo.importRepo` accepts. The CAR is produced as the consumer reads it, so a large
 * repository is never built whole in memory.
 */
import { decode } from '@atproto/lex-cbor'
import { isCid } from '@atproto/lex-data'
import { HeadMovedError, MissingBlockError, throwIfAborted } from '../errors.js'
import type { AbortOptions, Block, RepoStorage } from '../storage/types.js'
import { writeCar } from './car.js'
import { resolveRev } from './history.js'
import { walkMstNodes, walkRepoBlocks } from './repo-walk.js'

/** What to export. */
export interface ExportCarOptions extends AbortOptions {
  /** A kept revision. @default the head */
  rev?: string
  /**
   * Order of the blocks. 'key': the commit, then each MST node followed by its records, in key
   * order (as upstream exports). 'nodes-first': the commit and the MST nodes, then the records
   * read from the head's record index a page per query — several times faster to read; used to
   * serve peers. Only the head can be read this way; a kept revision is always in key order.
   * @default 'key'
   */
  order?: 'key' | 'nodes-first'
}

/** A CAR being exported. */
export interface CarExport {
  /** The revision and commit exported. */
  rev: string
  cid: string
  /**
   * The CAR's bytes, produced as they are read. Write it with
   * `pipeline(Readable.from(car), createWriteStream(file))` or send it as a response body.
   * Iterating it rejects with `AbortError` if the signal fires, `MissingBlockError` if the local
   * store lost a block, `HeadMovedError` if a nodes-first export saw the head move meanwhile.
   */
  car: AsyncIterable<Uint8Array>
}

/** Records read per query by a nodes-first export. */
const RECORD_PAGE = 512

/**
 * Prepares the export (rejecting at once with `UnknownAccountError` or `UnknownRevError`); the
 * blocks are read while `car` is iterated.
 */
export async function exportCar(storage: RepoStorage, did: string, options: ExportCarOptions = {}): Promise<CarExport> {
  const { account, commit } = await resolveRev(storage, did, options.rev, options.signal)
  const { signal } = options
  const nodesFirst = options.order === 'nodes-first' && commit.rev === account.head?.rev
  return {
    rev: commit.rev,
    cid: commit.cid,
    car: writeCar(commit.cid, nodesFirst ? nodesThenRecords(storage, did, commit.cid, signal) : walkRepoBlocks(storage.blocks, commit.cid, { signal }), { signal }),
  }
}

/**
 * The head's commit and MST nodes (walked), then its records from the record index. Pages are
 * separate queries, so nothing holds the database between reads; the head is checked before each
 * page, so a sync storing a new head meanwhile ends the export with `HeadMovedError` rather than
 * a CAR mixing two revisions.
 */
async function* nodesThenRecords(storage: RepoStorage, did: string, head: string, signal: AbortSignal | undefined): AsyncGenerator<Block> {
  const commitBytes = await storage.blocks.getBlock(head, { signal })
  yield { cid: head, bytes: commitBytes }
  const commit = decode(commitBytes) as { data?: unknown }
  if (!isCid(commit.data)) throw new MissingBlockError(head)
  yield* walkMstNodes(storage.blocks, commit.data.toString(), { signal })
  const sent = new Set<string>()
  let after: string | undefined
  for (;;) {
    throwIfAborted(signal)
    const now = (await storage.repos.getAccount(did, { signal }))?.head?.cid ?? null
    if (now !== head) throw new HeadMovedError(did, head, now)
    const page = await storage.repos.listRecordBlocks(did, { after, limit: RECORD_PAGE, signal })
    for (const record of page) {
      // Records with the same content share a block; it is sent once.
      if (sent.has(record.cid)) continue
      sent.add(record.cid)
      yield { cid: record.cid, bytes: record.bytes }
    }
    if (page.length < RECORD_PAGE) return
    after = `${page.at(-1)!.collection}/${page.at(-1)!.rkey}`
  }
}

/**
 * The CAR of what the head adds to a kept revision `since`: the head commit, the MST nodes that are
 * not in `since`'s tree and the records they hold that `since`'s tree does not — what a PDS sends
 * for `getRepo?since=`, which `syncRepo` applies as a diff. Resolves null when `since` is not a
 * kept revision (or is the head or newer): then only the whole repository will do.
 */
export async function exportDiffCar(storage: RepoStorage, did: string, since: string, options: AbortOptions = {}): Promise<CarExport | null> {
  const { signal } = options
  const { account, commit: head } = await resolveRev(storage, did, undefined, signal)
  const base = await storage.repos.getCommit(did, since, { signal })
  if (base === null || head.rev <= since || account.head === null) return null
  return { rev: head.rev, cid: head.cid, car: writeCar(head.cid, diffBlocks(storage, head.cid, head.dataCid, base.dataCid, signal), { signal }) }
}

async function* diffBlocks(storage: RepoStorage, headCid: string, headData: string, baseData: string, signal: AbortSignal | undefined): AsyncGenerator<Block> {
  // What the base tree holds: its nodes (to skip whole unchanged subtrees) and its records.
  const oldNodes = new Set<string>()
  const oldRecords = new Set<string>()
  for await (const node of walkMstNodes(storage.blocks, baseData, { signal })) {
    oldNodes.add(node.cid)
    for (const entry of (decode(node.bytes) as { e: Array<{ v: unknown }> }).e) if (isCid(entry.v)) oldRecords.add(entry.v.toString())
  }
  yield { cid: headCid, bytes: await storage.blocks.getBlock(headCid, { signal }) }
  const sent = new Set<string>()
  const stack = oldNodes.has(headData) ? [] : [headData]
  while (stack.length > 0) {
    throwIfAborted(signal)
    const cid = stack.pop()!
    if (sent.has(cid)) continue
    sent.add(cid)
    const bytes = await storage.blocks.getBlock(cid, { signal })
    yield { cid, bytes }
    const node = decode(bytes) as { l: unknown; e: Array<{ v: unknown; t: unknown }> }
    const records: string[] = []
    const children = [node.l, ...node.e.map((e) => e.t)]
    for (const entry of node.e) {
      const record = isCid(entry.v) ? entry.v.toString() : null
      if (record !== null && !oldRecords.has(record) && !sent.has(record)) records.push(record)
    }
    for (const child of children) if (isCid(child) && !oldNodes.has(child.toString())) stack.push(child.toString())
    if (records.length > 0) {
      const found = await storage.blocks.getBlocks(records, { signal })
      if (found.missing.length > 0) throw new MissingBlockError(found.missing[0]!)
      for (const record of records) {
        sent.add(record)
        yield { cid: record, bytes: found.blocks.get(record)! }
      }
    }
  }
}

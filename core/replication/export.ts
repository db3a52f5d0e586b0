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

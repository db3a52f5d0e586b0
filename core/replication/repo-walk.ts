/**
 * Walking every block of a stored repository at one commit — commit, MST nodes, records — reading
 * from the block store as it goes (depth-first, so memory grows with the tree's depth, not its
 * size). Used by CAR export and by history pruning (to find what the kept commits still need).
 * The blocks were verified when they were synced, so nodes are decoded without re-checking them.
 */
import { decode } from '@atproto/lex-cbor'
import { isCid, type Cid } from '@atproto/lex-data'
import { MissingBlockError, throwIfAborted } from '../errors.js'
import type { AbortOptions, Block, BlockKind, BlockStore } from '../storage/types.js'

/** How {@link walkRepoBlocks} walks. */
export interface WalkRepoOptions extends AbortOptions {
  /**
   * CIDs already walked (filled in as blocks are yielded). Blocks in it are skipped, and so are
   * whole subtrees whose root is in it: pass the same set to walk several commits of one history
   * and read each shared block once. @default a new set
   */
  seen?: Set<string>
}

/** Yields the commit block, then the MST nodes and records under it, each once. */
export async function* walkRepoBlocks(
  store: BlockStore,
  commitCid: string,
  options: WalkRepoOptions = {},
): AsyncGenerator<Block & { kind: BlockKind }> {
  const seen = options.seen ?? new Set<string>()
  const { signal } = options
  throwIfAborted(signal)
  const commitBytes = await store.getBlock(commitCid, { signal })
  const commit = decode(commitBytes) as { data?: unknown }
  if (!isCid(commit.data)) throw new MissingBlockError(commitCid)
  if (!seen.has(commitCid)) {
    seen.add(commitCid)
    yield { cid: commitCid, bytes: commitBytes, kind: 'commit' }
  }

  // Depth-first over MST nodes; each node's records are read in one batch.
  const stack: string[] = [commit.data.toString()]
  while (stack.length > 0) {
    throwIfAborted(signal)
    const cid = stack.pop()!
    if (seen.has(cid)) continue
    seen.add(cid)
    const bytes = await store.getBlock(cid, { signal })
    yield { cid, bytes, kind: 'mst' }
    const node = decode(bytes) as { l: Cid | null; e: Array<{ v: Cid; t: Cid | null }> }
    const children: string[] = []
    const records: string[] = []
    if (node.l !== null) children.push(node.l.toString())
    for (const entry of node.e) {
      const record = entry.v.toString()
      if (!seen.has(record)) {
        seen.add(record)
        records.push(record)
      }
      if (entry.t !== null) children.push(entry.t.toString())
    }
    if (records.length > 0) {
      const found = await store.getBlocks(records, { signal })
      if (found.missing.length > 0) throw new MissingBlockError(found.missing[0]!)
      for (const record of records) yield { cid: record, bytes: found.blocks.get(record)!, kind: 'record' }
    }
    // Reverse, so the leftmost child is walked first (key order, as upstream exports do).
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
  }
}

/**
 * Yields the MST nodes under a commit's data root, level by level, each level read with
 * `getBlocks` (a query per batch, not one per node): the fast way to list a repository's nodes
 * when their order does not matter. Memory grows with the widest level's CIDs (not its bytes:
 * nodes are yielded batch by batch).
 */
export async function* walkMstNodes(store: BlockStore, dataCid: string, options: AbortOptions = {}): AsyncGenerator<Block & { kind: BlockKind }> {
  const seen = new Set<string>([dataCid])
  let level = [dataCid]
  while (level.length > 0) {
    const next: string[] = []
    for (let i = 0; i < level.length; i += MST_BATCH) {
      throwIfAborted(options.signal)
      const batch = level.slice(i, i + MST_BATCH)
      const found = await store.getBlocks(batch, options)
      if (found.missing.length > 0) throw new MissingBlockError(found.missing[0]!)
      for (const cid of batch) {
        const bytes = found.blocks.get(cid)!
        yield { cid, bytes, kind: 'mst' }
        const node = decode(bytes) as { l: Cid | null; e: Array<{ t: Cid | null }> }
        if (node.l !== null) push(node.l.toString())
        for (const entry of node.e) if (entry.t !== null) push(entry.t.toString())
      }
    }
    level = next
    function push(child: string) {
      if (seen.has(child)) return
      seen.add(child)
      next.push(child)
    }
  }
}

/** MST nodes read per `getBlocks` call by {@link walkMstNodes}. */
const MST_BATCH = 1000

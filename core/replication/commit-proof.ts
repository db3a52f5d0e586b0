/**
 * The inductive proof of a firehose `#commit` (atproto sync v1.1): the event carries the MST nodes
 * along the paths its operations touched in the new tree. Undoing every operation on that partial
 * tree must give the tree the previous commit pointed to (`prevData`). If it does, the new tree is
 * exactly the previous one with these operations applied, and nothing else changed: a consumer
 * that holds the previous tree can take the operations as the whole difference.
 *
 * The MST operations run over only the blocks the event carried (a block it needs but did not carry
 * means the proof is incomplete): a lean mutable MST here ({@link invertCommitOps}), checked
 * against `@atproto/repo`'s own `MST` ({@link invertCommitOpsReference}).
 */
import { createHash } from 'node:crypto'
import { BlockMap, MemoryBlockstore, MST } from '@atproto/repo'
import { decode, encode } from '@atproto/lex-cbor'
import { decodeCid, isCid, type Cid } from '@atproto/lex-data'
import { layerOfDigest } from './mst-check.js'

/** One operation of a `#commit` event (`repoOp` in `com.atproto.sync.subscribeRepos`). */
export interface CommitOp {
  action: 'create' | 'update' | 'delete'
  /** `collection/rkey`. */
  path: string
  /** The record's CID after the operation; null for a delete. */
  cid: Cid | null
  /** The record's CID before the operation (sync v1.1: set for updates and deletes). @default null */
  prev?: Cid | null
}

/** Why a proof did not hold. */
export type ProofFailure =
  /** An operation cannot be undone: the new tree does not hold what it says (or an update/delete lacks `prev`). */
  | 'op-mismatch'
  /** The event did not carry an MST node the undo needs. */
  | 'incomplete'
  /** Undoing every operation gave another root than `prevData`. */
  | 'root-mismatch'
  /** Two operations name the same path. */
  | 'duplicate-path'

/** What {@link invertCommitOps} found. */
export type ProofResult = { ok: true; root: Cid } | { ok: false; failure: ProofFailure; detail: string }

/**
 * Undoes `ops` on the MST rooted at `newRoot` (built from `blocks` only) and says whether the result
 * is `prevData`. Never throws for bad input: a failure is a result. Runs on {@link LeanTree}, a
 * mutable MST over the carried nodes that follows `@atproto/repo`'s algorithms step for step
 * (same nodes read, same tree built), without its per-node schema checks and copies; its results
 * are checked against {@link invertCommitOpsReference}.
 *
 * @param blocks - the event's blocks (CID-checked by whoever read the CAR)
 */
export async function invertCommitOps(newRoot: Cid, blocks: BlockMap, ops: readonly CommitOp[], prevData: Cid): Promise<ProofResult> {
  const duplicate = duplicatePath(ops)
  if (duplicate !== null) return duplicate
  let tree: LeanTree
  try {
    tree = new LeanTree(blocks, newRoot)
    for (const op of ops) {
      const current = tree.get(op.path)
      const prev = op.prev ?? null
      switch (op.action) {
        case 'create':
          if (op.cid === null || current === null || !current.equals(op.cid)) return mismatch(op, 'the new tree does not hold the created record')
          tree.delete(op.path)
          break
        case 'update':
          if (op.cid === null || current === null || !current.equals(op.cid)) return mismatch(op, 'the new tree does not hold the updated record')
          if (prev === null) return mismatch(op, 'the update does not say what it replaced (no prev)')
          tree.update(op.path, prev)
          break
        case 'delete':
          if (current !== null) return mismatch(op, 'the new tree still holds the deleted record')
          if (prev === null) return mismatch(op, 'the delete does not say what it removed (no prev)')
          tree.add(op.path, prev)
          break
        default:
          return mismatch(op, `unknown action ${JSON.stringify((op as { action: unknown }).action)}`)
      }
    }
    const root = tree.rootCid()
    if (!root.equals(prevData)) {
      return { ok: false, failure: 'root-mismatch', detail: `undoing the operations gives ${root.toString()}, not prevData ${prevData.toString()}` }
    }
    return { ok: true, root }
  } catch (err) {
    if (err instanceof MissingNodeError) return { ok: false, failure: 'incomplete', detail: `the event lacks an MST node the proof needs (${err.message})` }
    return { ok: false, failure: 'incomplete', detail: `the MST in the event cannot be read (${(err as Error).message})` }
  }
}

function duplicatePath(ops: readonly CommitOp[]): ProofResult | null {
  const seen = new Set<string>()
  for (const op of ops) {
    if (seen.has(op.path)) return { ok: false, failure: 'duplicate-path', detail: `the path ${op.path} appears twice` }
    seen.add(op.path)
  }
  return null
}

/**
 * {@link invertCommitOps} done with `@atproto/repo`'s own `MST`: the reference the lean inversion
 * is tested against (commit-proof.test.ts: interop vectors and generated commits). About three
 * times slower (schema checks, immutable copies and async steps per node).
 */
export async function invertCommitOpsReference(newRoot: Cid, blocks: BlockMap, ops: readonly CommitOp[], prevData: Cid): Promise<ProofResult> {
  const duplicate = duplicatePath(ops)
  if (duplicate !== null) return duplicate
  const storage = new MemoryBlockstore(blocks)
  try {
    let mst = MST.load(storage, newRoot)
    for (const op of ops) {
      const current = await mst.get(op.path)
      const prev = op.prev ?? null
      switch (op.action) {
        case 'create':
          if (op.cid === null || current === null || !current.equals(op.cid)) return mismatch(op, 'the new tree does not hold the created record')
          mst = await mst.delete(op.path)
          break
        case 'update':
          if (op.cid === null || current === null || !current.equals(op.cid)) return mismatch(op, 'the new tree does not hold the updated record')
          if (prev === null) return mismatch(op, 'the update does not say what it replaced (no prev)')
          mst = await mst.update(op.path, prev)
          break
        case 'delete':
          if (current !== null) return mismatch(op, 'the new tree still holds the deleted record')
          if (prev === null) return mismatch(op, 'the delete does not say what it removed (no prev)')
          mst = await mst.add(op.path, prev)
          break
        default:
          return mismatch(op, `unknown action ${JSON.stringify((op as { action: unknown }).action)}`)
      }
    }
    const root = await mst.getPointer()
    if (!root.equals(prevData)) {
      return { ok: false, failure: 'root-mismatch', detail: `undoing the operations gives ${root.toString()}, not prevData ${prevData.toString()}` }
    }
    return { ok: true, root }
  } catch (err) {
    // @atproto/repo's MissingBlockError / MissingBlocksError: a node the undo needs was not carried.
    if (err instanceof Error && /^Missing/.test(err.constructor.name)) {
      return { ok: false, failure: 'incomplete', detail: `the event lacks an MST node the proof needs (${err.message})` }
    }
    return { ok: false, failure: 'incomplete', detail: `the MST in the event cannot be read (${(err as Error).message})` }
  }
}

function mismatch(op: CommitOp, why: string): ProofResult {
  return { ok: false, failure: 'op-mismatch', detail: `${op.action} ${op.path}: ${why}` }
}

/** The new tree's nodes a commit carried, and the subtrees it points to but did not carry. */
export interface CarriedNodes {
  /** Nodes reachable from the root through carried nodes, root first. */
  nodes: Array<{ cid: Cid; bytes: Uint8Array }>
  /** Subtree pointers of carried nodes that were not carried: the account must already hold them. */
  external: Cid[]
}

/**
 * The MST nodes of the tree rooted at `root` that `blocks` holds and that are reachable from it
 * through held nodes (the new nodes a commit brings, plus unchanged ones carried for the proof),
 * and the subtrees those point to that `blocks` lacks. Rejects when a carried node is not an MST
 * node (`{l, e: [{p, k, v, t}]}`, as `@atproto/repo` reads it). Nodes are decoded once, without
 * building `@atproto/repo`'s `MST` (whose schema checks and copies cost more than the walk).
 */
export async function carriedMstNodes(root: Cid, blocks: BlockMap): Promise<CarriedNodes> {
  const nodes: CarriedNodes['nodes'] = []
  const external: Cid[] = []
  const stack: Cid[] = [root]
  const seen = new Set<string>()
  while (stack.length > 0) {
    const cid = stack.pop()!
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    const bytes = blocks.get(cid)
    if (bytes === undefined) {
      external.push(cid)
      continue
    }
    nodes.push({ cid, bytes })
    for (const sub of subtreePointers(bytes)) stack.push(sub)
  }
  return { nodes, external }
}

/** The subtree pointers of an MST node (`l` and each entry's `t`). Throws when it is not an MST node. */
function subtreePointers(bytes: Uint8Array): Cid[] {
  const node = decode(bytes) as unknown
  const bad = (why: string) => new Error(`not an MST node: ${why}`)
  if (typeof node !== 'object' || node === null || Array.isArray(node) || isCid(node)) throw bad('not a map')
  const { l, e } = node as { l?: unknown; e?: unknown }
  const out: Cid[] = []
  if (l !== null && l !== undefined) {
    if (!isCid(l)) throw bad('"l" is not a CID')
    out.push(l)
  }
  if (!Array.isArray(e)) throw bad('"e" is not a list')
  for (const entry of e as unknown[]) {
    if (typeof entry !== 'object' || entry === null) throw bad('an entry is not a map')
    const { p, k, v, t } = entry as { p?: unknown; k?: unknown; v?: unknown; t?: unknown }
    if (typeof p !== 'number' || !(k instanceof Uint8Array) || !isCid(v)) throw bad('an entry lacks p, k or v')
    if (t !== null && t !== undefined) {
      if (!isCid(t)) throw bad('an entry\'s "t" is not a CID')
      out.push(t)
    }
  }
  return out
}

/** A CAR (v1) that does not read, or a block whose bytes do not hash to its CID. */
export class CarFormatError extends Error {
  override name = 'CarFormatError'
}

const HASHES: Record<number, string> = { 0x12: 'sha256', 0x13: 'sha512' }

/**
 * Reads a commit's CAR slice (CAR v1 with one root) and checks every block against its CID,
 * hashing natively: what `@atproto/repo`'s `readCarWithRoot` does, without its per-block async
 * generator and JavaScript SHA-256 (the firehose reads one per commit of a held account).
 * Throws {@link CarFormatError}.
 */
export function readCommitCar(bytes: Uint8Array): { root: Cid; blocks: BlockMap } {
  let pos = 0
  const varint = (): number => {
    let n = 0
    for (let shift = 0; ; shift += 7) {
      if (pos >= bytes.length || shift > 49) throw new CarFormatError('a length runs past the end')
      const b = bytes[pos++]!
      n += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return n
    }
  }
  const headerLength = varint()
  if (pos + headerLength > bytes.length) throw new CarFormatError('the header runs past the end')
  let header: unknown
  try {
    header = decode(bytes.subarray(pos, pos + headerLength))
  } catch (err) {
    throw new CarFormatError(`the header is not DAG-CBOR (${(err as Error).message})`)
  }
  pos += headerLength
  const { version, roots } = (header ?? {}) as { version?: unknown; roots?: unknown }
  if (version !== 1 || !Array.isArray(roots)) throw new CarFormatError('the header is not {version: 1, roots}')
  if (roots.length !== 1 || !isCid(roots[0])) throw new CarFormatError(`expected one root, got ${roots.length}`)
  const blocks = new BlockMap()
  while (pos < bytes.length) {
    const length = varint()
    const end = pos + length
    if (end > bytes.length) throw new CarFormatError('a block runs past the end')
    const start = pos
    // CIDv1: version, codec, then the multihash (code, digest length, digest).
    if (varint() !== 1) throw new CarFormatError('a block has no CIDv1')
    varint()
    const hashCode = varint()
    const digestLength = varint()
    const cidEnd = pos + digestLength
    if (cidEnd > end) throw new CarFormatError('a block\'s CID runs past it')
    const algorithm = HASHES[hashCode]
    if (algorithm === undefined) throw new CarFormatError(`a block is hashed with an unsupported function (0x${hashCode.toString(16)})`)
    const data = bytes.subarray(cidEnd, end)
    const digest = createHash(algorithm).update(data).digest()
    if (digest.length !== digestLength || !digest.equals(bytes.subarray(pos, cidEnd))) throw new CarFormatError('a block\'s bytes do not match its CID')
    blocks.set(decodeCid(bytes.subarray(start, cidEnd)), data)
    pos = end
  }
  return { root: roots[0] as Cid, blocks }
}

// --- The lean MST ------------------------------------------------------------------------------
//
// Mirrors @atproto/repo's `MST` (packages/repo/src/mst/mst.ts: add, delete, update, splitAround,
// appendMerge, trimTop, layers from the first leaf) on mutable nodes: a node changed by an
// operation loses its CID (`cid = null`), and only those are serialized again at the end.

/** A node the proof needs that the event did not carry. */
class MissingNodeError extends Error {}

/** The CIDv1 (DAG-CBOR, SHA-256) of `value`, as `cidForLex` computes it, synchronously. */
function cidSync(value: unknown): Cid {
  const digest = createHash('sha256').update(encode(value as never)).digest()
  const bytes = new Uint8Array(36)
  bytes.set([0x01, 0x71, 0x12, 0x20])
  bytes.set(digest, 4)
  return decodeCid(bytes)
}

type LeanEntry = { leaf: true; key: string; value: Cid } | { leaf: false; ptr: Cid | null; node: LeanNode | null }

interface LeanNode {
  entries: LeanEntry[]
  /** null until known (from the first leaf, or a child's layer). */
  layer: number | null
  /** The node's CID while unchanged; null once changed. */
  cid: Cid | null
}

const MST_KEY = /^[a-zA-Z0-9_~\-:.]+\/[a-zA-Z0-9_~\-:.]+$/

function keyLayer(key: string): number {
  return layerOfDigest(createHash('sha256').update(key).digest())
}

class LeanTree {
  readonly #blocks: BlockMap
  #root: LeanNode

  constructor(blocks: BlockMap, root: Cid) {
    this.#blocks = blocks
    this.#root = this.#load(root, null)
  }

  #load(cid: Cid, layer: number | null): LeanNode {
    const bytes = this.#blocks.get(cid)
    if (bytes === undefined) throw new MissingNodeError(`missing MST node ${cid.toString()}`)
    const data = decode(bytes) as { l?: unknown; e?: unknown }
    if (typeof data !== 'object' || data === null || !Array.isArray(data.e)) throw new Error(`${cid.toString()} is not an MST node`)
    const entries: LeanEntry[] = []
    if (data.l !== null && data.l !== undefined) {
      if (!isCid(data.l)) throw new Error(`${cid.toString()} has a bad "l"`)
      entries.push({ leaf: false, ptr: data.l, node: null })
    }
    let last = ''
    for (const e of data.e as Array<{ p?: unknown; k?: unknown; v?: unknown; t?: unknown }>) {
      if (typeof e !== 'object' || e === null || typeof e.p !== 'number' || !(e.k instanceof Uint8Array) || !isCid(e.v)) throw new Error(`${cid.toString()} has a bad entry`)
      const key = last.slice(0, e.p) + String.fromCharCode(...e.k)
      if (key.length > 1024 || !MST_KEY.test(key)) throw new Error(`not a valid MST key: ${key}`)
      entries.push({ leaf: true, key, value: e.v })
      last = key
      if (e.t !== null && e.t !== undefined) {
        if (!isCid(e.t)) throw new Error(`${cid.toString()} has a bad "t"`)
        entries.push({ leaf: false, ptr: e.t, node: null })
      }
    }
    const first = entries.find((x) => x.leaf) as { key: string } | undefined
    return { entries, layer: first !== undefined ? keyLayer(first.key) : layer, cid }
  }

  #child(parent: LeanNode, entry: Extract<LeanEntry, { leaf: false }>): LeanNode {
    // As MST.load with `layer - 1` from a parent whose layer is known (and not 0).
    entry.node ??= this.#load(entry.ptr!, parent.layer ? parent.layer - 1 : null)
    return entry.node
  }

  #layer(node: LeanNode): number {
    return this.#attemptLayer(node) ?? 0
  }

  #attemptLayer(node: LeanNode): number | null {
    if (node.layer !== null) return node.layer
    for (const e of node.entries) {
      if (!e.leaf) {
        const child = this.#attemptLayer(this.#child(node, e))
        if (child !== null) return (node.layer = child + 1)
      }
    }
    return null
  }

  /** Index of the first leaf whose key is >= `key` (entries.length when none). */
  #gteIndex(node: LeanNode, key: string): number {
    const i = node.entries.findIndex((e) => e.leaf && e.key >= key)
    return i < 0 ? node.entries.length : i
  }

  #tree(node: LeanNode): LeanEntry {
    return { leaf: false, ptr: null, node }
  }

  get(key: string): Cid | null {
    let node = this.#root
    for (;;) {
      const i = this.#gteIndex(node, key)
      const found = node.entries[i]
      if (found?.leaf && found.key === key) return found.value
      const prev = node.entries[i - 1]
      if (prev === undefined || prev.leaf) return null
      node = this.#child(node, prev)
    }
  }

  update(key: string, value: Cid): void {
    this.#update(this.#root, key, value)
  }

  #update(node: LeanNode, key: string, value: Cid): void {
    const i = this.#gteIndex(node, key)
    const found = node.entries[i]
    node.cid = null
    if (found?.leaf && found.key === key) {
      node.entries[i] = { leaf: true, key, value }
      return
    }
    const prev = node.entries[i - 1]
    if (prev === undefined || prev.leaf) throw new Error(`could not find a record with key: ${key}`)
    this.#update(this.#child(node, prev), key, value)
    node.entries[i - 1] = this.#tree(prev.node!)
  }

  add(key: string, value: Cid): void {
    this.#root = this.#add(this.#root, key, value, keyLayer(key))
  }

  #add(node: LeanNode, key: string, value: Cid, keyZeros: number): LeanNode {
    const layer = this.#layer(node)
    const leaf: LeanEntry = { leaf: true, key, value }
    if (keyZeros === layer) {
      const i = this.#gteIndex(node, key)
      const found = node.entries[i]
      if (found?.leaf && found.key === key) throw new Error(`there is already a value at key: ${key}`)
      const prev = node.entries[i - 1]
      node.cid = null
      if (prev === undefined || prev.leaf) {
        node.entries.splice(i, 0, leaf)
      } else {
        const [left, right] = this.#splitAround(this.#child(node, prev), key)
        node.entries.splice(i - 1, 1, ...(left ? [this.#tree(left)] : []), leaf, ...(right ? [this.#tree(right)] : []))
      }
      return node
    }
    if (keyZeros < layer) {
      const i = this.#gteIndex(node, key)
      const prev = node.entries[i - 1]
      node.cid = null
      if (prev !== undefined && !prev.leaf) {
        node.entries[i - 1] = this.#tree(this.#add(this.#child(node, prev), key, value, keyZeros))
      } else {
        const child: LeanNode = { entries: [], layer: layer - 1, cid: null }
        node.entries.splice(i, 0, this.#tree(this.#add(child, key, value, keyZeros)))
      }
      return node
    }
    let [left, right] = this.#splitAround(node, key)
    for (let i = 1; i < keyZeros - layer; i++) {
      if (left !== null) left = { entries: [this.#tree(left)], layer: this.#layer(left) + 1, cid: null }
      if (right !== null) right = { entries: [this.#tree(right)], layer: this.#layer(right) + 1, cid: null }
    }
    return { entries: [...(left ? [this.#tree(left)] : []), leaf, ...(right ? [this.#tree(right)] : [])], layer: keyZeros, cid: null }
  }

  /** Splits `node` into the parts before and after `key` (either null when empty). `node` is used up. */
  #splitAround(node: LeanNode, key: string): [LeanNode | null, LeanNode | null] {
    const i = this.#gteIndex(node, key)
    const left: LeanNode = { entries: node.entries.slice(0, i), layer: node.layer, cid: null }
    const right: LeanNode = { entries: node.entries.slice(i), layer: node.layer, cid: null }
    const last = left.entries.at(-1)
    if (last !== undefined && !last.leaf) {
      const child = this.#child(node, last)
      left.entries.pop()
      const [l, r] = this.#splitAround(child, key)
      if (l) left.entries.push(this.#tree(l))
      if (r) right.entries.unshift(this.#tree(r))
    }
    return [left.entries.length > 0 ? left : null, right.entries.length > 0 ? right : null]
  }

  delete(key: string): void {
    let root = this.#deleteRecurse(this.#root, key)
    // trimTop: a root holding a lone subtree gives way to it.
    while (root.entries.length === 1 && !root.entries[0]!.leaf) root = this.#child(root, root.entries[0] as Extract<LeanEntry, { leaf: false }>)
    this.#root = root
  }

  #deleteRecurse(node: LeanNode, key: string): LeanNode {
    const i = this.#gteIndex(node, key)
    const found = node.entries[i]
    node.cid = null
    if (found?.leaf && found.key === key) {
      const prev = node.entries[i - 1]
      const next = node.entries[i + 1]
      if (prev !== undefined && !prev.leaf && next !== undefined && !next.leaf) {
        const merged = this.#appendMerge(this.#child(node, prev), this.#child(node, next))
        node.entries.splice(i - 1, 3, this.#tree(merged))
      } else {
        node.entries.splice(i, 1)
      }
      return node
    }
    const prev = node.entries[i - 1]
    if (prev === undefined || prev.leaf) throw new Error(`could not find a record with key: ${key}`)
    const sub = this.#deleteRecurse(this.#child(node, prev), key)
    if (sub.entries.length === 0) node.entries.splice(i - 1, 1)
    else node.entries[i - 1] = this.#tree(sub)
    return node
  }

  #appendMerge(left: LeanNode, right: LeanNode): LeanNode {
    if (this.#layer(left) !== this.#layer(right)) throw new Error('cannot merge MST nodes of different layers')
    const last = left.entries.at(-1)
    const first = right.entries[0]
    const out: LeanNode = { entries: [], layer: left.layer, cid: null }
    if (last !== undefined && !last.leaf && first !== undefined && !first.leaf) {
      const merged = this.#appendMerge(this.#child(left, last), this.#child(right, first))
      out.entries = [...left.entries.slice(0, -1), this.#tree(merged), ...right.entries.slice(1)]
    } else {
      out.entries = [...left.entries, ...right.entries]
    }
    return out
  }

  rootCid(): Cid {
    return this.#cidOf(this.#root)
  }

  /** The node's CID: kept while unchanged, else its serialization's (`serializeNodeData` + `cidForLex`). */
  #cidOf(node: LeanNode): Cid {
    if (node.cid !== null) return node.cid
    const pointer = (e: LeanEntry): Cid => (e.leaf ? e.value : e.node !== null ? this.#cidOf(e.node) : e.ptr!)
    const data: { l: Cid | null; e: Array<{ p: number; k: Uint8Array; v: Cid; t: Cid | null }> } = { l: null, e: [] }
    let i = 0
    if (node.entries[0] !== undefined && !node.entries[0].leaf) data.l = pointer(node.entries[i++]!)
    let last = ''
    while (i < node.entries.length) {
      const leaf = node.entries[i++]!
      if (!leaf.leaf) throw new Error('not a valid node: two subtrees next to each other')
      const next = node.entries[i]
      let t: Cid | null = null
      if (next !== undefined && !next.leaf) {
        t = pointer(next)
        i++
      }
      let p = 0
      while (p < last.length && last[p] === leaf.key[p]) p++
      const rest = leaf.key.slice(p)
      const k = new Uint8Array(rest.length)
      for (let j = 0; j < rest.length; j++) k[j] = rest.charCodeAt(j)
      data.e.push({ p, k, v: leaf.value, t })
      last = leaf.key
    }
    node.cid = cidSync(data)
    return node.cid
  }
}

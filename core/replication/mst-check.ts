/**
 * Structural verification of a Merkle Search Tree (atproto repository spec, "Repository Data
 * Structure"): every node decodes to `{l, e: [{p, k, v, t}]}`; keys are valid record paths,
 * prefix-compressed canonically, strictly increasing across the whole tree; every key's layer
 * (leading zero bits of SHA-256(key), counted in pairs) equals the layer of the node holding it;
 * subtrees sit exactly one layer below; no node is empty except the root of an empty tree, and
 * the root is not a bare pointer to a lower node. Optionally every record block is present.
 *
 * `@atproto/repo` loads trees without these checks (it trusts keys' order and layers), so a
 * malformed tree from a PDS would be stored and later confuse diffs and exports; this walk runs
 * before anything is stored.
 *
 * Subtrees already verified (MST nodes this account already holds, in an incremental sync) are
 * not walked again: only their layer and their first and last keys are checked where they sit,
 * which reads O(depth) nodes.
 */
import { hash } from 'node:crypto'
import { decode } from '@atproto/lex-cbor'
import { CBOR_DATA_CODEC, isCid, type Cid } from '@atproto/lex-data'
import { IncompleteRepoError, MalformedRepoError, throwIfAborted } from '../errors.js'
import type { AbortOptions } from '../storage/types.js'

/** Where {@link checkMst} reads blocks from and what it may skip. */
export interface MstCheckInit extends AbortOptions {
  /** The account, named in errors. */
  did: string
  /** A block's bytes (received or stored), or undefined when neither has it. */
  getBlock(cid: Cid): Promise<Uint8Array | undefined> | Uint8Array | undefined
  /**
   * Whether a record block is available. When absent, records are not checked (the MST test
   * suite's trees have no record blocks). @default records not checked
   */
  hasRecord?(cid: Cid): Promise<boolean> | boolean
  /** Whether a subtree was verified before and need not be walked again. @default nothing is */
  isVerified?(cid: Cid): Promise<boolean> | boolean
}

/** Where {@link walkMst} hands on what it walked, instead of collecting it. */
export interface MstWalkInit extends MstCheckInit {
  /** Called for every node walked (not the skipped, already-verified ones), root first. */
  onNode(cid: Cid, bytes: Uint8Array): Promise<void> | void
  /** Called for every record in walked nodes, in key order. */
  onLeaf(key: string, cid: Cid): Promise<void> | void
}

/** What {@link checkMst} walked. */
export interface MstCheckResult {
  /** Nodes walked (not the skipped, already-verified ones), with their bytes, root first. */
  nodes: Array<{ cid: Cid; bytes: Uint8Array }>
  /** Records in walked nodes, in key order. */
  leaves: Array<{ key: string; cid: Cid }>
}

/** A decoded MST node with its keys expanded. */
interface MstNode {
  left: Cid | null
  entries: Array<{ key: string; value: Cid; right: Cid | null }>
}

const MAX_KEY_LENGTH = 1024
// `collection/rkey`: exactly one slash, both parts non-empty, allowed characters only.
const KEY = /^[a-zA-Z0-9_~\-:.]+\/[a-zA-Z0-9_~\-:.]+$/
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/

/** The layer a key belongs on: leading zero bits of SHA-256(key), counted two at a time. */
export function keyLayer(key: string): number {
  // One-shot hashing; a string is hashed as UTF-8, which equals latin1 for the ASCII of valid keys.
  return layerOfDigest(hash('sha256', ASCII.test(key) ? key : Buffer.from(key, 'latin1'), 'buffer'))
}

/** Leading zero bits of a key's SHA-256 digest, counted two at a time: its MST layer. */
export function layerOfDigest(digest: Uint8Array): number {
  let zeros = 0
  for (const byte of digest) {
    if (byte < 64) zeros++
    if (byte < 16) zeros++
    if (byte < 4) zeros++
    if (byte === 0) zeros++
    else break
  }
  return zeros
}

/** Whether `key` is a valid MST key: `collection/rkey`, both non-empty, allowed characters only. */
export function isValidMstKey(key: string): boolean {
  return key.length <= MAX_KEY_LENGTH && KEY.test(key)
}

/** Verifies the tree under `root`; rejects with `MalformedRepoError` or `IncompleteRepoError`. */
export async function checkMst(root: Cid, init: MstCheckInit): Promise<MstCheckResult> {
  const nodes: MstCheckResult['nodes'] = []
  const leaves: MstCheckResult['leaves'] = []
  const walker = new Walker({
    ...init,
    onNode: (cid, bytes) => void nodes.push({ cid, bytes }),
    onLeaf: (key, cid) => void leaves.push({ key, cid }),
  })
  await walker.walk(root, null)
  return { nodes, leaves }
}

/**
 * Verifies the tree under `root` like {@link checkMst}, handing nodes and records to `onNode` /
 * `onLeaf` as it goes instead of collecting them (memory grows with the tree's depth, not its
 * size). Resolves with how many of each it walked.
 */
export async function walkMst(root: Cid, init: MstWalkInit): Promise<{ nodes: number; leaves: number }> {
  const walker = new Walker(init)
  await walker.walk(root, null)
  return { nodes: walker.nodeCount, leaves: walker.leafCount }
}

class Walker {
  nodeCount = 0
  leafCount = 0
  readonly #init: MstWalkInit
  /** The last key seen in key order, so order is checked across node boundaries. */
  #lastKey = ''

  constructor(init: MstWalkInit) {
    this.#init = init
  }

  /** Walks the subtree at `cid`, which must sit on `layer` (null: the root, layer from its keys). */
  async walk(cid: Cid, layer: number | null): Promise<void> {
    throwIfAborted(this.#init.signal)
    const isRoot = layer === null
    if (this.#init.isVerified !== undefined && (await this.#init.isVerified(cid))) {
      if (!isRoot) return this.#checkVerifiedSubtree(cid, layer)
      // A verified node is well-formed inside; as a root it must also not be a bare pointer.
      const node = this.#decode(cid, await this.#read(cid))
      if (node.entries.length === 0 && node.left !== null) this.#malformed(cid, 'the root holds no keys, only a pointer to a lower layer')
      return
    }
    const bytes = await this.#read(cid)
    const node = this.#decode(cid, bytes)
    this.nodeCount++
    const sunk = this.#init.onNode(cid, bytes)
    if (sunk !== undefined) await sunk
    const first = node.entries[0]
    if (first === undefined) {
      if (node.left === null) {
        if (isRoot) return // the empty tree
        this.#malformed(cid, 'an empty node inside the tree')
      }
      if (isRoot) this.#malformed(cid, 'the root holds no keys, only a pointer to a lower layer')
    }
    const nodeLayer = layer ?? keyLayer(first!.key)
    if (node.left !== null) await this.#walkChild(cid, node.left, nodeLayer)
    for (const entry of node.entries) {
      if (keyLayer(entry.key) !== nodeLayer) this.#malformed(cid, `key ${entry.key} belongs on layer ${keyLayer(entry.key)}, not ${nodeLayer}`)
      if (entry.key <= this.#lastKey) this.#malformed(cid, `key ${entry.key} is out of order`)
      this.#lastKey = entry.key
      if (this.#init.hasRecord !== undefined && !(await this.#init.hasRecord(entry.value))) {
        throw new IncompleteRepoError(this.#init.did, entry.value.toString(), `record ${entry.key}`)
      }
      this.leafCount++
      const leaf = this.#init.onLeaf(entry.key, entry.value)
      if (leaf !== undefined) await leaf
      if (entry.right !== null) await this.#walkChild(cid, entry.right, nodeLayer)
    }
  }

  async #walkChild(parent: Cid, child: Cid, parentLayer: number): Promise<void> {
    if (parentLayer === 0) this.#malformed(parent, 'a node on layer 0 points to a subtree')
    await this.walk(child, parentLayer - 1)
  }

  /** A subtree verified before: check it sits on `layer` and its keys fit between its neighbours. */
  async #checkVerifiedSubtree(cid: Cid, layer: number): Promise<void> {
    const min = await this.#edgeKey(cid, layer, 'first')
    const max = await this.#edgeKey(cid, layer, 'last')
    if (min <= this.#lastKey) this.#malformed(cid, `key ${min} is out of order`)
    this.#lastKey = max
  }

  /** The first or last key under `cid`, checking the layer of every node on the way down. */
  async #edgeKey(cid: Cid, layer: number, edge: 'first' | 'last'): Promise<string> {
    for (;;) {
      throwIfAborted(this.#init.signal)
      const node = this.#decode(cid, await this.#read(cid))
      const entry = edge === 'first' ? node.entries[0] : node.entries.at(-1)
      if (entry !== undefined && keyLayer(entry.key) !== layer) {
        this.#malformed(cid, `key ${entry.key} belongs on layer ${keyLayer(entry.key)}, not ${layer}`)
      }
      const down = edge === 'first' ? node.left : (entry?.right ?? (entry === undefined ? node.left : null))
      if (down === null) {
        if (entry === undefined) this.#malformed(cid, 'an empty node inside the tree')
        return entry!.key
      }
      if (layer === 0) this.#malformed(cid, 'a node on layer 0 points to a subtree')
      cid = down
      layer--
    }
  }

  async #read(cid: Cid): Promise<Uint8Array> {
    if (cid.code !== CBOR_DATA_CODEC) this.#malformed(cid, 'an MST pointer to a block that is not dag-cbor')
    const bytes = await this.#init.getBlock(cid)
    if (bytes === undefined) throw new IncompleteRepoError(this.#init.did, cid.toString(), 'MST node')
    return bytes
  }

  #decode(cid: Cid, bytes: Uint8Array): MstNode {
    let data: unknown
    try {
      data = decode(bytes)
    } catch (err) {
      this.#malformed(cid, 'not valid DAG-CBOR', err)
    }
    if (typeof data !== 'object' || data === null || !('e' in data) || !Array.isArray(data.e)) this.#malformed(cid, 'not an MST node')
    const raw = data as { l?: unknown; e: unknown[] }
    if (raw.l !== null && !isCid(raw.l)) this.#malformed(cid, 'its left pointer "l" is not a CID or null')
    const entries: MstNode['entries'] = []
    let previous = ''
    for (const [i, e] of raw.e.entries()) {
      if (typeof e !== 'object' || e === null) this.#malformed(cid, `entry ${i} is not a map`)
      const { p, k, v, t } = e as { p?: unknown; k?: unknown; v?: unknown; t?: unknown }
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) this.#malformed(cid, `entry ${i} has no valid prefix length "p"`)
      if (!(k instanceof Uint8Array)) this.#malformed(cid, `entry ${i} has no key bytes "k"`)
      if (!isCid(v)) this.#malformed(cid, `entry ${i} has no record CID "v"`)
      if (t !== null && !isCid(t)) this.#malformed(cid, `entry ${i} has a subtree pointer "t" that is not a CID or null`)
      if (p > previous.length) this.#malformed(cid, `entry ${i} reuses ${p} characters of a ${previous.length}-character key`)
      const key = previous.slice(0, p) + latin1(k)
      if (!isValidMstKey(key)) this.#malformed(cid, `${JSON.stringify(key.slice(0, 100))} is not a valid record path`)
      if (p !== commonPrefix(previous, key)) this.#malformed(cid, `key ${key} is not prefix-compressed as the spec requires`)
      entries.push({ key, value: v, right: t })
      previous = key
    }
    return { left: raw.l, entries }
  }

  #malformed(cid: Cid, detail: string, cause?: unknown): never {
    throw new MalformedRepoError(this.#init.did, cid.toString(), detail, cause === undefined ? undefined : { cause })
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

function commonPrefix(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

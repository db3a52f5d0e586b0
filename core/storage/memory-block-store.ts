/**
 * `MemoryBlockStore`: the reference {@link BlockStore}, a Map in memory. It exists to prove the
 * conformance suite is implementation-agnostic, and for tests and tools that need a scratch store.
 */
import { InvalidBlockError, MissingBlockError, throwIfAborted } from '../errors.js'
import { checkBlock } from './cid.js'
import type { AbortOptions, Block, BlockStore, GetBlocksResult } from './types.js'

export class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<string, Uint8Array>()

  /** Number of blocks held. */
  get size(): number {
    return this.#blocks.size
  }

  async putBlock(cid: string, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    await this.putBlocks([{ cid, bytes }], options)
  }

  async getBlock(cid: string, options: AbortOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal)
    const bytes = this.#blocks.get(cid)
    if (bytes === undefined) throw new MissingBlockError(cid)
    return bytes.slice()
  }

  async hasBlock(cid: string, options: AbortOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal)
    return this.#blocks.has(cid)
  }

  async deleteBlock(cid: string, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    this.#blocks.delete(cid)
  }

  async putBlocks(blocks: Iterable<Block>, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    const checked: Block[] = []
    for (const { cid, bytes } of blocks) {
      const problem = checkBlock(cid, bytes)
      if (problem !== null) throw new InvalidBlockError(cid, problem)
      checked.push({ cid, bytes })
    }
    for (const { cid, bytes } of checked) if (!this.#blocks.has(cid)) this.#blocks.set(cid, bytes.slice())
  }

  async getBlocks(cids: Iterable<string>, options: AbortOptions = {}): Promise<GetBlocksResult> {
    throwIfAborted(options.signal)
    const found = new Map<string, Uint8Array>()
    const missing: string[] = []
    for (const cid of cids) {
      const bytes = this.#blocks.get(cid)
      if (bytes === undefined) missing.push(cid)
      else found.set(cid, bytes.slice())
    }
    return { blocks: found, missing }
  }

  async hasBlocks(cids: Iterable<string>, options: AbortOptions = {}): Promise<Set<string>> {
    throwIfAborted(options.signal)
    const present = new Set<string>()
    for (const cid of cids) if (this.#blocks.has(cid)) present.add(cid)
    return present
  }
}

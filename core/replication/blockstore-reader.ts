/**
 * `BlockStoreReader`: `@atproto/repo`'s `ReadableBlockstore` over our {@link BlockStore}, with
 * optional blocks received but not yet stored layered on top. It lets `ReadableRepo`, `MST` and
 * `verifyDiff` read a repository straight from `pds.db` (history, exports, incremental syncs).
 */
import { BlockMap, ReadableBlockstore } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'
import { MissingBlockError } from '../errors.js'
import type { AbortOptions, BlockStore } from '../storage/types.js'

export class BlockStoreReader extends ReadableBlockstore {
  readonly #store: BlockStore
  readonly #staged: BlockMap | undefined
  readonly #options: AbortOptions

  /**
   * @param store - where stored blocks are read from
   * @param staged - blocks received and verified but not yet stored; read first
   */
  constructor(store: BlockStore, staged?: BlockMap, options: AbortOptions = {}) {
    super()
    this.#store = store
    this.#staged = staged
    this.#options = options
  }

  async getBytes(cid: Cid): Promise<Uint8Array | null> {
    const staged = this.#staged?.get(cid)
    if (staged !== undefined) return staged
    try {
      return await this.#store.getBlock(cid.toString(), this.#options)
    } catch (err) {
      if (err instanceof MissingBlockError) return null
      throw err
    }
  }

  async has(cid: Cid): Promise<boolean> {
    return this.#staged?.has(cid) === true || (await this.#store.hasBlock(cid.toString(), this.#options))
  }

  async getBlocks(cids: Cid[]): Promise<{ blocks: BlockMap; missing: Cid[] }> {
    const blocks = new BlockMap()
    const wanted = new Map<string, Cid>()
    for (const cid of cids) {
      const staged = this.#staged?.get(cid)
      if (staged !== undefined) blocks.set(cid, staged)
      else wanted.set(cid.toString(), cid)
    }
    const found = await this.#store.getBlocks(wanted.keys(), this.#options)
    for (const [key, bytes] of found.blocks) blocks.set(wanted.get(key)!, bytes)
    return { blocks, missing: found.missing.map((key) => wanted.get(key)!) }
  }
}

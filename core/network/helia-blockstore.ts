/**
 * `HeliaBlockstore`: Helia's `Blockstore` (interface-blockstore 7) over our {@link BlockStore},
 * so bitswap serves blocks straight from the `blocks` table of `pds.db` and no block is stored
 * twice. CIDs are converted to the store's string form (CIDv1, base32).
 */
import { BaseBlockstore } from 'blockstore-core'
import type { Pair } from 'interface-blockstore'
import { MissingBlockError } from '../errors.js'
import type { AbortOptions, BlockStore } from '../storage/types.js'

/** The CID class interface-blockstore is typed with (its own copy of multiformats). */
type CID = Parameters<BaseBlockstore['has']>[0]

/** Helia sees a missing block as `NotFoundError` (its `name`), which is what brokers look for. */
class NotFoundError extends Error {
  override name = 'NotFoundError'
}

/** The store's key for a CID: CIDv1 in base32 (a CIDv0 is upgraded; its bytes are unchanged). */
export function storeKey(cid: CID): string {
  return cid.version === 0 ? cid.toV1().toString() : cid.toString()
}

async function collect(val: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  if (val instanceof Uint8Array) return val
  const chunks: Uint8Array[] = []
  for await (const chunk of val) chunks.push(chunk)
  if (chunks.length === 1) return chunks[0]!
  return Buffer.concat(chunks)
}

export class HeliaBlockstore extends BaseBlockstore {
  readonly #store: BlockStore

  constructor(store: BlockStore) {
    super()
    this.#store = store
  }

  override async has(key: CID, options: AbortOptions = {}): Promise<boolean> {
    return this.#store.hasBlock(storeKey(key), options)
  }

  /** Stores a block (its bytes are checked against the CID by the store). */
  override async put(key: CID, val: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<CID> {
    await this.#store.putBlock(storeKey(key), await collect(val), options)
    return key
  }

  override async *get(key: CID, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
    try {
      yield await this.#store.getBlock(storeKey(key), options)
    } catch (err) {
      if (err instanceof MissingBlockError) throw new NotFoundError(`Block ${key.toString()} not found`)
      throw err
    }
  }

  override async *getMany(source: Iterable<CID> | AsyncIterable<CID>, options: AbortOptions = {}): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  override async delete(key: CID, options: AbortOptions = {}): Promise<void> {
    await this.#store.deleteBlock(storeKey(key), options)
  }
}

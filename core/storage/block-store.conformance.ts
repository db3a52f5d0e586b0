/**
 * The conformance suite every {@link BlockStore} must pass: `describeBlockStore(name, make)`.
 * Run it from the implementation's test file; `make` builds a fresh, empty store for each test
 * (and may return a `close` to clean up after it).
 */
import { CBOR_DATA_CODEC, createCid, RAW_DATA_CODEC, SHA256_HASH_CODE } from '@atproto/lex-data'
import { encode } from '@atproto/lex-cbor'
import { afterEach, describe, expect, it } from 'vitest'
import { AbortError, InvalidBlockError, MissingBlockError } from '../errors.js'
import { sha256 } from './cid.js'
import type { Block, BlockStore } from './types.js'

/** A raw block (as blobs are stored) holding `bytes`. */
export function rawBlock(bytes: Uint8Array | string): Block {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes
  return { cid: createCid(RAW_DATA_CODEC, SHA256_HASH_CODE, sha256(data)).toString(), bytes: data }
}

/** A dag-cbor block (as records and MST nodes are stored) holding `value`. */
export function cborBlock(value: Record<string, unknown>): Block {
  const bytes = encode(value as never)
  return { cid: createCid(CBOR_DATA_CODEC, SHA256_HASH_CODE, sha256(bytes)).toString(), bytes }
}

/** A fresh store for one test. */
export interface BlockStoreUnderTest {
  store: BlockStore
  /** Called after the test. */
  close?(): void | Promise<void>
}

/** Defines the conformance tests for a block store implementation. */
export function describeBlockStore(name: string, make: () => BlockStoreUnderTest | Promise<BlockStoreUnderTest>): void {
  describe(`BlockStore conformance: ${name}`, () => {
    let current: BlockStoreUnderTest | undefined
    const fresh = async (): Promise<BlockStore> => {
      current = await make()
      return current.store
    }
    afterEach(async () => {
      await current?.close?.()
      current = undefined
    })

    it('stores a block and gives the same bytes back; has says so', async () => {
      const store = await fresh()
      const a = cborBlock({ $type: 'test.record', text: 'hello' })
      expect(await store.hasBlock(a.cid)).toBe(false)
      await store.putBlock(a.cid, a.bytes)
      expect(await store.hasBlock(a.cid)).toBe(true)
      expect(Buffer.from(await store.getBlock(a.cid)).equals(Buffer.from(a.bytes))).toBe(true)
    })

    it('stores raw (blob) and dag-cbor blocks, an empty block, and a 1 MiB block', async () => {
      const store = await fresh()
      const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) % 251)
      const blocks = [rawBlock('image bytes'), rawBlock(new Uint8Array(0)), rawBlock(big), cborBlock({ n: 1 })]
      for (const b of blocks) await store.putBlock(b.cid, b.bytes)
      for (const b of blocks) expect(Buffer.from(await store.getBlock(b.cid)).equals(Buffer.from(b.bytes))).toBe(true)
    })

    it('treats a second put of the same block as a no-op', async () => {
      const store = await fresh()
      const a = rawBlock('twice')
      await store.putBlock(a.cid, a.bytes)
      await store.putBlock(a.cid, a.bytes)
      await store.putBlocks([a, a])
      expect(Buffer.from(await store.getBlock(a.cid)).toString()).toBe('twice')
    })

    it('refuses bytes that do not hash to the CID, storing nothing', async () => {
      const store = await fresh()
      const a = rawBlock('original')
      const error = await store.putBlock(a.cid, new TextEncoder().encode('tampered')).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidBlockError)
      expect(error).toMatchObject({ code: 'ERR_INVALID_BLOCK', cid: a.cid, reason: 'hash-mismatch' })
      expect(await store.hasBlock(a.cid)).toBe(false)
    })

    it('refuses malformed and non-atproto CIDs', async () => {
      const store = await fresh()
      const bytes = new TextEncoder().encode('x')
      await expect(store.putBlock('not-a-cid', bytes)).rejects.toMatchObject({ code: 'ERR_INVALID_BLOCK', reason: 'malformed-cid' })
      // CIDv0 (base58 sha2-256 dag-pb): valid CID, not one atproto uses.
      await expect(store.putBlock('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', bytes)).rejects.toMatchObject({
        reason: 'unsupported-cid',
      })
      // The same CID spelled in upper case would make a second key for one block.
      const a = rawBlock('x')
      await expect(store.putBlock(a.cid.toUpperCase(), bytes)).rejects.toMatchObject({ reason: 'malformed-cid' })
    })

    it('puts a batch all or nothing', async () => {
      const store = await fresh()
      const good = [rawBlock('one'), rawBlock('two')]
      const bad = { cid: rawBlock('three').cid, bytes: new TextEncoder().encode('not three') }
      await expect(store.putBlocks([...good, bad])).rejects.toBeInstanceOf(InvalidBlockError)
      expect(await store.hasBlocks(good.map((b) => b.cid))).toEqual(new Set())
      await store.putBlocks(good)
      expect(await store.hasBlocks([...good.map((b) => b.cid), bad.cid])).toEqual(new Set(good.map((b) => b.cid)))
    })

    it('gets a batch, reporting the missing CIDs in order', async () => {
      const store = await fresh()
      const [a, b, c] = [rawBlock('a'), rawBlock('b'), rawBlock('c')]
      await store.putBlocks([a, c])
      const got = await store.getBlocks([a.cid, b.cid, c.cid])
      expect([...got.blocks.keys()].sort()).toEqual([a.cid, c.cid].sort())
      expect(Buffer.from(got.blocks.get(c.cid)!).toString()).toBe('c')
      expect(got.missing).toEqual([b.cid])
      expect(await store.getBlocks([])).toEqual({ blocks: new Map(), missing: [] })
    })

    it('gets a large batch (over a thousand, with repeats and gaps) with the same answer', async () => {
      const store = await fresh()
      const blocks = Array.from({ length: 2500 }, (_, i) => rawBlock(`block ${i}`))
      const held = blocks.filter((_, i) => i % 7 !== 3)
      await store.putBlocks(held)
      const asked = [...blocks.map((b) => b.cid), blocks[0]!.cid, blocks[1]!.cid]
      const got = await store.getBlocks(asked)
      expect(got.blocks.size).toBe(held.length)
      for (const b of held) expect(Buffer.from(got.blocks.get(b.cid)!).equals(Buffer.from(b.bytes))).toBe(true)
      expect(got.missing).toEqual(blocks.filter((_, i) => i % 7 === 3).map((b) => b.cid))
    })

    it('rejects a missing block with MissingBlockError naming the CID', async () => {
      const store = await fresh()
      const a = rawBlock('never stored')
      const error = await store.getBlock(a.cid).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MissingBlockError)
      expect(error).toMatchObject({ code: 'ERR_MISSING_BLOCK', cid: a.cid })
    })

    it('deletes a block; deleting a missing block is a no-op', async () => {
      const store = await fresh()
      const [a, b] = [rawBlock('a'), rawBlock('b')]
      await store.putBlocks([a, b])
      await store.deleteBlock(a.cid)
      await store.deleteBlock(a.cid)
      expect(await store.hasBlock(a.cid)).toBe(false)
      expect(await store.hasBlock(b.cid)).toBe(true)
    })

    it('returns bytes the caller owns: changing them or the input does not change the store', async () => {
      const store = await fresh()
      const a = rawBlock('stable')
      const input = a.bytes.slice()
      await store.putBlock(a.cid, input)
      input.fill(0)
      const out = await store.getBlock(a.cid)
      out.fill(1)
      expect(Buffer.from(await store.getBlock(a.cid)).toString()).toBe('stable')
    })

    it('accepts a view into a larger buffer', async () => {
      const store = await fresh()
      const a = rawBlock('inside')
      const backing = new Uint8Array(64)
      backing.set(a.bytes, 10)
      await store.putBlock(a.cid, backing.subarray(10, 10 + a.bytes.length))
      expect(Buffer.from(await store.getBlock(a.cid)).toString()).toBe('inside')
    })

    it('rejects every operation with AbortError when the signal is already aborted, changing nothing', async () => {
      const store = await fresh()
      const a = rawBlock('kept')
      const b = rawBlock('not put')
      await store.putBlock(a.cid, a.bytes)
      const signal = AbortSignal.abort()
      const calls: Array<Promise<unknown>> = [
        store.putBlock(b.cid, b.bytes, { signal }),
        store.putBlocks([b], { signal }),
        store.getBlock(a.cid, { signal }),
        store.hasBlock(a.cid, { signal }),
        store.getBlocks([a.cid], { signal }),
        store.hasBlocks([a.cid], { signal }),
        store.deleteBlock(a.cid, { signal }),
      ]
      for (const call of calls) await expect(call).rejects.toBeInstanceOf(AbortError)
      expect(await store.hasBlock(a.cid)).toBe(true)
      expect(await store.hasBlock(b.cid)).toBe(false)
    })
  })
}

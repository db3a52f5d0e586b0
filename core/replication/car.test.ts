import { verifyRepoCar, writeCarStream } from '@atproto/repo'
import { describe, expect, it } from 'vitest'
import {
  AbortError,
  BlockHashMismatchError,
  CommitSignatureError,
  MalformedCarError,
  PdsRequestError,
  TruncatedCarError,
  WrongRepoDidError,
} from '../errors.js'
import { readRepoCar, streamRepoCar, writeCar, type StreamedBlock, type StreamRepoCarOptions } from './car.js'
import { checkCommit } from './commit-check.js'
import { checkMst, walkMst } from './mst-check.js'
import { readFixture, readJsonFixture } from '../testing/fixtures.js'

interface CarFixture {
  root: string
  blocks: Array<{ cid: string; bytes: string }>
  car: string
}

const DID = 'did:plc:test'
const fixtures = readJsonFixture<CarFixture[]>('atproto/packages/repo/tests/car-file-fixtures.json')
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'))

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** The CAR as `size`-byte chunks, as a network body would deliver it. */
function* chunked(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

describe('CAR reading and writing against the upstream fixtures (atproto car-file-fixtures.json)', () => {
  it('has fixtures to test', () => expect(fixtures.length).toBeGreaterThan(0))

  it.each(fixtures.map((f, i) => [i, f] as const))('fixture %i: writing the blocks under the root gives exactly the CAR', async (_, f) => {
    const car = await collect(writeCar(f.root, f.blocks.map((b) => ({ cid: b.cid, bytes: b64(b.bytes) }))))
    expect(car.toString('base64')).toBe(Buffer.from(b64(f.car)).toString('base64'))
  })

  it('writes a real repository byte for byte as @atproto/repo writeCarStream (the reference)', async () => {
    const read = await readRepoCar(DID, [readFixture('indigo/atproto/repo/testdata/bnewbold.robocracy.org.20250310005405.car')])
    const blocks = read.blocks.entries().map((e) => ({ cid: e.cid.toString(), bytes: e.bytes }))
    expect(blocks.length).toBeGreaterThan(50)
    const ours = await collect(writeCar(read.root.toString(), blocks))
    const reference = await collect(writeCarStream(read.root, (async function* () { yield* read.blocks.entries() })()))
    expect(ours.length).toBe(reference.length)
    expect(ours.equals(reference)).toBe(true)
  })

  it.each(fixtures.map((f, i) => [i, f] as const))('fixture %i: reading the CAR gives back the root and every block', async (_, f) => {
    for (const size of [1, 7, 64 * 1024]) {
      const read = await readRepoCar(DID, chunked(b64(f.car), size))
      expect(read.root.toString()).toBe(f.root)
      expect(read.blockCount).toBe(f.blocks.length)
      expect(read.bytes).toBe(b64(f.car).length)
      for (const b of f.blocks) expect(Buffer.from(read.blocks.get(read.blocks.cids().find((c) => c.toString() === b.cid)!)!).toString('base64')).toBe(Buffer.from(b64(b.bytes)).toString('base64'))
    }
  })
})

describe('readRepoCar rejects damaged CARs with clear errors', () => {
  const car = b64(fixtures[0]!.car)

  it('a CAR cut off inside a block: TruncatedCarError', async () => {
    for (const cut of [car.length - 1, car.length - 30, 60]) {
      const error = await readRepoCar(DID, chunked(car.subarray(0, cut), 16)).catch((e: unknown) => e)
      expect(error, `cut at ${cut}`).toBeInstanceOf(TruncatedCarError)
      expect((error as TruncatedCarError).message).toMatch(/ended early.*Nothing was stored/)
    }
  })

  it('an empty body, or one cut inside the header: MalformedCarError (it is not a CAR)', async () => {
    await expect(readRepoCar(DID, [])).rejects.toMatchObject({ code: 'ERR_CAR_MALFORMED', message: expect.stringMatching(/empty/) })
    await expect(readRepoCar(DID, [car.subarray(0, 5)])).rejects.toBeInstanceOf(MalformedCarError)
  })

  it('a block whose bytes do not match its CID: BlockHashMismatchError naming the block', async () => {
    const tampered = car.slice()
    tampered[tampered.length - 3]! ^= 0x01
    const error = await readRepoCar(DID, [tampered]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BlockHashMismatchError)
    expect(error).toMatchObject({ code: 'ERR_BLOCK_HASH_MISMATCH', did: DID, cid: fixtures[0]!.blocks.at(-1)!.cid })
  })

  it('a CAR with no root, or garbage: MalformedCarError', async () => {
    const noRoot = await collect(writeCarStreamNoRoot())
    await expect(readRepoCar(DID, [noRoot])).rejects.toBeInstanceOf(MalformedCarError)
    await expect(readRepoCar(DID, [new TextEncoder().encode('<html>Bad Gateway</html>')])).rejects.toBeInstanceOf(MalformedCarError)
  })

  it('passes an error of the source through unchanged', async () => {
    const broken = new PdsRequestError(DID, 'com.atproto.sync.getRepo', 'http://pds', 200, null, 'the download broke off')
    async function* source() {
      yield car.subarray(0, 50)
      throw broken
    }
    await expect(readRepoCar(DID, source())).rejects.toBe(broken)
  })

  it('rejects with AbortError on an already-aborted signal, or one aborted mid-read', async () => {
    await expect(readRepoCar(DID, [car], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    const controller = new AbortController()
    async function* slow() {
      yield car.subarray(0, 40)
      controller.abort()
      yield car.subarray(40)
    }
    await expect(readRepoCar(DID, slow(), { signal: controller.signal })).rejects.toBeInstanceOf(AbortError)
  })
})

async function* writeCarStreamNoRoot(): AsyncGenerator<Uint8Array> {
  // Header {version: 1, roots: []}: a valid CAR, not a repository.
  const { writeCarStream } = await import('@atproto/repo')
  yield* writeCarStream(null, (async function* () {})())
}

describe('a real repository (bnewbold.robocracy.org, from indigo) checked with the key from its PLC log', () => {
  const car = readFixture('indigo/atproto/repo/testdata/bnewbold.robocracy.org.20250310005405.car')
  const log = readJsonFixture<Array<{ did: string; operation: { verificationMethods?: { atproto?: string } } }>>(
    'did-method-plc/interop_tests/audit_log/valid/log_bnewbold_robocracy.json',
  )
  const did = log.at(-1)!.did
  const signingKey = log.at(-1)!.operation.verificationMethods!.atproto!

  it('passes our commit and MST checks, agreeing with @atproto/repo verifyRepoCar', async () => {
    const read = await readRepoCar(did, chunked(car, 1000))
    const commit = await checkCommit(did, signingKey, read.root, read.blocks.get(read.root)!)
    expect(commit.rev).toBe('3ljlyqit2uk2l')
    const mst = await checkMst(commit.data, { did, getBlock: (c) => read.blocks.get(c), hasRecord: (c) => read.blocks.has(c) })
    const upstream = await verifyRepoCar(car, did, signingKey)
    expect(mst.leaves.map((l) => `${l.key} ${l.cid.toString()}`)).toEqual(
      upstream.creates.map((c) => `${c.collection}/${c.rkey} ${c.cid.toString()}`).sort(),
    )
    expect(mst.leaves.length).toBeGreaterThan(10)
  })

  it('fails with the wrong key (an earlier key in the log) or the wrong DID', async () => {
    const read = await readRepoCar(did, [car])
    const commitBytes = read.blocks.get(read.root)!
    const otherKey = 'did:key:zQ3shcciz4AvrLyDnUdZLpQys3kyCsesojRNzJAieyDStGxGo' // the rotation key, not the signing key
    await expect(checkCommit(did, otherKey, read.root, commitBytes)).rejects.toBeInstanceOf(CommitSignatureError)
    await expect(checkCommit('did:plc:someoneelse', signingKey, read.root, commitBytes)).rejects.toBeInstanceOf(WrongRepoDidError)
  })
})

/** `streamRepoCar` into an array of batches. */
async function streamAll(
  did: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: Omit<StreamRepoCarOptions, 'onBlocks'> = {},
): Promise<{ root: string; blockCount: number; bytes: number; batches: StreamedBlock[][] }> {
  const batches: StreamedBlock[][] = []
  // Copies: a block's bytes are a view into the chunk they arrived in.
  const read = await streamRepoCar(did, source, { ...options, onBlocks: (b) => void batches.push(b.map((x) => ({ cid: x.cid, bytes: x.bytes.slice() }))) })
  return { root: read.root.toString(), blockCount: read.blockCount, bytes: read.bytes, batches }
}

describe('streamRepoCar: the same blocks as readRepoCar and @atproto/repo, handed on in batches', () => {
  it.each(fixtures.map((f, i) => [i, f] as const))('fixture %i: every block, in CAR order, whatever the chunking', async (_, f) => {
    for (const size of [1, 7, 64 * 1024]) {
      const read = await streamAll(DID, chunked(b64(f.car), size))
      expect(read.root).toBe(f.root)
      expect(read.blockCount).toBe(f.blocks.length)
      expect(read.bytes).toBe(b64(f.car).length)
      expect(read.batches.flat().map((b) => `${b.cid} ${Buffer.from(b.bytes).toString('base64')}`)).toEqual(
        f.blocks.map((b) => `${b.cid} ${Buffer.from(b64(b.bytes)).toString('base64')}`),
      )
    }
  })

  it('a real repository: the blocks and the verified MST agree with verifyRepoCar; batches stay near batchBytes', async () => {
    const car = readFixture('indigo/atproto/repo/testdata/bnewbold.robocracy.org.20250310005405.car')
    const log = readJsonFixture<Array<{ did: string; operation: { verificationMethods?: { atproto?: string } } }>>(
      'did-method-plc/interop_tests/audit_log/valid/log_bnewbold_robocracy.json',
    )
    const did = log.at(-1)!.did
    const signingKey = log.at(-1)!.operation.verificationMethods!.atproto!
    const streamed = await streamAll(did, chunked(car, 1000), { batchBytes: 1024 })
    const full = await readRepoCar(did, [car])
    expect(streamed.root).toBe(full.root.toString())
    expect(streamed.blockCount).toBe(full.blockCount)
    const blocks = new Map(streamed.batches.flat().map((b) => [b.cid, b.bytes]))
    expect([...blocks.keys()].sort()).toEqual(full.blocks.cids().map((c) => c.toString()).sort())
    expect(streamed.batches.length).toBeGreaterThan(1)
    for (const batch of streamed.batches.slice(0, -1)) {
      const bytes = batch.reduce((n, b) => n + b.bytes.byteLength, 0)
      expect(bytes - batch.at(-1)!.bytes.byteLength).toBeLessThan(1024)
    }
    const commit = await checkCommit(did, signingKey, full.root, blocks.get(streamed.root)!)
    const leaves: string[] = []
    await walkMst(commit.data, { did, getBlock: (c) => blocks.get(c.toString()), onNode: () => undefined, onLeaf: (key, cid) => void leaves.push(`${key} ${cid.toString()}`) })
    const upstream = await verifyRepoCar(car, did, signingKey)
    expect(leaves).toEqual(upstream.creates.map((c) => `${c.collection}/${c.rkey} ${c.cid.toString()}`).sort())
  })

  it('rejects damaged CARs like readRepoCar: truncated, hash mismatch, not a CAR, no root', async () => {
    const car = b64(fixtures[0]!.car)
    for (const cut of [car.length - 1, car.length - 30, 60]) {
      await expect(streamAll(DID, chunked(car.subarray(0, cut), 16)), `cut at ${cut}`).rejects.toBeInstanceOf(TruncatedCarError)
    }
    const tampered = car.slice()
    tampered[tampered.length - 3]! ^= 0x01
    await expect(streamAll(DID, [tampered])).rejects.toMatchObject({ code: 'ERR_BLOCK_HASH_MISMATCH', cid: fixtures[0]!.blocks.at(-1)!.cid })
    await expect(streamAll(DID, [])).rejects.toMatchObject({ code: 'ERR_CAR_MALFORMED', message: expect.stringMatching(/empty/) })
    await expect(streamAll(DID, [await collect(writeCarStreamNoRoot())])).rejects.toBeInstanceOf(MalformedCarError)
    await expect(streamAll(DID, [new TextEncoder().encode('<html>Bad Gateway</html>')])).rejects.toBeInstanceOf(MalformedCarError)
  })

  it('rejects a block under a CID that is not DASL (here SHA-512) with UnsupportedCidError', async () => {
    const { writeCarStream } = await import('@atproto/repo')
    const { CID } = await import('multiformats/cid')
    const { sha512 } = await import('multiformats/hashes/sha2')
    const bytes = new Uint8Array([0xa1, 0x61, 0x61, 0x01])
    const cid = CID.createV1(0x71, await sha512.digest(bytes))
    const car = await collect(writeCarStream(cid as never, (async function* () { yield { cid: cid as never, bytes } })()))
    await expect(streamAll(DID, [car])).rejects.toMatchObject({ name: 'UnsupportedCidError', code: 'ERR_UNSUPPORTED_CID', cid: cid.toString() })
  })

  it('passes errors of the source and of the receiver through unchanged, and honours an aborted signal', async () => {
    const car = b64(fixtures[0]!.car)
    const broken = new PdsRequestError(DID, 'com.atproto.sync.getRepo', 'http://pds', 200, null, 'the download broke off')
    async function* source() {
      yield car.subarray(0, 50)
      throw broken
    }
    await expect(streamAll(DID, source())).rejects.toBe(broken)
    const full = new Error('disk full')
    await expect(streamRepoCar(DID, [car], { onBlocks: () => Promise.reject(full) })).rejects.toBe(full)
    await expect(streamAll(DID, [car], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })
})

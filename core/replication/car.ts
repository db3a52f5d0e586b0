/**
 * Reading and writing CAR v1 files, streamed.
 *
 * Reading goes through `@atproto/repo`'s CAR parser (`readCarReader`) fed by a reader of our own
 * that (a) pulls chunks from the HTTP body as the parser needs them, so the CAR is held in memory
 * once (as the blocks it contains) and never as a second whole buffer; (b) notices a body that
 * ends in the middle of a block, which the upstream reader silently returns short; (c) counts
 * bytes and honours an abort signal. Each block's CID is checked with node:crypto SHA-256 here
 * (the upstream check is skipped, so hashing happens once).
 */
import { hash } from 'node:crypto'
import { encode as lexEncode } from '@atproto/lex-cbor'
import { BlockMap, readCarReader } from '@atproto/repo'
import { parseCid, type Cid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { varint } from 'multiformats'
import {
  AbortError,
  BlockHashMismatchError,
  MalformedCarError,
  P2pdsError,
  TruncatedCarError,
  UnsupportedCidError,
  throwIfAborted,
} from '../errors.js'
import { digestMatches, isDaslCid } from '../storage/cid.js'
import type { AbortOptions, Block } from '../storage/types.js'
import { DASL_CID_BYTES, daslCidBytes, daslCidString, isDaslCidPrefix } from './cid-string.js'

/** How {@link readRepoCar} reads. */
export interface ReadRepoCarOptions extends AbortOptions {
  /**
   * Called as blocks arrive (at most every {@link progressEvery} blocks, and at the end) with the
   * totals so far.
   */
  onProgress?(progress: { blocks: number; bytes: number }): void
  /** Blocks between two `onProgress` calls. @default 256 */
  progressEvery?: number
}

/** A CAR read and checked block by block. */
export interface ReceivedCar {
  /** The single root (for a repository: the commit). */
  root: Cid
  /** Every block, CID-checked. */
  blocks: BlockMap
  /** Bytes of the CAR read. */
  bytes: number
  /** Blocks read (duplicates counted). */
  blockCount: number
}

/**
 * Reads a repository CAR from a stream of chunks, checking every block's bytes against its CID.
 * Rejects with a {@link RepoVerificationError} subclass naming `did`: `TruncatedCarError`,
 * `MalformedCarError`, `BlockHashMismatchError`, `UnsupportedCidError`. Errors thrown by the
 * source itself (a network failure mid-download) are passed through unchanged.
 */
export async function readRepoCar(
  did: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ReadRepoCarOptions = {},
): Promise<ReceivedCar> {
  const blocks = new BlockMap()
  const read = await readCar(did, source, options, (cid, bytes) => {
    blocks.set(cid, bytes)
  })
  return { ...read, blocks }
}

/** A verified block as {@link streamRepoCar} hands it on. */
export interface StreamedBlock {
  /** The CID in its one accepted string form (base32). */
  cid: string
  /** The bytes (a view into the chunk they arrived in: copy them to keep them). */
  bytes: Uint8Array
}

/** How {@link streamRepoCar} reads. */
export interface StreamRepoCarOptions extends ReadRepoCarOptions {
  /**
   * Receives the verified blocks in batches, in CAR order; the next batch is read once the
   * returned promise settles, and a rejection stops the read.
   */
  onBlocks(blocks: StreamedBlock[]): Promise<void> | void
  /** Bytes of blocks in one batch (a batch ends at the first block reaching it). @default 1 MiB */
  batchBytes?: number
}

/**
 * Reads a repository CAR like {@link readRepoCar}, but keeps nothing: each block is checked
 * (DASL CID, bytes hash to it) and handed to `onBlocks`, so memory stays bounded by one batch
 * whatever the repository's size. Resolves with the root, bytes and blocks read.
 *
 * The header is parsed by `@atproto/repo`; the blocks after it are read here, straight from the
 * received chunks: a block is a varint length, a 36-byte DASL CID and the bytes, so no CID object
 * is built (the string form is written directly) and nothing but the batch is allocated per block.
 */
export async function streamRepoCar(
  did: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: StreamRepoCarOptions,
): Promise<Omit<ReceivedCar, 'blocks'>> {
  throwIfAborted(options.signal)
  const limit = options.batchBytes ?? 1024 * 1024
  const every = options.progressEvery ?? 256
  const reader = new ChunkReader(source, options.signal)
  let batch: StreamedBlock[] = []
  let batchBytes = 0
  const flush = async () => {
    const full = batch
    batch = []
    batchBytes = 0
    try {
      await options.onBlocks(full)
    } catch (err) {
      // The receiver's failure (storage, abort), not the CAR's: passed through unchanged.
      throw new SourceError(err)
    }
    // Let timers and I/O in between batches when the whole body is already buffered.
    await yieldToEventLoop()
  }
  let blockCount = 0
  let headerRead = false
  try {
    const car = await readCarReader(reader, { skipCidVerification: true })
    headerRead = true
    if (car.roots.length !== 1) throw new MalformedCarError(did, `it has ${car.roots.length} roots, a repository has exactly one`)
    for (;;) {
      const length = await reader.readVarint()
      if (length === null) break
      const block = reader.takeBuffered(length) ?? (await reader.read(length))
      if (block.byteLength < length) throw new Error('the CAR ends inside a block')
      if (!isDaslCidPrefix(block)) throw notDasl(did, block)
      const bytes = block.subarray(DASL_CID_BYTES)
      if (!digestIn(block, bytes)) throw new BlockHashMismatchError(did, daslCidString(block))
      batch.push({ cid: daslCidString(block), bytes })
      batchBytes += bytes.byteLength
      blockCount++
      if (blockCount % every === 0) options.onProgress?.({ blocks: blockCount, bytes: reader.bytesRead })
      if (batchBytes >= limit) await flush()
    }
    if (batch.length > 0) await flush()
    options.onProgress?.({ blocks: blockCount, bytes: reader.bytesRead })
    return { root: car.roots[0]!, bytes: reader.bytesRead, blockCount }
  } catch (err) {
    throw await readFailure(did, reader, headerRead, options.signal, err)
  }
}

/** Whether the SHA-256 of `bytes` is the digest in the DASL CID that starts `block`. */
function digestIn(block: Uint8Array, bytes: Uint8Array): boolean {
  const digest = hash('sha256', bytes, 'buffer')
  for (let i = 0; i < 32; i++) if (digest[i] !== block[4 + i]) return false
  return true
}

/** The error for a block that does not start with a DASL CID. */
function notDasl(did: string, block: Uint8Array): P2pdsError {
  let cid: string
  try {
    cid = CID.decodeFirst(block)[0].toString()
  } catch (err) {
    return new MalformedCarError(did, 'a block does not start with a CID', { cause: err })
  }
  return new UnsupportedCidError(did, cid)
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Reads and checks a CAR, handing each verified block to `sink` in order. */
async function readCar(
  did: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ReadRepoCarOptions,
  sink: (cid: Cid, bytes: Uint8Array) => Promise<void> | void,
): Promise<Omit<ReceivedCar, 'blocks'>> {
  throwIfAborted(options.signal)
  const reader = new ChunkReader(source, options.signal)
  const every = options.progressEvery ?? 256
  let blockCount = 0
  let headerRead = false
  try {
    const car = await readCarReader(reader, { skipCidVerification: true })
    headerRead = true
    if (car.roots.length !== 1) {
      await car.blocks.dump()
      throw new MalformedCarError(did, `it has ${car.roots.length} roots, a repository has exactly one`)
    }
    for await (const { cid, bytes } of car.blocks) {
      if (!isDaslCid(cid)) throw new UnsupportedCidError(did, cid.toString())
      if (!digestMatches(cid, bytes)) throw new BlockHashMismatchError(did, cid.toString())
      try {
        const pending = sink(cid, bytes)
        if (pending !== undefined) await pending
      } catch (err) {
        // The receiver's failure (storage, abort), not the CAR's: passed through unchanged.
        throw new SourceError(err)
      }
      blockCount++
      if (blockCount % every === 0) options.onProgress?.({ blocks: blockCount, bytes: reader.bytesRead })
    }
    options.onProgress?.({ blocks: blockCount, bytes: reader.bytesRead })
    return { root: car.roots[0]!, bytes: reader.bytesRead, blockCount }
  } catch (err) {
    throw await readFailure(did, reader, headerRead, options.signal, err)
  }
}

/** Closes the reader and says why reading a CAR failed, as the error to throw. */
async function readFailure(did: string, reader: ChunkReader, headerRead: boolean, signal: AbortSignal | undefined, err: unknown): Promise<unknown> {
  await reader.close()
  if (err instanceof SourceError) return err.cause
  if (err instanceof P2pdsError) return err
  if (signal?.aborted === true) return new AbortError()
  // Before a header was read, a short body is not a CAR at all (an HTML error page, nothing).
  if (!headerRead) {
    const detail = reader.bytesRead === 0 ? 'the response is empty' : 'it does not start with a CAR header'
    return new MalformedCarError(did, detail, { cause: err })
  }
  if (reader.ended) return new TruncatedCarError(did, reader.bytesRead)
  return new MalformedCarError(did, err instanceof Error ? err.message : String(err), { cause: err })
}

/**
 * A CAR v1 stream with one root, built from blocks as they are asked for (so a large repository
 * is never built whole in memory).
 */
export async function* writeCar(root: string, blocks: AsyncIterable<Block> | Iterable<Block>, options: AbortOptions = {}): AsyncIterable<Uint8Array> {
  const { signal } = options
  // Each block is framed as varint(length) + CID bytes + block bytes (CAR v1, as
  // @atproto/repo's writeCarStream, the reference in car.test.ts), without making a CID object
  // per block; frames are gathered into chunks of about CAR_CHUNK_BYTES.
  const header = lexEncode({ version: 1, roots: [parseCid(root)] })
  let chunk: Uint8Array[] = [varintBytes(header.byteLength), header]
  let size = 0
  for await (const block of blocks) {
    const cid = daslCidBytes(block.cid) ?? parseCid(block.cid).bytes
    chunk.push(varintBytes(cid.byteLength + block.bytes.byteLength), cid, block.bytes)
    size += cid.byteLength + block.bytes.byteLength
    if (size >= CAR_CHUNK_BYTES) {
      yield Buffer.concat(chunk)
      // A reader that aborted while holding a chunk gets AbortError, not more bytes.
      throwIfAborted(signal)
      chunk = []
      size = 0
    }
  }
  if (chunk.length > 0) yield Buffer.concat(chunk)
  throwIfAborted(signal)
}

/** About how many bytes {@link writeCar} gathers per chunk it yields. */
const CAR_CHUNK_BYTES = 64 * 1024

function varintBytes(n: number): Uint8Array {
  const out = new Uint8Array(varint.encodingLength(n))
  varint.encodeTo(n, out)
  return out
}

/** An error thrown by the source of a CAR or by its receiver (not by the CAR's content). */
class SourceError extends Error {
  constructor(override readonly cause: unknown) {
    super('CAR source failed')
  }
}

/**
 * The `BytesReader` `readCarReader` pulls from. A request for N > 1 bytes that the source cannot
 * fill means the CAR ended inside a header or block: that is truncation, not the end of the CAR
 * (which `readCarReader` detects as a 1-byte varint read that gets nothing).
 */
class ChunkReader {
  readonly #iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>
  readonly #signal: AbortSignal | undefined
  #chunks: Uint8Array[] = []
  /** Where the unread part of `#chunks[0]` starts. */
  #offset = 0
  #buffered = 0
  #sourceDone = false
  /** Bytes taken from the source so far. */
  bytesRead = 0
  /** The source is exhausted and a read could not be filled. */
  ended = false

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, signal: AbortSignal | undefined) {
    this.#iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()
    this.#signal = signal
  }

  get isDone(): boolean {
    return this.#sourceDone && this.#buffered === 0
  }

  async read(n: number): Promise<Uint8Array> {
    if (this.#buffered < n) await this.#fill(n)
    if (this.#buffered < n) {
      this.ended = true
      // Upstream reads varints one byte at a time and treats an empty read as the end of the CAR.
      if (n > 1 || this.#buffered > 0) throw new Error('the CAR ends inside a block')
      return new Uint8Array(0)
    }
    return this.#take(n)
  }

  /** `n` bytes if they are already buffered (no waiting), else undefined. */
  takeBuffered(n: number): Uint8Array | undefined {
    return this.#buffered >= n ? this.#take(n) : undefined
  }

  /**
   * An unsigned varint (a block's length), or null at the end of the CAR; throws when the CAR
   * ends inside one. Reads byte by byte without allocating.
   */
  async readVarint(): Promise<number | null> {
    let value = 0
    for (let shift = 0; shift < 49; shift += 7) {
      if (this.#buffered === 0) await this.#fill(1)
      if (this.#buffered === 0) {
        this.ended = true
        if (shift === 0) return null
        throw new Error('the CAR ends inside a block length')
      }
      const first = this.#chunks[0]!
      const byte = first[this.#offset]!
      this.#offset++
      this.#buffered--
      if (this.#offset === first.byteLength) this.#shift()
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
    throw new Error('a block length is not a valid varint')
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffered < n && !this.#sourceDone) {
      if (this.#signal?.aborted === true) throw new AbortError()
      let next: IteratorResult<Uint8Array>
      try {
        next = await this.#iterator.next()
      } catch (err) {
        throw new SourceError(err)
      }
      if (next.done === true) {
        this.#sourceDone = true
        break
      }
      const chunk = next.value
      if (chunk.byteLength === 0) continue
      this.#chunks.push(chunk)
      this.#buffered += chunk.byteLength
      this.bytesRead += chunk.byteLength
    }
  }

  /** Drops the first chunk, read to its end. */
  #shift(): void {
    this.#chunks.shift()
    this.#offset = 0
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0]!
    const available = first.byteLength - this.#offset
    if (available >= n) {
      // A view, not a copy: block bytes point into the chunk they arrived in.
      const out = first.subarray(this.#offset, this.#offset + n)
      this.#offset += n
      if (available === n) this.#shift()
      this.#buffered -= n
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.#chunks[0]!
      const take = Math.min(chunk.byteLength - this.#offset, n - filled)
      out.set(chunk.subarray(this.#offset, this.#offset + take), filled)
      filled += take
      this.#offset += take
      if (this.#offset === chunk.byteLength) this.#shift()
    }
    this.#buffered -= n
    return out
  }

  async close(): Promise<void> {
    this.#chunks = []
    this.#offset = 0
    this.#buffered = 0
    if (!this.#sourceDone) {
      this.#sourceDone = true
      try {
        await this.#iterator.return?.()
      } catch {
        // The source failed while being cancelled; the error that led here is the one to report.
      }
    }
  }
}

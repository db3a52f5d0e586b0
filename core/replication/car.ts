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
import { BlockMap, readCarReader, writeCarStream } from '@atproto/repo'
import { parseCid, type Cid } from '@atproto/lex-data'
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
  throwIfAborted(options.signal)
  const reader = new ChunkReader(source, options.signal)
  const every = options.progressEvery ?? 256
  const blocks = new BlockMap()
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
      blocks.set(cid, bytes)
      blockCount++
      if (blockCount % every === 0) options.onProgress?.({ blocks: blockCount, bytes: reader.bytesRead })
    }
    options.onProgress?.({ blocks: blockCount, bytes: reader.bytesRead })
    return { root: car.roots[0]!, blocks, bytes: reader.bytesRead, blockCount }
  } catch (err) {
    await reader.close()
    if (err instanceof SourceError) throw err.cause
    if (err instanceof P2pdsError) throw err
    if (options.signal?.aborted === true) throw new AbortError()
    // Before a header was read, a short body is not a CAR at all (an HTML error page, nothing).
    if (!headerRead) {
      const detail = reader.bytesRead === 0 ? 'the response is empty' : 'it does not start with a CAR header'
      throw new MalformedCarError(did, detail, { cause: err })
    }
    if (reader.ended) throw new TruncatedCarError(did, reader.bytesRead)
    throw new MalformedCarError(did, err instanceof Error ? err.message : String(err), { cause: err })
  }
}

/**
 * A CAR v1 stream with one root, built from blocks as they are asked for (so a large repository
 * is never built whole in memory).
 */
export function writeCar(root: string, blocks: AsyncIterable<Block> | Iterable<Block>): AsyncIterable<Uint8Array> {
  async function* asCarBlocks() {
    for await (const block of blocks) yield { cid: parseCid(block.cid), bytes: block.bytes }
  }
  return writeCarStream(parseCid(root), asCarBlocks())
}

/** An error thrown by the source of a CAR (not by the CAR's content). */
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
    if (this.#buffered < n) {
      this.ended = true
      // Upstream reads varints one byte at a time and treats an empty read as the end of the CAR.
      if (n > 1 || this.#buffered > 0) throw new Error('the CAR ends inside a block')
      return new Uint8Array(0)
    }
    return this.#take(n)
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0]!
    if (first.byteLength >= n) {
      // A view, not a copy: block bytes point into the chunk they arrived in.
      const out = first.subarray(0, n)
      if (first.byteLength === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      this.#buffered -= n
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.#chunks[0]!
      const take = Math.min(chunk.byteLength, n - filled)
      out.set(chunk.subarray(0, take), filled)
      filled += take
      if (take === chunk.byteLength) this.#chunks.shift()
      else this.#chunks[0] = chunk.subarray(take)
    }
    this.#buffered -= n
    return out
  }

  async close(): Promise<void> {
    this.#chunks = []
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

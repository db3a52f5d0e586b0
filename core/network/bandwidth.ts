/**
 * The node's transfer cap (`BANDWIDTH_LIMIT_KBPS`): one token bucket shared by all PDS traffic,
 * applied to response bodies as they are read. Repository CARs, diffs and blobs all come through
 * the same injected fetch, so wrapping it once caps them all together.
 *
 * - Bytes are delivered only once the bucket has paid for them, so over any period of T seconds
 *   at most `burstBytes + rate × T` bytes reach the reader (`bandwidth.test.ts`).
 * - Large chunks are split to at most `burstBytes`, so a reader sees a steady flow rather than a
 *   long silence then a burst.
 * - Waiting honours the request's abort signal; a cancelled body cancels the one below.
 * - Throttling slows reading, so the server is held back by TCP flow control; the per-chunk time
 *   limit of the safe fetch counts only time spent waiting on the server, not here.
 */
import { AbortError } from '../errors.js'
import { sleep } from '../timers.js'

/** A `fetch`-compatible function (the node's safe fetch). */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>

/** Bytes in a KB of `BANDWIDTH_LIMIT_KBPS` (KB as the CLI prints sizes: 1024 bytes). */
export const BYTES_PER_KB = 1024

/** Waits `ms`, or rejects with {@link AbortError} when `signal` fires. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

/** What a {@link TokenBucket} is made from. */
export interface TokenBucketInit {
  /** Sustained rate, bytes per second. */
  bytesPerSec: number
  /** Bytes that may pass at once after an idle spell (the bucket's size). @default bytesPerSec / 4 (a quarter second), at least 1 */
  burstBytes?: number
  /** @default Date.now */
  now?: () => number
  /** @default a timer-based sleep */
  sleep?: Sleep
}

/**
 * A token bucket that lets callers go into debt: `take(n)` reserves `n` bytes at once and waits
 * until the bucket would have refilled them. Concurrent takers queue behind each other's debt,
 * so the total rate holds however many transfers share the bucket. It starts full.
 */
export class TokenBucket {
  readonly bytesPerSec: number
  readonly burstBytes: number
  readonly #now: () => number
  readonly #sleep: Sleep
  #tokens: number
  #at: number

  constructor(init: TokenBucketInit) {
    if (!(init.bytesPerSec > 0)) throw new RangeError('bytesPerSec must be positive')
    this.bytesPerSec = init.bytesPerSec
    this.burstBytes = Math.max(1, Math.floor(init.burstBytes ?? init.bytesPerSec / 4))
    this.#now = init.now ?? Date.now
    this.#sleep = init.sleep ?? sleep
    this.#tokens = this.burstBytes
    this.#at = this.#now()
  }

  /** Reserves `n` bytes; resolves when they may pass. An abort while waiting gives them back. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw new AbortError()
    if (n <= 0) return
    this.#refill()
    this.#tokens -= n
    if (this.#tokens >= 0) return
    const waitMs = Math.ceil((-this.#tokens / this.bytesPerSec) * 1000)
    try {
      await this.#sleep(waitMs, signal)
    } catch (err) {
      this.#refill()
      this.#tokens = Math.min(this.burstBytes, this.#tokens + n)
      throw err
    }
  }

  #refill(): void {
    const now = this.#now()
    const elapsed = Math.max(0, now - this.#at)
    this.#at = now
    this.#tokens = Math.min(this.burstBytes, this.#tokens + (elapsed / 1000) * this.bytesPerSec)
  }
}

/**
 * Wraps a fetch so every response body it returns is read through `bucket`. Status, headers,
 * `url` and `redirected` are kept; bodies of errors and JSON answers count too.
 */
export function limitFetch(fetch: FetchLike, bucket: TokenBucket): FetchLike {
  return async (input, init) => {
    const res = await fetch(input, init)
    if (res.body === null) return res
    const body = throttle(res.body, bucket, init?.signal ?? undefined)
    const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
    Object.defineProperty(out, 'url', { value: res.url })
    Object.defineProperty(out, 'redirected', { value: res.redirected })
    return out
  }
}

/** `source`, delivered no faster than `bucket` allows. */
export function throttle(source: ReadableStream<Uint8Array>, bucket: TokenBucket, signal?: AbortSignal): ReadableStream<Uint8Array> {
  const reader = source.getReader()
  let pending: Uint8Array | null = null
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (pending === null || pending.byteLength === 0) {
          const chunk = await reader.read()
          if (chunk.done) {
            controller.close()
            return
          }
          pending = chunk.value
        }
        const piece: Uint8Array = pending.byteLength > bucket.burstBytes ? pending.subarray(0, bucket.burstBytes) : pending
        pending = piece === pending ? null : pending.subarray(piece.byteLength)
        try {
          await bucket.take(piece.byteLength, signal)
        } catch (err) {
          await reader.cancel(err).catch(() => undefined)
          throw err
        }
        controller.enqueue(piece)
      },
      cancel(reason) {
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}

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
 * - The cap is a setting that applies at once: `setRate` changes it for transfers under way too
 *   (`bandwidth.test.ts`, "a rate change applies to takers already waiting").
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
  /** Sustained rate, bytes per second; null for no cap (bytes pass at once). */
  bytesPerSec: number | null
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
 *
 * The rate can change at any time ({@link TokenBucket.setRate}, the bandwidth setting): takers
 * already waiting re-measure what is left of their debt at the new rate, so a raised or lifted
 * cap applies to transfers under way, not only to later ones.
 */
export class TokenBucket {
  #rate: number | null
  #burst: number
  readonly #now: () => number
  readonly #sleep: Sleep
  #tokens: number
  #at: number
  /** Bytes refilled since the bucket was made (not capped by the burst): waiters measure their debt against it. */
  #filled = 0
  /** One controller per wait in progress; aborted to make waiters re-measure after a rate change. */
  readonly #waits = new Set<AbortController>()

  constructor(init: TokenBucketInit) {
    checkRate(init.bytesPerSec)
    this.#rate = init.bytesPerSec
    this.#burst = burstFor(init.bytesPerSec, init.burstBytes)
    this.#now = init.now ?? Date.now
    this.#sleep = init.sleep ?? sleep
    this.#tokens = this.#burst === Infinity ? 0 : this.#burst
    this.#at = this.#now()
  }

  /** Sustained rate in bytes per second, or null when there is no cap. */
  get bytesPerSec(): number | null {
    return this.#rate
  }

  /** The most bytes that pass at once (Infinity when there is no cap). */
  get burstBytes(): number {
    return this.#burst
  }

  /**
   * Changes the rate at once (null lifts the cap). Takers waiting now re-measure their remaining
   * debt at the new rate; with the cap lifted they go at once and their debt is forgiven.
   */
  setRate(bytesPerSec: number | null, burstBytes?: number): void {
    checkRate(bytesPerSec)
    this.#refill()
    const wasUnlimited = this.#rate === null
    this.#rate = bytesPerSec
    this.#burst = burstFor(bytesPerSec, burstBytes)
    if (bytesPerSec === null) this.#tokens = 0
    else this.#tokens = wasUnlimited ? this.#burst : Math.min(this.#burst, this.#tokens)
    for (const wait of this.#waits) wait.abort()
  }

  /** Reserves `n` bytes; resolves when they may pass. An abort while waiting gives them back. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw new AbortError()
    if (n <= 0 || this.#rate === null) return
    this.#refill()
    this.#tokens -= n
    if (this.#tokens >= 0) return
    // Paid once the bucket has refilled everything owed up to and including these bytes.
    const target = this.#filled - this.#tokens
    for (;;) {
      this.#refill()
      const rate = this.#rate
      const left = target - this.#filled
      if (rate === null || left <= 1e-6) return
      const wake = new AbortController()
      this.#waits.add(wake)
      try {
        await this.#sleep(Math.ceil((left / rate) * 1000), signal === undefined ? wake.signal : AbortSignal.any([signal, wake.signal]))
      } catch (err) {
        // Woken by a rate change (not by the caller): measure again at the new rate.
        if (wake.signal.aborted && !callerAborted(signal)) continue
        this.#refill()
        if (this.#rate !== null) this.#tokens = Math.min(this.#burst, this.#tokens + n)
        throw err
      } finally {
        this.#waits.delete(wake)
      }
    }
  }

  #refill(): void {
    const now = this.#now()
    const elapsed = Math.max(0, now - this.#at)
    this.#at = now
    if (this.#rate === null) return
    const added = (elapsed / 1000) * this.#rate
    this.#filled += added
    this.#tokens = Math.min(this.#burst, this.#tokens + added)
  }
}

/** Read through a call, so the check is not narrowed away by the one at the top of `take`. */
function callerAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function checkRate(bytesPerSec: number | null): void {
  if (bytesPerSec !== null && !(bytesPerSec > 0 && Number.isFinite(bytesPerSec))) throw new RangeError('bytesPerSec must be positive, or null for no cap')
}

function burstFor(bytesPerSec: number | null, burstBytes: number | undefined): number {
  if (bytesPerSec === null) return Infinity
  return Math.max(1, Math.floor(burstBytes ?? bytesPerSec / 4))
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

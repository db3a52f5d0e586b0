// The token bucket and the throttled body against a fake clock; bandwidth.ts's cap on a real sync
// is tested in ../node-sync.test.ts.
import { describe, expect, it } from 'vitest'
import { AbortError } from '../errors.js'
import { limitFetch, throttle, TokenBucket } from './bandwidth.js'

/** Time that moves only when every pending sleeper is due and nothing else can run. */
class FakeTime {
  t = 0
  readonly #waiters: Array<{ at: number; resolve: () => void; reject: (e: Error) => void; signal?: AbortSignal }> = []
  readonly now = () => this.t
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted === true) return reject(new AbortError())
      const w = { at: this.t + ms, resolve, reject, signal }
      this.#waiters.push(w)
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.#waiters.indexOf(w)
          if (i < 0) return // already woken
          this.#waiters.splice(i, 1)
          reject(new AbortError())
        },
        { once: true },
      )
    })

  /** Runs until `done` settles, jumping to each next wake-up. */
  async run<T>(done: Promise<T>): Promise<T> {
    let finished = false
    const out = done.finally(() => (finished = true))
    for (;;) {
      await new Promise((r) => setImmediate(r))
      if (finished) return out
      this.#waiters.sort((a, b) => a.at - b.at)
      const w = this.#waiters.shift()
      if (w === undefined) return out
      this.t = Math.max(this.t, w.at)
      w.resolve()
    }
  }
}

function bytes(n: number, fill = 7): Uint8Array<ArrayBuffer> {
  return new Uint8Array(n).fill(fill)
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!)
      else c.close()
    },
  })
}

/** Reads a stream, noting the fake time at which each byte count arrived. */
async function readTimed(stream: ReadableStream<Uint8Array>, time: FakeTime): Promise<Array<{ t: number; total: number }>> {
  const seen: Array<{ t: number; total: number }> = []
  let total = 0
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength
    seen.push({ t: time.t, total })
  }
  return seen
}

describe('TokenBucket (fake clock)', () => {
  it('lets a burst through, then holds the rate', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 1000, burstBytes: 250, now: time.now, sleep: time.sleep })
    const arrivals: Array<{ t: number; total: number }> = []
    let total = 0
    await time.run(
      (async () => {
        for (let i = 0; i < 40; i++) {
          await bucket.take(100)
          total += 100
          arrivals.push({ t: time.t, total })
        }
      })(),
    )
    // 4000 bytes at 1000 B/s with 250 free: at least 3.75 s.
    expect(time.t).toBeGreaterThanOrEqual(3750)
    expect(time.t).toBeLessThan(3900)
    for (const a of arrivals) expect(a.total).toBeLessThanOrEqual(250 + (a.t / 1000) * 1000)
  })

  it('shares the rate between concurrent transfers', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 2048, burstBytes: 512, now: time.now, sleep: time.sleep })
    const a = readTimed(throttle(streamOf(Array.from({ length: 16 }, () => bytes(512))), bucket), time)
    const b = readTimed(throttle(streamOf(Array.from({ length: 16 }, () => bytes(512))), bucket), time)
    const [ra, rb] = await time.run(Promise.all([a, b]))
    expect(ra.at(-1)!.total + rb.at(-1)!.total).toBe(16_384)
    // Together 16 KB at 2 KB/s, less the 512 B burst.
    expect(time.t).toBeGreaterThanOrEqual(((16_384 - 512) / 2048) * 1000)
    const merged = [...ra.map((x) => ({ ...x, who: 'a' })), ...rb.map((x) => ({ ...x, who: 'b' }))].sort((x, y) => x.t - y.t)
    let sum = 0
    const last = { a: 0, b: 0 }
    for (const m of merged) {
      sum += m.total - last[m.who as 'a' | 'b']
      last[m.who as 'a' | 'b'] = m.total
      expect(sum).toBeLessThanOrEqual(512 + (m.t / 1000) * 2048)
    }
  })

  it('splits large chunks so data flows steadily', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 1000, now: time.now, sleep: time.sleep })
    expect(bucket.burstBytes).toBe(250)
    const seen = await time.run(readTimed(throttle(streamOf([bytes(10_000)]), bucket), time))
    expect(seen).toHaveLength(40)
    expect(seen.at(-1)!.total).toBe(10_000)
    expect(time.t).toBeGreaterThanOrEqual(9750)
  })

  it('an abort while waiting rejects with AbortError and gives the bytes back', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 100, burstBytes: 100, now: time.now, sleep: time.sleep })
    await bucket.take(100) // the burst
    const ac = new AbortController()
    const waiting = bucket.take(1000, ac.signal)
    ac.abort()
    await expect(waiting).rejects.toBeInstanceOf(AbortError)
    await expect(bucket.take(1, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError)
    // The aborted 1000 bytes were refunded: the next 50 need only half a second.
    await time.run(bucket.take(50))
    expect(time.t).toBe(500)
  })
})

describe('TokenBucket rate changes (the bandwidth setting, fake clock)', () => {
  it('a raised rate applies to a taker already waiting', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 100, burstBytes: 100, now: time.now, sleep: time.sleep })
    await bucket.take(100) // the burst
    let doneAt: number | null = null
    const waiting = bucket.take(1000).then(() => (doneAt = time.t))
    // At 100 B/s the 1000 bytes would need 10 s; after 1 s (100 paid) the rate goes to 900 B/s.
    const changed = (async () => {
      await time.sleep(1000)
      bucket.setRate(900)
    })()
    await time.run(Promise.all([waiting, changed]))
    expect(bucket.bytesPerSec).toBe(900)
    expect(bucket.burstBytes).toBe(225)
    // 900 bytes left at 900 B/s: one more second, not nine.
    expect(doneAt).toBe(2000)
  })

  it('a lowered rate slows transfers under way', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 1000, burstBytes: 100, now: time.now, sleep: time.sleep })
    const reading = readTimed(throttle(streamOf(Array.from({ length: 30 }, () => bytes(100))), bucket), time)
    const changed = (async () => {
      await time.sleep(1000)
      bucket.setRate(100, 100)
    })()
    const [seen] = await time.run(Promise.all([reading, changed]))
    expect(seen.at(-1)!.total).toBe(3000)
    // About 1100 bytes in the first second, the other ~1900 at 100 B/s.
    expect(time.t).toBeGreaterThanOrEqual(1000 + 18_000)
    for (const s of seen.filter((x) => x.t > 1000)) expect(s.total).toBeLessThanOrEqual(1100 + 100 + ((s.t - 1000) / 1000) * 100)
  })

  it('lifting the cap releases waiting takers at once; null means no cap from the start', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 10, burstBytes: 10, now: time.now, sleep: time.sleep })
    const waiting = bucket.take(10_000)
    await new Promise((r) => setImmediate(r))
    bucket.setRate(null)
    await time.run(waiting)
    expect(time.t).toBe(0)
    expect(bucket.bytesPerSec).toBeNull()
    expect(bucket.burstBytes).toBe(Infinity)
    const open = new TokenBucket({ bytesPerSec: null, now: time.now, sleep: time.sleep })
    const seen = await time.run(readTimed(throttle(streamOf([bytes(1_000_000)]), open), time))
    expect(seen).toHaveLength(1) // not split
    expect(time.t).toBe(0)
    // A cap set again starts from a full bucket and holds its rate.
    open.setRate(1000, 100)
    await time.run(open.take(1100))
    expect(time.t).toBe(1000)
    expect(() => open.setRate(0)).toThrow(RangeError)
    expect(() => open.setRate(Number.NaN)).toThrow(RangeError)
  })
})

describe('limitFetch', () => {
  it('keeps status, headers and url, and reads the body through the bucket', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 1000, burstBytes: 100, now: time.now, sleep: time.sleep })
    // A stand-in for the safe fetch: only the wrapper is under test here.
    const inner = async () => {
      const res = new Response(bytes(2000), { status: 203, headers: { 'content-type': 'application/vnd.ipld.car' } })
      Object.defineProperty(res, 'url', { value: 'http://pds.test/xrpc/com.atproto.sync.getRepo' })
      return res
    }
    const res = await limitFetch(inner, bucket)('http://pds.test/xrpc/com.atproto.sync.getRepo')
    expect(res.status).toBe(203)
    expect(res.headers.get('content-type')).toBe('application/vnd.ipld.car')
    expect(res.url).toBe('http://pds.test/xrpc/com.atproto.sync.getRepo')
    const body = await time.run(res.arrayBuffer())
    expect(body.byteLength).toBe(2000)
    expect(time.t).toBeGreaterThanOrEqual(1900)
  })

  it('an aborted request stops the body with AbortError', async () => {
    const time = new FakeTime()
    const bucket = new TokenBucket({ bytesPerSec: 10, burstBytes: 10, now: time.now, sleep: time.sleep })
    const ac = new AbortController()
    const res = await limitFetch(async () => new Response(bytes(1000)), bucket)('http://pds.test/', { signal: ac.signal })
    const reading = res.arrayBuffer()
    await new Promise((r) => setImmediate(r))
    ac.abort()
    await expect(reading).rejects.toBeInstanceOf(AbortError)
  })
})

// The scheduler's timing rules, driven by a fake clock: its `run` is a stand-in for
// AccountsService.sync that the test settles by hand (the real sync is covered in node-sync.test.ts).
import { describe, expect, it } from 'vitest'
import { AbortError, AccountPausedError } from '../errors.js'
import { firstDueAt, retryDelayMs, SyncScheduler, type SchedulerTimers, type SyncSchedulerInit } from './scheduler.js'

const MIN = 60_000
const HOUR = 60 * MIN

/** A clock whose timers fire only when the test advances it. */
class FakeClock {
  t = 1_000_000_000
  #next = 1
  readonly pending = new Map<number, { at: number; fn: () => void }>()
  readonly now = () => this.t
  readonly timers: SchedulerTimers = {
    setTimeout: (fn, ms) => {
      const id = this.#next++
      this.pending.set(id, { at: this.t + ms, fn })
      return id
    },
    clearTimeout: (h) => void this.pending.delete(h as number),
  }

  /** Moves time forward, firing due timers in order and letting promise callbacks run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await flush()
      const [id, timer] = [...this.pending].sort((a, b) => a[1].at - b[1].at)[0] ?? []
      if (id === undefined || timer === undefined || timer.at > end) break
      this.pending.delete(id)
      this.t = Math.max(this.t, timer.at)
      timer.fn()
    }
    this.t = end
    await flush()
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r))

interface Run {
  did: string
  at: number
  signal: AbortSignal
  resolve(): void
  reject(err: Error): void
}

function setup(over: Partial<SyncSchedulerInit> = {}) {
  const clock = new FakeClock()
  const runs: Run[] = []
  const paused = new Set<string>()
  const scheduler = new SyncScheduler({
    intervalMs: HOUR,
    run: (did, { signal }) =>
      new Promise<void>((resolve, reject) => {
        runs.push({ did, at: clock.t, signal, resolve, reject })
      }),
    isPaused: (did) => paused.has(did) || paused.has('*'),
    now: clock.now,
    timers: clock.timers,
    random: () => 0.5,
    retryBaseMs: MIN,
    ...over,
  })
  const active = () => runs.filter((r) => !settled.has(r))
  const settled = new Set<Run>()
  const finish = async (r: Run, err?: Error) => {
    settled.add(r)
    if (err === undefined) r.resolve()
    else r.reject(err)
    await flush()
  }
  return { clock, runs, paused, scheduler, active, finish }
}

describe('firstDueAt and retryDelayMs', () => {
  it('jitters the first run within ±10% of the interval after the last sync', () => {
    const now = 10 * HOUR
    const last = now - 30 * MIN
    const at = (r: number) => firstDueAt({ now, lastSyncAt: last, intervalMs: HOUR, jitter: 0.1, random: () => r })
    expect(at(0)).toBe(last + HOUR - 6 * MIN)
    expect(at(0.5)).toBe(last + HOUR)
    expect(at(0.999999)).toBeLessThanOrEqual(last + HOUR + 6 * MIN)
    for (let i = 0; i < 200; i++) {
      const d = at(Math.random()) - last
      expect(d).toBeGreaterThanOrEqual(0.9 * HOUR)
      expect(d).toBeLessThanOrEqual(1.1 * HOUR)
    }
  })

  it('spreads overdue and never-synced accounts over the first tenth of an interval from now', () => {
    const now = 10 * HOUR
    for (const lastSyncAt of [null, now - 5 * HOUR]) {
      for (const r of [0, 0.3, 0.999]) {
        const at = firstDueAt({ now, lastSyncAt, intervalMs: HOUR, jitter: 0.1, random: () => r })
        expect(at).toBeGreaterThanOrEqual(now)
        expect(at).toBeLessThanOrEqual(now + 6 * MIN)
      }
    }
  })

  it('doubles the retry delay from the base up to the interval', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelayMs(n, MIN, HOUR))).toEqual([MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 32 * MIN, HOUR, HOUR])
  })
})

describe('SyncScheduler (fake clock)', () => {
  it('runs an account when it is due, then one interval after the sync ends', async () => {
    const { clock, runs, scheduler, finish } = setup()
    scheduler.track('did:plc:a', clock.t - 40 * MIN) // random 0.5: no jitter, due in 20 min
    scheduler.start()
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(clock.t + 20 * MIN)
    await clock.advance(20 * MIN - 1)
    expect(runs).toHaveLength(0)
    await clock.advance(1)
    expect(runs.map((r) => r.did)).toEqual(['did:plc:a'])
    expect(scheduler.running).toBe(1)
    expect(scheduler.nextSyncAt('did:plc:a')).toBeNull() // running
    await clock.advance(5 * MIN) // the sync takes 5 minutes
    await finish(runs[0]!)
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(clock.t + HOUR)
    await clock.advance(HOUR)
    expect(runs).toHaveLength(2)
    expect(runs[1]!.at - runs[0]!.at).toBe(HOUR + 5 * MIN)
  })

  it('first runs of many accounts are spread by the jitter', async () => {
    let seed = 1
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    const { clock, scheduler } = setup({ random })
    const synced = clock.t
    for (let i = 0; i < 50; i++) scheduler.track(`did:plc:${i}`, synced)
    const due = scheduler.entries().map((e) => e.dueAt - synced)
    expect(Math.min(...due)).toBeGreaterThanOrEqual(0.9 * HOUR)
    expect(Math.max(...due)).toBeLessThanOrEqual(1.1 * HOUR)
    expect(new Set(due).size).toBe(50)
    expect(Math.max(...due) - Math.min(...due)).toBeGreaterThan(0.1 * HOUR) // not bunched
  })

  it('runs at most `concurrency` accounts at once; the others wait their turn', async () => {
    const { clock, runs, scheduler, active, finish } = setup({ concurrency: 2 })
    for (const d of ['a', 'b', 'c', 'd', 'e']) scheduler.track(`did:plc:${d}`, null)
    scheduler.start()
    await clock.advance(6 * MIN) // every account is due within the first tenth of the interval
    expect(active()).toHaveLength(2)
    expect(scheduler.running).toBe(2)
    let most = 0
    while (active().length > 0) {
      most = Math.max(most, active().length)
      await finish(active()[0]!)
    }
    expect(most).toBe(2)
    expect(runs.map((r) => r.did).sort()).toEqual(['a', 'b', 'c', 'd', 'e'].map((d) => `did:plc:${d}`))
    expect(scheduler.entries().every((e) => !e.running && e.dueAt > clock.t)).toBe(true)
  })

  it('backs a failing account off exponentially up to the interval without holding back others', async () => {
    let healthy = false
    const badStarts: number[] = []
    const goodStarts: number[] = []
    const { clock, scheduler } = setup({
      concurrency: 1,
      run: async (did) => {
        if (did === 'did:plc:good') return void goodStarts.push(clock.t)
        badStarts.push(clock.t)
        if (!healthy) throw new Error('PDS down')
      },
    })
    scheduler.track('did:plc:bad', clock.t - HOUR) // overdue: due in 3 min (random 0.5)
    scheduler.track('did:plc:good', clock.t - 50 * MIN) // due in 10 min
    scheduler.start()
    await clock.advance(4 * HOUR)
    const gaps = badStarts.slice(1).map((t, i) => t - badStarts[i]!)
    expect(gaps.slice(0, 7)).toEqual([MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 32 * MIN, HOUR])
    expect(goodStarts.length).toBeGreaterThanOrEqual(4) // every hour, whatever the other account does
    expect(scheduler.entries().find((e) => e.did === 'did:plc:bad')!.failures).toBe(badStarts.length)
    // A success clears the failures.
    healthy = true
    await clock.advance(HOUR)
    expect(scheduler.entries().find((e) => e.did === 'did:plc:bad')).toMatchObject({ failures: 0, dueAt: badStarts.at(-1)! + HOUR })
  })

  it('skips paused accounts and runs them as soon as they are resumed (they keep their due time)', async () => {
    const { clock, runs, paused, scheduler, finish } = setup()
    scheduler.track('did:plc:a', clock.t - 50 * MIN)
    scheduler.track('did:plc:b', clock.t - 50 * MIN)
    paused.add('did:plc:a')
    scheduler.start()
    expect(scheduler.nextSyncAt('did:plc:a')).toBeNull()
    await clock.advance(3 * HOUR)
    expect(runs.every((r) => r.did === 'did:plc:b')).toBe(true)
    paused.add('*') // the whole node
    for (const r of runs) await finish(r)
    const before = runs.length
    await clock.advance(3 * HOUR)
    expect(runs).toHaveLength(before)
    expect(scheduler.earliestNextSyncAt()).toBeNull()
    expect(clock.pending.size).toBe(0) // nothing to wake for while everything is paused
    paused.clear()
    scheduler.wake()
    await flush()
    expect(runs.slice(before).map((r) => r.did).sort()).toEqual(['did:plc:a', 'did:plc:b'])
  })

  it('an abort or a pause refusal is not a failure', async () => {
    const { clock, runs, paused, scheduler, finish } = setup()
    scheduler.track('did:plc:a', null)
    scheduler.start()
    await clock.advance(6 * MIN)
    paused.add('did:plc:a')
    await finish(runs[0]!, new AbortError())
    expect(scheduler.entries()[0]!.failures).toBe(0)
    paused.clear()
    scheduler.wake()
    await flush()
    expect(runs).toHaveLength(2) // due all along: resumed, it runs at once
    await finish(runs[1]!, new AccountPausedError('did:plc:a', 'node'))
    expect(scheduler.entries()[0]!.failures).toBe(0)
  })

  it('"sync now" moves the next periodic sync one interval after it', async () => {
    const { clock, runs, scheduler } = setup()
    scheduler.track('did:plc:a', clock.t - 55 * MIN) // due in 5 min
    scheduler.start()
    await clock.advance(2 * MIN)
    scheduler.synced('did:plc:a', clock.t) // a manual sync finished
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(clock.t + HOUR)
    await clock.advance(HOUR - 1)
    expect(runs).toHaveLength(0)
    await clock.advance(1)
    expect(runs).toHaveLength(1)
  })

  it('uses an account’s own interval when one is given', async () => {
    const { clock, scheduler } = setup({ intervalFor: (did) => (did === 'did:plc:fast' ? 10 * MIN : undefined) })
    scheduler.track('did:plc:fast', clock.t)
    scheduler.track('did:plc:slow', clock.t)
    expect(scheduler.nextSyncAt('did:plc:fast')).toBe(clock.t + 10 * MIN)
    expect(scheduler.nextSyncAt('did:plc:slow')).toBe(clock.t + HOUR)
  })

  it('replan: an account whose own interval changed moves at once; a running one keeps its state', async () => {
    const own = new Map<string, number>()
    const { clock, runs, scheduler, finish, active } = setup({ intervalFor: (did) => own.get(did) })
    const last = clock.t - 20 * MIN
    scheduler.track('did:plc:a', last)
    scheduler.track('did:plc:b', null)
    scheduler.start()
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(last + HOUR)
    own.set('did:plc:a', 30 * MIN)
    scheduler.replan('did:plc:a', last)
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(last + 30 * MIN)
    // Shorter than the time since the last sync: it runs now.
    own.set('did:plc:a', 10 * MIN)
    scheduler.replan('did:plc:a', last)
    await clock.advance(3 * MIN)
    expect(runs.map((r) => r.did)).toContain('did:plc:a')
    const run = runs.find((r) => r.did === 'did:plc:a')!
    scheduler.replan('did:plc:a', last)
    expect(scheduler.nextSyncAt('did:plc:a')).toBeNull() // running: untouched
    await finish(run)
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(clock.t + 10 * MIN)
    scheduler.replan('did:plc:unknown', null) // untracked: nothing happens
    expect(scheduler.has('did:plc:unknown')).toBe(false)
    for (const r of active()) await finish(r)
    await scheduler.stop()
  })

  it('a changed interval applies at once: waiting accounts move, running and retrying ones keep their time', async () => {
    const { clock, runs, scheduler, finish } = setup({ intervalFor: (did) => (did === 'did:plc:own' ? 2 * HOUR : undefined) })
    scheduler.track('did:plc:a', clock.t - 30 * MIN) // due in 30 min
    scheduler.track('did:plc:b', clock.t - 50 * MIN) // due in 10 min
    scheduler.track('did:plc:own', clock.t) // its own 2 h period
    scheduler.start()
    expect(scheduler.intervalMs).toBe(HOUR)
    // Longer: a is due 30 min later than before.
    scheduler.setIntervalMs(2 * HOUR)
    expect(scheduler.intervalMs).toBe(2 * HOUR)
    expect(scheduler.nextSyncAt('did:plc:a')).toBe(clock.t + 90 * MIN)
    expect(scheduler.nextSyncAt('did:plc:own')).toBe(clock.t + 2 * HOUR)
    // Shorter than the time since the last sync: due now, and it runs without waiting for the old timer.
    scheduler.setIntervalMs(20 * MIN)
    await clock.advance(0)
    expect(runs.map((r) => r.did).sort()).toEqual(['did:plc:a', 'did:plc:b'])
    // A running account keeps its state; once done it is due one (new) interval later.
    scheduler.setIntervalMs(10 * MIN)
    await finish(runs[0]!)
    expect(scheduler.nextSyncAt(runs[0]!.did)).toBe(clock.t + 10 * MIN)
    // A failing account keeps its retry time.
    await finish(runs[1]!, new Error('PDS down'))
    const retryAt = scheduler.nextSyncAt(runs[1]!.did)
    expect(retryAt).toBe(clock.t + MIN)
    scheduler.setIntervalMs(HOUR)
    expect(scheduler.nextSyncAt(runs[1]!.did)).toBe(retryAt)
    expect(() => scheduler.setIntervalMs(0)).toThrow(RangeError)
    await scheduler.stop()
  })

  it('forgets untracked accounts and ones the run reports unknown', async () => {
    const { clock, runs, scheduler, finish } = setup()
    scheduler.track('did:plc:a', null)
    scheduler.track('did:plc:b', null)
    scheduler.start()
    scheduler.untrack('did:plc:a')
    await clock.advance(6 * MIN)
    expect(runs.map((r) => r.did)).toEqual(['did:plc:b'])
    const { UnknownAccountError } = await import('../errors.js')
    await finish(runs[0]!, new UnknownAccountError('did:plc:b'))
    expect(scheduler.entries()).toEqual([])
    expect(clock.pending.size).toBe(0)
  })

  it('stops cleanly: no timer left, its runs aborted and settled', async () => {
    const { clock, runs, scheduler } = setup()
    scheduler.track('did:plc:a', null)
    scheduler.track('did:plc:b', clock.t)
    scheduler.start()
    await clock.advance(6 * MIN)
    expect(runs).toHaveLength(1)
    expect(clock.pending.size).toBe(1) // b's timer
    runs[0]!.signal.addEventListener('abort', () => runs[0]!.reject(new AbortError()))
    await scheduler.stop()
    expect(runs[0]!.signal.aborted).toBe(true)
    expect(clock.pending.size).toBe(0)
    expect(scheduler.running).toBe(0)
    scheduler.track('did:plc:c', null)
    scheduler.wake()
    await clock.advance(2 * HOUR)
    expect(runs).toHaveLength(1)
  })
})

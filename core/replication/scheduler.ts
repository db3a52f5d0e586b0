/**
 * Periodic incremental sync of every held account.
 *
 * The timing rules are pure functions ({@link firstDueAt}, {@link retryDelayMs}) and the
 * {@link SyncScheduler} does I/O only through what it is given: `run` (the node passes
 * `AccountsService.sync`), a clock and timers. Tests drive it with a fake clock.
 *
 * - Each account is due every `intervalMs` after its last successful sync (a per-account
 *   interval from `intervalFor`, once policies give one, overrides the default).
 * - The first run is jittered by ±`jitter` of the interval, so accounts held since the same
 *   moment do not all fire together; accounts already overdue are spread over the first
 *   `jitter` of an interval.
 * - At most `concurrency` scheduled syncs run at once; the others wait their turn.
 * - A failed sync is retried after `retryBaseMs`, doubling each time up to the interval, without
 *   holding back other accounts. An aborted or refused-as-paused run is no failure.
 * - A paused account (or a paused node: `isPaused` says which) is skipped, and keeps its due time
 *   (a run aborted by the pause too): resumed, it runs as soon as it is due.
 * - Any successful sync, scheduled or "sync now", makes the account due one interval later
 *   ({@link SyncScheduler.synced}).
 * - `stop()` leaves no timer behind and aborts the runs it started.
 * - The default interval can change while running ({@link SyncScheduler.setIntervalMs}): waiting
 *   accounts move to one new interval after their last sync.
 */
import { AbortError, AccountPausedError, UnknownAccountError } from '../errors.js'

/** Timers the scheduler arms (one at a time). Tests pass a fake clock's. */
export interface SchedulerTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** What a {@link SyncScheduler} is made from. */
export interface SyncSchedulerInit {
  /** Syncs one account; rejects when the sync failed. Called with the run's abort signal. */
  run(did: string, options: { signal: AbortSignal }): Promise<unknown>
  /** Default period between two syncs of an account, in ms (`SYNC_INTERVAL_SEC`). */
  intervalMs: number
  /** The account's own period in ms (from policies), or undefined for the default. @default none */
  intervalFor?(did: string): number | undefined
  /** Whether syncing the account is paused (the account itself, or the whole node). @default never */
  isPaused?(did: string): boolean
  /** Scheduled syncs running at once. @default 2 */
  concurrency?: number
  /** Spread of the first run, as a fraction of the interval (±). @default 0.1 */
  jitter?: number
  /** First retry delay after a failure, in ms; doubles per failure, capped at the interval. @default 60000 */
  retryBaseMs?: number
  /** @default Date.now */
  now?: () => number
  /** Uniform in [0, 1), for the jitter. @default Math.random */
  random?: () => number
  /** @default the global setTimeout / clearTimeout (unref'd, so they never keep a process alive) */
  timers?: SchedulerTimers
  /** Called after anything that can change {@link SyncScheduler.nextSyncAt} or what is running. */
  onChange?(): void
}

/** One tracked account, as the scheduler sees it. */
export interface ScheduleEntry {
  did: string
  /** Unix ms at which the account is next due. */
  dueAt: number
  /** Failures in a row (0 after a success). */
  failures: number
  /** Whether a run the scheduler started is in flight. */
  running: boolean
}

/** setTimeout's largest delay (about 24.8 days); longer waits re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * When an account is first due once the scheduler learns of it: one interval after its last
 * successful sync, ± `jitter` of the interval. When that is already past (or it never synced),
 * somewhere in the first `jitter` of an interval from now.
 */
export function firstDueAt(input: { now: number; lastSyncAt: number | null; intervalMs: number; jitter: number; random: () => number }): number {
  const { now, lastSyncAt, intervalMs, jitter, random } = input
  const spread = jitter * intervalMs
  if (lastSyncAt !== null) {
    const due = lastSyncAt + intervalMs + (2 * random() - 1) * spread
    if (due >= now) return due
  }
  return now + random() * spread
}

/** Wait before retrying after `failures` failures in a row (≥ 1): doubling from `retryBaseMs`, at most the interval. */
export function retryDelayMs(failures: number, retryBaseMs: number, intervalMs: number): number {
  return Math.min(intervalMs, retryBaseMs * 2 ** Math.max(0, Math.min(failures - 1, 40)))
}

interface Entry extends ScheduleEntry {
  controller: AbortController | null
  promise: Promise<void> | null
}

const defaultTimers: SchedulerTimers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

export class SyncScheduler {
  readonly #init: SyncSchedulerInit
  readonly #now: () => number
  readonly #random: () => number
  readonly #timers: SchedulerTimers
  readonly #concurrency: number
  readonly #jitter: number
  readonly #retryBaseMs: number
  #intervalMs: number
  readonly #entries = new Map<string, Entry>()
  #timer: unknown = undefined
  #started = false
  #stopped = false
  #inFlight = 0

  constructor(init: SyncSchedulerInit) {
    if (!(init.intervalMs > 0)) throw new RangeError('intervalMs must be positive')
    this.#init = init
    this.#intervalMs = init.intervalMs
    this.#now = init.now ?? Date.now
    this.#random = init.random ?? Math.random
    this.#timers = init.timers ?? defaultTimers
    this.#concurrency = Math.max(1, init.concurrency ?? 2)
    this.#jitter = init.jitter ?? 0.1
    this.#retryBaseMs = init.retryBaseMs ?? 60_000
  }

  /** Scheduled syncs in flight. */
  get running(): number {
    return this.#inFlight
  }

  /** Starts firing due accounts. Accounts may be tracked before or after. */
  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.#pump()
  }

  /** Clears the timer and aborts the runs it started; resolves once they settled. Final. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#clearTimer()
    const runs: Array<Promise<void>> = []
    for (const e of this.#entries.values()) {
      e.controller?.abort()
      if (e.promise !== null) runs.push(e.promise)
    }
    await Promise.allSettled(runs)
  }

  /** Starts scheduling an account (no-op when already tracked). `lastSyncAt`: its last successful sync, Unix ms. */
  track(did: string, lastSyncAt: number | null): void {
    if (this.#entries.has(did) || this.#stopped) return
    const dueAt = firstDueAt({ now: this.#now(), lastSyncAt, intervalMs: this.#interval(did), jitter: this.#jitter, random: this.#random })
    this.#entries.set(did, { did, dueAt, failures: 0, running: false, controller: null, promise: null })
    this.#changed()
  }

  /** Stops scheduling an account (a run in flight is left to its caller to abort). */
  untrack(did: string): void {
    if (!this.#entries.delete(did)) return
    this.#changed()
  }

  /** Whether the account is scheduled. */
  has(did: string): boolean {
    return this.#entries.has(did)
  }

  /** A sync of the account succeeded at `at` (any sync: scheduled or "sync now"): next due one interval later. */
  synced(did: string, at: number = this.#now()): void {
    const e = this.#entries.get(did)
    if (e === undefined) return
    e.failures = 0
    e.dueAt = at + this.#interval(did)
    this.#changed()
  }

  /** The default period between two syncs of an account, in ms. */
  get intervalMs(): number {
    return this.#intervalMs
  }

  /**
   * Changes the default period at once (the sync interval setting). Each account on the default
   * period that waits for its next periodic sync becomes due one new period after its last one
   * (at once when that is past); accounts with their own period, running, or retrying after a
   * failure keep their time.
   */
  setIntervalMs(ms: number): void {
    if (!(ms > 0)) throw new RangeError('intervalMs must be positive')
    const old = this.#intervalMs
    if (ms === old) return
    this.#intervalMs = ms
    for (const e of this.#entries.values()) {
      if (e.running || e.failures > 0) continue
      const own = this.#init.intervalFor?.(e.did)
      if (own !== undefined && own > 0) continue
      e.dueAt = e.dueAt - old + ms
    }
    this.#changed()
  }

  /**
   * The account's own period changed (`intervalFor` now says something else): a waiting account
   * becomes due one new period after `lastSyncAt` (soon, within the jitter, when that is past);
   * a running or retrying one keeps its time. No-op when untracked.
   */
  replan(did: string, lastSyncAt: number | null): void {
    const e = this.#entries.get(did)
    if (e === undefined || e.running || e.failures > 0 || this.#stopped) return
    e.dueAt = firstDueAt({ now: this.#now(), lastSyncAt, intervalMs: this.#interval(did), jitter: this.#jitter, random: this.#random })
    this.#changed()
  }

  /** Re-evaluates what is due (call after a pause or resume, or an interval change). */
  wake(): void {
    this.#changed()
  }

  /** When the account's next scheduled sync is, Unix ms; null when untracked, paused or running now. */
  nextSyncAt(did: string): number | null {
    const e = this.#entries.get(did)
    if (e === undefined || e.running || this.#paused(did)) return null
    return e.dueAt
  }

  /** The earliest {@link nextSyncAt} of any account, or null. */
  earliestNextSyncAt(): number | null {
    let min: number | null = null
    for (const e of this.#entries.values()) {
      const at = this.nextSyncAt(e.did)
      if (at !== null && (min === null || at < min)) min = at
    }
    return min
  }

  /** A copy of every tracked account's schedule, soonest first. */
  entries(): ScheduleEntry[] {
    return [...this.#entries.values()]
      .map(({ did, dueAt, failures, running }) => ({ did, dueAt, failures, running }))
      .sort((a, b) => a.dueAt - b.dueAt || a.did.localeCompare(b.did))
  }

  #interval(did: string): number {
    const own = this.#init.intervalFor?.(did)
    return own !== undefined && own > 0 ? own : this.#intervalMs
  }

  #paused(did: string): boolean {
    return this.#init.isPaused?.(did) ?? false
  }

  #changed(): void {
    this.#pump()
    this.#init.onChange?.()
  }

  /** Starts what is due (up to the limit), then arms the timer for the next due account. */
  #pump(): void {
    if (!this.#started || this.#stopped) return
    const now = this.#now()
    let next: number | null = null
    for (const e of [...this.#entries.values()].sort((a, b) => a.dueAt - b.dueAt)) {
      if (e.running || this.#paused(e.did)) continue
      if (e.dueAt <= now && this.#inFlight < this.#concurrency) {
        this.#startRun(e)
        continue
      }
      // Due but over the limit: a finishing run pumps again, no timer needed for it.
      if (e.dueAt > now && (next === null || e.dueAt < next)) next = e.dueAt
    }
    this.#clearTimer()
    if (next !== null) {
      this.#timer = this.#timers.setTimeout(() => {
        this.#timer = undefined
        this.#changed()
      }, Math.min(MAX_TIMER_MS, Math.max(0, next - now)))
    }
  }

  #startRun(e: Entry): void {
    const controller = new AbortController()
    e.running = true
    e.controller = controller
    this.#inFlight++
    let run: Promise<unknown>
    try {
      run = this.#init.run(e.did, { signal: controller.signal })
    } catch (err) {
      run = Promise.reject(err as Error)
    }
    e.promise = run.then(
      () => this.#settled(e, null),
      (err: unknown) => this.#settled(e, err ?? new Error('sync failed')),
    )
  }

  #settled(e: Entry, err: unknown): void {
    e.running = false
    e.controller = null
    e.promise = null
    this.#inFlight--
    if (this.#stopped) return
    const now = this.#now()
    if (err === null) {
      e.failures = 0
      e.dueAt = now + this.#interval(e.did)
    } else if (err instanceof UnknownAccountError) {
      this.#entries.delete(e.did)
    } else if (err instanceof AbortError || err instanceof AccountPausedError) {
      // Not a failure of the account. Paused: it stays due, so a resume runs it at once.
      // Otherwise (aborted for another reason) wait a little rather than spin.
      if (!this.#paused(e.did)) e.dueAt = Math.max(e.dueAt, now + Math.min(this.#retryBaseMs, this.#interval(e.did)))
    } else {
      e.failures++
      e.dueAt = now + retryDelayMs(e.failures, this.#retryBaseMs, this.#interval(e.did))
    }
    this.#changed()
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return
    this.#timers.clearTimeout(this.#timer)
    this.#timer = undefined
  }
}

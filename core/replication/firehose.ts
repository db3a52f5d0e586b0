/**
 * The firehose consumer: follows `com.atproto.sync.subscribeRepos` (a relay, or a PDS) and keeps
 * held accounts current between periodic syncs.
 *
 * - One WebSocket at a time; frames are handled one by one, in order, by a {@link FirehoseHandler}
 *   (verification, atomic apply with the cursor, resync decisions). A new connection resumes from
 *   the last frame handled, so nothing is skipped and nothing applied twice.
 * - Reconnects after a close or an error with exponential backoff and jitter; a stream that
 *   answers neither frames nor pings for {@link FirehoseConsumerInit.stallTimeoutMs} is cut and
 *   reconnected.
 * - Accounts that owe a resync are synced through the caller's `resync` (the node passes
 *   `AccountsService.sync`), retried with backoff when that fails; the commits that arrived in
 *   the meantime are replayed afterwards.
 * - Blobs referenced by newly applied records are fetched right away (`syncBlobs`).
 * - Never rejects into the host: failures become state (a sentence per account) and `onChange`.
 */
import WebSocket from 'ws'
import type { Database } from 'better-sqlite3'
import { AccountPausedError, toErrorDto } from '../errors.js'
import type { ResolvedIdentity } from '../identity/types.js'
import type { RepoStorage } from '../storage/types.js'
import { syncBlobs } from './blob-sync.js'
import { FirehoseHandler, type FrameOutcome } from './firehose-handler.js'
import { FirehoseStore, type LiveRow } from './firehose-store.js'
import type { FetchLike } from './pds-client.js'

/** Where the connection to the stream stands. */
export type FirehoseConnection = 'connecting' | 'connected' | 'waiting' | 'stopped'

/** Live state of one account, as the firehose sees it. */
export type LiveStateName = 'live' | 'catching-up' | 'resyncing' | 'paused' | 'error' | 'off'

/** One account's live state. */
export interface AccountLive {
  did: string
  state: LiveStateName
  /** Why, in a sentence (null when live). */
  reason: string | null
  /** Hosting status from the last `#account` event (`active` until one says otherwise). */
  status: string
  /** Unix ms the last event of the account was handled, or null. */
  lastEventAt: number | null
  /** Commits applied from the stream, ever. */
  eventsApplied: number
  /** How far behind the stream the node is, in ms (handled time minus the event's own time), or null. */
  lagMs: number | null
}

/** The stream as a whole. */
export interface FirehoseState {
  url: string
  connection: FirehoseConnection
  /** The seq of the last frame handled. */
  cursor: number | null
  /** Unix ms the last frame was handled. */
  lastEventAt: number | null
  lagMs: number | null
  /** Connections lost (or failed) since start. */
  reconnects: number
  /** The last connection problem in a sentence, or null once frames flow again. */
  lastError: string | null
  /** Unix ms of the next connection attempt while waiting. */
  nextAttemptAt: number | null
}

/** What a {@link FirehoseConsumer} is made from. */
export interface FirehoseConsumerInit {
  /** `subscribeRepos` URL (`ws(s)://host/xrpc/com.atproto.sync.subscribeRepos`; http(s) is turned into ws(s)). */
  url: string
  db: Database
  storage: RepoStorage
  resolve(did: string, options: { forceRefresh: boolean }): Promise<ResolvedIdentity>
  /** Whether syncing the account is paused (one account, or the node). */
  isPaused(did: string): boolean
  /** Resyncs an account (`getRepo` since its head, then blobs); rejects when that failed. */
  resync(did: string): Promise<unknown>
  /** Fetch for blob downloads (the node's safe, bandwidth-capped fetch). @default globalThis.fetch */
  fetch?: FetchLike
  /** Called (at most every `changeIntervalMs`) when live state changed. @default none */
  onChange?(): void
  /** Called for every frame of a held account (after it was handled). @default none */
  onOutcome?(outcome: FrameOutcome): void
  /** Least time between two `onChange` calls, in ms. @default 1000 */
  changeIntervalMs?: number
  /** First reconnect delay, in ms; doubles per failure, with jitter. @default 1000 */
  backoffBaseMs?: number
  /** Longest reconnect delay, in ms. @default 60000 */
  backoffMaxMs?: number
  /** Period of pings, in ms. @default 15000 */
  pingIntervalMs?: number
  /** A stream silent (no frame, no pong) this long is cut and reconnected, in ms. @default 45000 */
  stallTimeoutMs?: number
  /** Largest frame accepted, in bytes. @default 16 MiB */
  maxFrameBytes?: number
  /** Lag above which an account shows as catching up, in ms. @default 15000 */
  catchingUpLagMs?: number
  /** First retry delay of a failed resync, in ms (doubles, at most 10 minutes). @default 30000 */
  resyncRetryMs?: number
  /** Uniform in [0, 1), for the jitter. @default Math.random */
  random?: () => number
  /** @default Date.now */
  now?: () => number
}

/** The `subscribeRepos` endpoint for a configured URL. */
export function subscribeReposUrl(configured: string): string {
  const url = new URL(configured)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  if (url.protocol === 'https:') url.protocol = 'wss:'
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/xrpc/com.atproto.sync.subscribeRepos'
  url.search = ''
  return url.toString()
}

/** Reconnect delay after `failures` failures in a row (≥ 1): doubling, capped, times a jitter in [0.5, 1). */
export function reconnectDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)))
  return Math.round(ceiling * (0.5 + random() / 2))
}

const HIGH_WATER = 2000
const LOW_WATER = 200
/** Frames handed to the handler at once when they queue up (their commits are stored together). */
const MAX_BATCH = 1000

export class FirehoseConsumer {
  readonly url: string
  readonly #init: FirehoseConsumerInit
  readonly #now: () => number
  readonly #random: () => number
  readonly #store: FirehoseStore
  readonly #handler: FirehoseHandler
  readonly #held = new Set<string>()
  readonly #rows = new Map<string, LiveRow>()
  #ws: WebSocket | undefined
  #connection: FirehoseConnection = 'stopped'
  #stopped = true
  #failures = 0
  #reconnects = 0
  #lastError: string | null = null
  #nextAttemptAt: number | null = null
  #retryTimer: NodeJS.Timeout | undefined
  #pingTimer: NodeJS.Timeout | undefined
  #lastActivity = 0
  #chain: Promise<void> = Promise.resolve()
  #pending = 0
  /** Frames received and not yet handed to the handler; a drain is queued while it is not empty. */
  #queue: Uint8Array[] = []
  #drainQueued = false
  #paused = false
  #noCursor = false
  readonly #resyncing = new Map<string, Promise<void>>()
  readonly #resyncRetry = new Map<string, NodeJS.Timeout>()
  readonly #resyncFailures = new Map<string, number>()
  /** Per account: the blob fetch running, and the CIDs new commits brought meanwhile. */
  readonly #blobs = new Map<string, { cids: Set<string> }>()
  #changeTimer: NodeJS.Timeout | undefined
  #changeAt = 0

  constructor(init: FirehoseConsumerInit) {
    this.#init = init
    this.url = subscribeReposUrl(init.url)
    this.#now = init.now ?? Date.now
    this.#random = init.random ?? Math.random
    this.#store = new FirehoseStore({ db: init.db, repos: init.storage.repos })
    this.#handler = new FirehoseHandler({
      url: this.url,
      storage: init.storage,
      store: this.#store,
      resolve: init.resolve,
      isHeld: (did) => this.#held.has(did),
      isPaused: init.isPaused,
      requestResync: (did) => this.#requestResync(did),
      now: this.#now,
    })
  }

  /** Loads the held accounts, starts owed resyncs and connects. */
  async start(): Promise<void> {
    if (!this.#stopped) return
    this.#stopped = false
    await this.refreshAccounts()
    for (const did of this.#handler.owedResyncs()) this.#requestResync(did)
    this.#connect()
  }

  /** Disconnects, stops timers and waits for the frame being handled. Saves the cursor. Final for this instance. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#connection = 'stopped'
    clearTimeout(this.#retryTimer)
    clearInterval(this.#pingTimer)
    clearTimeout(this.#changeTimer)
    for (const t of this.#resyncRetry.values()) clearTimeout(t)
    this.#resyncRetry.clear()
    this.#ws?.terminate()
    this.#ws = undefined
    await this.#chain
    try {
      this.#handler.flushCursor()
    } catch {
      // The database is already closing: the frames since the last save are handled again next time.
    }
  }

  /** The accounts held, as last read by {@link refreshAccounts}. */
  heldDids(): string[] {
    return [...this.#held]
  }

  /** Re-reads which accounts are held (call after one is added or removed). */
  async refreshAccounts(): Promise<void> {
    const accounts = await this.#init.storage.repos.listAccounts()
    this.#held.clear()
    for (const a of accounts) this.#held.add(a.did)
    this.#handler.forgetAllBut(this.#held)
    this.#rows.clear()
    for (const r of this.#store.rows()) this.#rows.set(r.did, r)
  }

  /**
   * A paused account (or the node) was resumed, or the storage cap raised: start the resyncs it
   * owes now, also those waiting out a retry delay after failing (the cause may be what changed).
   */
  resumed(did?: string): void {
    for (const owed of this.#handler.owedResyncs()) {
      if (did !== undefined && owed !== did) continue
      const retry = this.#resyncRetry.get(owed)
      if (retry !== undefined) {
        clearTimeout(retry)
        this.#resyncRetry.delete(owed)
      }
      this.#requestResync(owed)
    }
  }

  /** The stream's state. */
  state(): FirehoseState {
    return {
      url: this.url,
      connection: this.#connection,
      cursor: this.#handler.cursor,
      lastEventAt: this.#handler.lastHandledAt,
      lagMs: this.#lagMs(),
      reconnects: this.#reconnects,
      lastError: this.#lastError,
      nextAttemptAt: this.#nextAttemptAt,
    }
  }

  /** The live state of a held account. */
  live(did: string): AccountLive {
    const row = this.#rows.get(did) ?? null
    const base = {
      did,
      status: row?.status ?? 'active',
      lastEventAt: row?.lastEventAt ?? null,
      eventsApplied: row?.eventsApplied ?? 0,
      lagMs: this.#lagMs(),
    }
    const named = (state: LiveStateName, reason: string | null): AccountLive => ({ ...base, state, reason })
    if (this.#init.isPaused(did)) return named('paused', 'Syncing this account is paused; changes are caught up when it is resumed.')
    if (this.#resyncing.has(did)) return named('resyncing', `Fetching what the stream could not give: ${row?.resyncReason ?? 'a resync was asked for'}.`)
    if (row?.error != null) return named('error', row.error)
    if (row !== null && row.status !== 'active') return named('error', `The account is ${row.status} at its PDS; the archived data is kept.`)
    if (row?.resyncReason != null) return named('resyncing', `A resync is waiting: ${row.resyncReason}.`)
    if (this.#connection !== 'connected') {
      if (this.#failures >= 3 && this.#lastError !== null) return named('error', this.#lastError)
      return named('catching-up', this.#connection === 'waiting' ? `Reconnecting to the firehose${this.#lastError ? ` (${this.#lastError})` : ''}.` : 'Connecting to the firehose.')
    }
    const lag = base.lagMs
    if (lag !== null && lag > (this.#init.catchingUpLagMs ?? 15_000)) return named('catching-up', `Catching up with the firehose, ${Math.round(lag / 1000)} s behind.`)
    return named('live', null)
  }

  #lagMs(): number | null {
    const t = this.#handler.lastEventTime
    const at = this.#handler.lastHandledAt
    return t === null || at === null ? null : Math.max(0, at - t)
  }

  // --- Connection ------------------------------------------------------------------------------

  #connect(): void {
    if (this.#stopped) return
    this.#connection = 'connecting'
    this.#nextAttemptAt = null
    const target = new URL(this.url)
    const cursor = this.#handler.cursor
    if (cursor !== null && !this.#noCursor) target.searchParams.set('cursor', String(cursor))
    let ws: WebSocket
    try {
      ws = new WebSocket(target, { maxPayload: this.#init.maxFrameBytes ?? 16 * 1024 * 1024, handshakeTimeout: 15_000 })
    } catch (err) {
      this.#lost(`The firehose URL ${this.url} cannot be opened: ${(err as Error).message}`)
      return
    }
    this.#ws = ws
    ws.binaryType = 'nodebuffer'
    this.#lastActivity = this.#now()
    ws.on('open', () => {
      if (this.#ws !== ws) return
      this.#connection = 'connected'
      this.#changed()
      const every = this.#init.pingIntervalMs ?? 15_000
      clearInterval(this.#pingTimer)
      this.#pingTimer = setInterval(() => this.#checkStall(ws), every)
      this.#pingTimer.unref()
    })
    ws.on('pong', () => {
      this.#lastActivity = this.#now()
    })
    ws.on('message', (data: Buffer) => {
      if (this.#ws !== ws) return
      this.#lastActivity = this.#now()
      if (this.#failures > 0 || this.#lastError !== null) {
        this.#failures = 0
        this.#lastError = null
      }
      this.#enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    })
    ws.on('error', (err) => {
      if (this.#ws !== ws) return
      this.#lastError = `The firehose at ${this.url} failed: ${err.message}`
    })
    ws.on('close', (code, reason) => {
      if (this.#ws !== ws) return
      const why = reason.length > 0 ? reason.toString() : `closed with code ${code}`
      this.#lost(this.#lastError ?? `The firehose at ${this.url} ${why}`)
    })
  }

  #checkStall(ws: WebSocket): void {
    if (this.#ws !== ws) return
    const silent = this.#now() - this.#lastActivity
    if (silent > (this.#init.stallTimeoutMs ?? 45_000)) {
      this.#lastError = `The firehose at ${this.url} stalled (nothing for ${Math.round(silent / 1000)} s)`
      ws.terminate()
      return
    }
    try {
      ws.ping()
    } catch {
      // Closing already: the close handler reconnects.
    }
  }

  #lost(reason: string): void {
    clearInterval(this.#pingTimer)
    this.#ws = undefined
    if (this.#stopped) return
    try {
      this.#handler.flushCursor()
    } catch {
      // Saved with the next change instead.
    }
    this.#failures++
    this.#reconnects++
    this.#lastError = reason
    const delay = reconnectDelayMs(this.#failures, this.#init.backoffBaseMs ?? 1000, this.#init.backoffMaxMs ?? 60_000, this.#random)
    this.#connection = 'waiting'
    this.#nextAttemptAt = this.#now() + delay
    this.#changed()
    clearTimeout(this.#retryTimer)
    this.#retryTimer = setTimeout(() => this.#connect(), delay)
    this.#retryTimer.unref()
  }

  // --- Frames ----------------------------------------------------------------------------------

  #enqueue(bytes: Uint8Array): void {
    this.#pending++
    if (this.#pending > HIGH_WATER && !this.#paused) {
      this.#paused = true
      this.#ws?.pause()
    }
    this.#queue.push(bytes)
    if (this.#drainQueued) return
    this.#drainQueued = true
    void this.#serial(async () => {
      this.#drainQueued = false
      await this.#drain()
    })
  }

  /**
   * Hands the queued frames to the handler, up to {@link MAX_BATCH} at a time: one frame when the
   * stream is calm, many when the node is behind (then their commits are stored in one
   * transaction, see {@link FirehoseHandler.handleBatch}).
   */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.length <= MAX_BATCH ? this.#queue : this.#queue.slice(0, MAX_BATCH)
      this.#queue = this.#queue.length <= MAX_BATCH ? [] : this.#queue.slice(MAX_BATCH)
      try {
        for (const outcome of await this.#handler.handleBatch(batch)) this.#after(outcome)
      } finally {
        this.#pending -= batch.length
        if (this.#paused && this.#pending < LOW_WATER) {
          this.#paused = false
          this.#ws?.resume()
        }
      }
    }
  }

  /** Runs `fn` after everything queued before it; a failure is recorded, never thrown. */
  #serial(fn: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(fn).catch((err: unknown) => {
      this.#lastError = `A firehose event could not be handled: ${toErrorDto(err).message}`
      this.#changed()
    })
    return this.#chain
  }

  #after(outcome: FrameOutcome): void {
    if (outcome.result === 'bad-frame' && outcome.errorName !== undefined) {
      // FutureCursor: the stream does not know our cursor (reset upstream): start from now, and
      // resync every held account, since what happened in between cannot be replayed.
      if (outcome.errorName === 'FutureCursor') {
        this.#noCursor = true
        this.#handler.resetCursor()
        for (const did of this.#held) this.#requestResync(did)
      }
      this.#lastError = outcome.reason ?? null
      this.#ws?.terminate()
      return
    }
    if (this.#noCursor && outcome.seq !== undefined) this.#noCursor = false
    const did = outcome.did
    if (did === undefined || !this.#held.has(did) || outcome.result === 'skipped') return
    const row = this.#store.row(did)
    if (row !== null) this.#rows.set(did, row)
    if (outcome.result === 'applied' && outcome.newBlobs !== undefined && outcome.newBlobs.length > 0) this.#fetchBlobs(did, outcome.newBlobs)
    this.#init.onOutcome?.(outcome)
    this.#changed()
  }

  // --- Resyncs and blobs -----------------------------------------------------------------------

  #requestResync(did: string): void {
    if (this.#stopped || this.#resyncing.has(did) || this.#resyncRetry.has(did) || this.#init.isPaused(did)) return
    const run = (async () => {
      let ok = false
      let error: string | undefined
      try {
        await this.#init.resync(did)
        ok = true
      } catch (err) {
        error = toErrorDto(err).message
        if (err instanceof AccountPausedError) error = undefined
      }
      this.#resyncing.delete(did)
      if (this.#stopped) return
      await this.#serial(async () => {
        if (error === undefined && !ok) return // paused meanwhile: still owed, resumed later
        const replayed = await this.#handler.resyncFinished(did, ok, error)
        const row = this.#store.row(did)
        if (row !== null) this.#rows.set(did, row)
        for (const outcome of replayed) this.#after(outcome)
      })
      if (!ok && error !== undefined) this.#retryResync(did)
      else if (ok) this.#resyncFailures.delete(did)
      this.#changed()
    })()
    this.#resyncing.set(did, run)
    this.#changed()
  }

  #retryResync(did: string): void {
    const failures = (this.#resyncFailures.get(did) ?? 0) + 1
    this.#resyncFailures.set(did, failures)
    const delay = Math.min(600_000, (this.#init.resyncRetryMs ?? 30_000) * 2 ** (failures - 1))
    const timer = setTimeout(() => {
      this.#resyncRetry.delete(did)
      if (this.#handler.owedResyncs().includes(did)) this.#requestResync(did)
    }, delay)
    timer.unref()
    this.#resyncRetry.set(did, timer)
  }

  /** Fetches the blobs a commit newly referenced (only those: the account's other blobs are the periodic sync's). */
  #fetchBlobs(did: string, cids: readonly string[]): void {
    const running = this.#blobs.get(did)
    if (running !== undefined) {
      for (const cid of cids) running.cids.add(cid)
      return
    }
    const entry = { cids: new Set(cids) }
    this.#blobs.set(did, entry)
    void (async () => {
      while (entry.cids.size > 0 && !this.#stopped) {
        const only = [...entry.cids]
        entry.cids.clear()
        try {
          const account = await this.#init.storage.repos.getAccount(did)
          if (account === null) break
          await syncBlobs({ did, pdsUrl: account.pdsUrl, repos: this.#init.storage.repos, fetch: this.#init.fetch, retryFailed: false, only })
        } catch {
          // Failed blobs are recorded per blob (state `failed`); the periodic sync retries them.
        }
      }
      this.#blobs.delete(did)
      this.#changed()
    })()
  }

  /** Calls `onChange`, at most once per interval (a trailing call carries the last change). */
  #changed(): void {
    const cb = this.#init.onChange
    if (cb === undefined || this.#changeTimer !== undefined) return
    const wait = Math.max(0, this.#changeAt + (this.#init.changeIntervalMs ?? 1000) - this.#now())
    this.#changeTimer = setTimeout(() => {
      this.#changeTimer = undefined
      this.#changeAt = this.#now()
      if (!this.#stopped) cb()
    }, wait)
    this.#changeTimer.unref()
  }
}

/** Firehose settings of a node (`createNode`); the URL and switch come from the configuration. */
export type NodeFirehoseInit = Partial<
  Pick<FirehoseConsumerInit, 'backoffBaseMs' | 'backoffMaxMs' | 'pingIntervalMs' | 'stallTimeoutMs' | 'changeIntervalMs' | 'resyncRetryMs' | 'catchingUpLagMs' | 'random'>
> & {
  /** Follow the firehose. @default FIREHOSE_ENABLED, and never on a node that does not listen (a CLI-opened data dir) */
  enabled?: boolean
}

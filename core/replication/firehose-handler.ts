/**
 * Handling `subscribeRepos` frames one at a time, apart from the socket that brings them (so tests
 * and the benchmark feed frames straight in).
 *
 * - Frames are taken in `seq` order; one whose seq is not above the last one handled is dropped.
 * - Frames of accounts not held are skipped after reading only the header, `seq`, `repo`/`did` and
 *   `time` ({@link peekFrame}); their cursor is saved now and then.
 * - `#commit`: judged by {@link judgeCommit}; a signature that fails is checked once more with the
 *   key resolved afresh (key rotation). Applied commits are stored with the cursor and the live
 *   state in one transaction; a gap, a missing proof or a rejected (invalid, forged) event owes a
 *   resync, saved the same way, and nothing of the event is stored. While a resync is owed or
 *   running, the account's commits wait (up to {@link FirehoseHandlerInit.maxBuffered}) and are
 *   replayed once it finished.
 * - `#identity`: the DID is resolved afresh; a new PDS, handle or key is recorded.
 * - `#account`: the hosting status is recorded; archived data is kept whatever it says. Commits
 *   of an inactive account are dropped; becoming active again owes a resync.
 * - `#sync`: the commit is checked; a head other than ours owes a resync.
 */
import type { BlockMap } from '@atproto/repo'
import { readCarWithRoot } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'
import { HeadMovedError, RepoVerificationError, toErrorDto } from '../errors.js'
import type { ResolvedIdentity } from '../identity/types.js'
import type { AccountState, CommitWrite, RepoHead, RepoStorage } from '../storage/types.js'
import { checkCommit } from './commit-check.js'
import { judgeCommit, type CommitVerdict } from './firehose-commit.js'
import {
  decodeFrame,
  peekFrame,
  toAccountEvent,
  toCommitEvent,
  toIdentityEvent,
  toSyncEvent,
  type CommitEvent,
  type FramePeek,
} from './firehose-frame.js'
import type { FirehoseStore, LivePatch } from './firehose-store.js'

/** What became of one frame. */
export type FrameResult =
  /** An account not held, or a message type the node does not use. */
  | 'skipped'
  /** Its seq was not above the last one handled (a replay or a misordered stream). */
  | 'out-of-order'
  /** A verified commit was stored. */
  | 'applied'
  /** A commit the account already holds. */
  | 'duplicate'
  /** A resync was asked for instead of applying it. */
  | 'resync'
  /** Invalid or forged: refused, nothing stored (a resync is asked for). */
  | 'rejected'
  /** Not applied for a reason of the account's (inactive upstream, paused). */
  | 'dropped'
  /** Kept until the account's resync finishes. */
  | 'buffered'
  /** `#identity`, `#account` or `#sync` handled. */
  | 'recorded'
  /** An error frame from the server, or a frame that does not decode. */
  | 'bad-frame'

/** The outcome of {@link FirehoseHandler.handle}. */
export interface FrameOutcome {
  result: FrameResult
  seq: number | undefined
  did: string | undefined
  /** Message type (`#commit`, …). */
  type: string | undefined
  /** Why, in a sentence, for every result but `applied` and `skipped`. */
  reason?: string
  /** For `applied`: blob CIDs the account newly references. */
  newBlobs?: string[]
  /** For an error frame: its `error` name (e.g. `FutureCursor`). */
  errorName?: string
}

/** What a {@link FirehoseHandler} is made from. */
export interface FirehoseHandlerInit {
  /** The stream's URL: the key its cursor is saved under. */
  url: string
  storage: RepoStorage
  store: FirehoseStore
  /** Resolves a DID (the node's identity resolver). */
  resolve(did: string, options: { forceRefresh: boolean }): Promise<ResolvedIdentity>
  /** Whether the account is held. Must be cheap: it is asked for every frame. */
  isHeld(did: string): boolean
  /** Whether syncing the account is paused (its commits are not applied; a resync is owed). */
  isPaused(did: string): boolean
  /** Asks for a resync of the account (`getRepo` since its head); the handler learns the end through {@link FirehoseHandler.resyncFinished}. */
  requestResync(did: string, reason: string): void
  /** Commits of one account kept while its resync runs. @default 1000 */
  maxBuffered?: number
  /** Frames of accounts not held between two saves of the cursor alone. @default 1000 */
  cursorSaveEvery?: number
  /** @default Date.now */
  now?: () => number
}

interface Waiting {
  frames: CommitEvent[]
  overflow: boolean
}

/** A commit verified in the current batch, stored with the others at the batch's end. */
interface Grouped {
  evt: CommitEvent
  /** Its place in the batch's outcomes. */
  index: number
  write: CommitWrite
  patch: LivePatch
}

/** Where an account stands after the commits of the group not yet stored. */
interface Ahead {
  head: RepoHead
  /** rev → commit CID. */
  commits: Map<string, string>
  /** MST nodes the group brings. */
  mst: Set<string>
}

/** Commits stored in one transaction at most (a longer run is split). */
const MAX_GROUP = 256

export class FirehoseHandler {
  readonly #init: FirehoseHandlerInit
  readonly #now: () => number
  #lastSeq: number | null
  #unsaved = 0
  /** Accounts with a resync owed or running, and the commits that arrived meanwhile. */
  readonly #waiting = new Map<string, Waiting>()
  /** Hosting status per account (from `live_state`), for dropping commits of inactive accounts. */
  readonly #status = new Map<string, string>()
  /** The newest rev of each account taken from the stream while a resync runs. */
  readonly #lastRev = new Map<string, string>()
  /** Unix ms of the last frame's own time, and when it was handled: the stream's lag. */
  lastEventTime: number | null = null
  lastHandledAt: number | null = null
  /** Verified commits of the current batch not stored yet, and where they lead each account. */
  readonly #group: Grouped[] = []
  readonly #ahead = new Map<string, Ahead>()
  /** While the group is taken one by one (after its transaction failed): the cursor goes no further. */
  #cap: number | null = null

  constructor(init: FirehoseHandlerInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.#lastSeq = init.store.cursor(init.url)
    for (const row of init.store.rows()) {
      this.#status.set(row.did, row.status)
      if (row.resyncReason !== null) this.#waiting.set(row.did, { frames: [], overflow: false })
    }
  }

  /** The seq of the last frame handled (null before any): where a new connection resumes. */
  get cursor(): number | null {
    return this.#lastSeq
  }

  /** Accounts owing a resync (loaded from `live_state` at construction, then kept up to date). */
  owedResyncs(): string[] {
    return [...this.#waiting.keys()]
  }

  /** Forgets the cursor (the stream does not know it: `FutureCursor`); the next frame of any seq is taken. */
  resetCursor(): void {
    this.#lastSeq = null
    this.#unsaved = 0
  }

  /** Forgets what is kept in memory for accounts no longer held (owed resyncs, waiting commits, status). */
  forgetAllBut(held: ReadonlySet<string>): void {
    for (const did of [...this.#waiting.keys()]) if (!held.has(did)) this.#waiting.delete(did)
    for (const did of [...this.#status.keys()]) if (!held.has(did)) this.#status.delete(did)
    for (const did of [...this.#lastRev.keys()]) if (!held.has(did)) this.#lastRev.delete(did)
  }

  /** Saves the cursor of skipped frames now (before a stop or a reconnect). */
  flushCursor(): void {
    // With a group pending, the cursor is saved with it (saving it alone would skip the group).
    if (this.#unsaved === 0 || this.#lastSeq === null || this.#group.length > 0) return
    this.#init.store.saveCursor(this.#init.url, this.#lastSeq, this.#now())
    this.#unsaved = 0
  }

  /** Handles one frame (a WebSocket message). Never rejects for what the frame holds. */
  async handle(bytes: Uint8Array): Promise<FrameOutcome> {
    let peek: FramePeek
    try {
      peek = peekFrame(bytes)
    } catch (err) {
      return { result: 'bad-frame', seq: undefined, did: undefined, type: undefined, reason: `The frame does not decode: ${(err as Error).message}.` }
    }
    return this.#handlePeeked(bytes, peek)
  }

  /** A frame of an account not held (or out of order): its outcome, handled at once; null for any other frame. */
  #passOver(peek: FramePeek): FrameOutcome | null {
    if (peek.op !== 1 || peek.seq === undefined || (peek.did !== undefined && this.#init.isHeld(peek.did))) return null
    const base = { seq: peek.seq, did: peek.did, type: peek.t }
    if (this.#lastSeq !== null && peek.seq <= this.#lastSeq) {
      return { ...base, result: 'out-of-order', reason: `Event ${peek.seq} came after event ${this.#lastSeq}; it was dropped.` }
    }
    if (peek.time !== undefined) {
      const t = Date.parse(peek.time)
      if (!Number.isNaN(t)) this.lastEventTime = t
    }
    this.lastHandledAt = this.#now()
    return this.#skip(peek.seq, base)
  }

  async #handlePeeked(bytes: Uint8Array, peek: FramePeek): Promise<FrameOutcome> {
    const passed = this.#passOver(peek)
    if (passed !== null) return passed
    const base = { seq: peek.seq, did: peek.did, type: peek.t }
    if (peek.op === -1) {
      let name: string | undefined
      let message: string | undefined
      try {
        const { body } = decodeFrame(bytes)
        name = typeof body.error === 'string' ? body.error : undefined
        message = typeof body.message === 'string' ? body.message : undefined
      } catch {
        // An error frame whose body does not decode: report it without a name.
      }
      return { ...base, result: 'bad-frame', errorName: name, reason: `The stream sent an error: ${name ?? 'unknown'}${message ? ` (${message})` : ''}.` }
    }
    if (peek.seq === undefined) return { ...base, result: 'skipped' } // #info and other unsequenced messages
    if (this.#lastSeq !== null && peek.seq <= this.#lastSeq) {
      return { ...base, result: 'out-of-order', reason: `Event ${peek.seq} came after event ${this.#lastSeq}; it was dropped.` }
    }
    const seq = peek.seq
    const did = peek.did
    const now = this.#now()
    if (peek.time !== undefined) {
      const t = Date.parse(peek.time)
      if (!Number.isNaN(t)) this.lastEventTime = t
    }
    this.lastHandledAt = now
    if (did === undefined || !this.#init.isHeld(did)) return this.#skip(seq, base)

    let body: Record<string, unknown>
    try {
      body = decodeFrame(bytes).body
    } catch (err) {
      this.#advance(seq)
      this.#init.store.record({ did, error: `An event of the stream did not decode (${(err as Error).message}).` }, this.#cursor(seq), now)
      return { ...base, result: 'bad-frame', reason: (err as Error).message }
    }
    try {
      switch (peek.t) {
        case '#commit':
          return await this.#commit(toCommitEvent(body), base)
        case '#identity':
          return await this.#identity(toIdentityEvent(body), base)
        case '#account':
          return this.#account(toAccountEvent(body), base)
        case '#sync':
          return await this.#sync(toSyncEvent(body), base)
        default:
          return this.#skip(seq, base)
      }
    } catch (err) {
      // A malformed body of a held account's event, or a store/resolver failure: recorded, and
      // the account owes a resync so that whatever the event was is fetched from its PDS.
      const message = toErrorDto(err).message
      this.#advance(seq)
      try {
        this.#oweResync(did, `an event could not be handled (${message})`, seq, { error: `An event could not be handled: ${message}` })
      } catch {
        // The database refuses writes now: the cursor stays behind, so the event comes again.
      }
      return { ...base, result: 'rejected', reason: message }
    }
  }

  /**
   * Handles frames that arrived together, as {@link handle} would one by one, but stores the
   * verified commits of held accounts together (group commit): each is verified in full first,
   * against the head the commits before it in the batch lead to, and the group, its live-state
   * changes and the cursor are one transaction, written at the batch's end, after {@link MAX_GROUP}
   * commits, or before any frame that is not simply applied (so nothing is written out of order).
   * Should that transaction fail (a sync stored a newer head meanwhile), the group's commits are
   * taken one by one, judged afresh. Resolves with one outcome per frame, in order.
   */
  async handleBatch(frames: readonly Uint8Array[]): Promise<FrameOutcome[]> {
    const out: FrameOutcome[] = []
    for (const bytes of frames) {
      let peek: FramePeek
      try {
        peek = peekFrame(bytes)
      } catch {
        await this.#flushGroup(out)
        out.push(await this.handle(bytes))
        continue
      }
      // Skipped (or out of order): writes nothing while a group is pending.
      const passed = this.#passOver(peek)
      if (passed !== null) {
        out.push(passed)
        continue
      }
      if (peek.op === 1 && peek.t === '#commit') {
        const grouped = await this.#groupCommit(bytes, peek, out.length)
        if (grouped !== null) {
          out.push(grouped)
          if (this.#group.length >= MAX_GROUP) await this.#flushGroup(out)
          continue
        }
      }
      await this.#flushGroup(out)
      out.push(await this.#handlePeeked(bytes, peek))
    }
    await this.#flushGroup(out)
    return out
  }

  /** Verifies a held account's commit for the group; null when it is anything but a plain apply (then {@link handle} takes it). */
  async #groupCommit(bytes: Uint8Array, peek: FramePeek, index: number): Promise<FrameOutcome | null> {
    const { seq, did } = peek
    if (seq === undefined || did === undefined || (this.#lastSeq !== null && seq <= this.#lastSeq)) return null
    if ((this.#status.get(did) ?? 'active') !== 'active' || this.#waiting.has(did) || this.#init.isPaused(did)) return null
    let evt: CommitEvent
    try {
      evt = toCommitEvent(decodeFrame(bytes).body)
    } catch {
      return null
    }
    if (evt.repo !== did) return null
    const stored = await this.#init.storage.repos.getAccount(did)
    if (stored === null) return null
    const ahead = this.#ahead.get(did)
    const verdict = await this.#judge(evt, ahead === undefined ? stored : { ...stored, head: ahead.head }, false, ahead)
    if (verdict.kind !== 'apply') return null
    this.#advance(seq)
    const at = this.#now()
    if (peek.time !== undefined) {
      const t = Date.parse(peek.time)
      if (!Number.isNaN(t)) this.lastEventTime = t
    }
    this.lastHandledAt = at
    const write: CommitWrite = { ...verdict.write, at }
    this.#group.push({ evt, index, write, patch: { did, applied: 1, lastEventAt: at, lastEventTime: this.#eventTime(evt.time), error: null } })
    const head = { cid: write.commit.cid, rev: write.commit.rev, dataCid: write.commit.dataCid }
    const next = ahead ?? { head, commits: new Map<string, string>(), mst: new Set<string>() }
    next.head = head
    next.commits.set(write.commit.rev, write.commit.cid)
    for (const r of write.refs) if (r.kind === 'mst') next.mst.add(r.cid)
    this.#ahead.set(did, next)
    return { seq, did, type: peek.t, result: 'applied' }
  }

  /** Stores the group (see {@link handleBatch}) and fills in its outcomes. */
  async #flushGroup(out: FrameOutcome[]): Promise<void> {
    if (this.#group.length === 0) return
    const group = this.#group.splice(0)
    this.#ahead.clear()
    const seq = this.#lastSeq ?? group.at(-1)!.evt.seq
    try {
      const applied = await this.#init.store.applyCommits(group, { url: this.#init.url, seq })
      this.#unsaved = 0
      group.forEach((g, i) => (out[g.index] = { ...out[g.index]!, newBlobs: applied[i]!.newBlobs }))
      return
    } catch {
      // Nothing of the group was stored. Take its commits one by one, each judged afresh against
      // what is stored now, the cursor moving only as far as each.
    }
    for (const g of group) {
      const base = { seq: g.evt.seq, did: g.evt.repo, type: '#commit' }
      this.#cap = g.evt.seq
      try {
        out[g.index] = await this.#commit(g.evt, base)
      } catch (err) {
        const message = toErrorDto(err).message
        try {
          this.#oweResync(g.evt.repo, `an event could not be handled (${message})`, g.evt.seq, { error: `An event could not be handled: ${message}` })
        } catch {
          // The database refuses writes now: the cursor stays behind, so the event comes again.
        }
        out[g.index] = { ...base, result: 'rejected', reason: message }
      } finally {
        this.#cap = null
      }
    }
    this.#unsaved = 1
    try {
      this.flushCursor()
    } catch {
      // Saved with the next change instead.
    }
  }

  /**
   * A resync of the account ended (`ok`: it stored the PDS's head, or found it current). Replays
   * the commits that waited and resolves with their outcomes, so that the caller fetches the blobs
   * the applied ones newly reference (the resync fetched only those of its own head).
   */
  async resyncFinished(did: string, ok: boolean, error?: string): Promise<FrameOutcome[]> {
    const waiting = this.#waiting.get(did)
    const now = this.#now()
    if (!ok) {
      this.#init.store.record({ did, error: error === undefined ? 'The resync failed.' : `The resync failed: ${error}` }, null, now)
      return []
    }
    this.#waiting.delete(did)
    this.#lastRev.delete(did)
    this.#init.store.record({ did, resyncReason: null, error: null }, null, now)
    if (waiting === undefined) return []
    if (waiting.overflow) {
      this.#oweResync(did, 'more events arrived during the resync than could be kept', null)
      return []
    }
    const out: FrameOutcome[] = []
    for (const evt of waiting.frames) {
      // Replayed with their own seq, so their cursor is not moved backwards.
      const outcome = await this.#commit(evt, { seq: evt.seq, did, type: '#commit' }, true)
      out.push(outcome)
      if (outcome.result === 'resync' || outcome.result === 'rejected' || outcome.result === 'buffered') break
    }
    return out
  }

  #skip(seq: number, base: Pick<FrameOutcome, 'seq' | 'did' | 'type'>): FrameOutcome {
    this.#advance(seq)
    if (++this.#unsaved >= (this.#init.cursorSaveEvery ?? 1000)) this.flushCursor()
    return { ...base, result: 'skipped' }
  }

  #advance(seq: number): void {
    if (this.#lastSeq === null || seq > this.#lastSeq) this.#lastSeq = seq
  }

  #cursor(seq: number | null): { url: string; seq: number } | null {
    if (seq === null) return null
    this.#unsaved = 0
    const at = Math.max(seq, this.#lastSeq ?? seq)
    return { url: this.#init.url, seq: this.#cap === null ? at : Math.min(at, this.#cap) }
  }

  #eventTime(time: string): number | null {
    const t = Date.parse(time)
    return Number.isNaN(t) ? null : t
  }

  /** Owes a resync (saved with the cursor), and asks for it. */
  #oweResync(did: string, reason: string, seq: number | null, extra: Partial<LivePatch> = {}): void {
    if (!this.#waiting.has(did)) this.#waiting.set(did, { frames: [], overflow: false })
    this.#init.store.record({ did, resyncReason: reason, lastEventAt: this.#now(), ...extra }, this.#cursor(seq), this.#now())
    this.#init.requestResync(did, reason)
  }

  async #commit(evt: CommitEvent, base: Pick<FrameOutcome, 'seq' | 'did' | 'type'>, replay = false): Promise<FrameOutcome> {
    const did = evt.repo
    const seq = replay ? null : evt.seq
    if (!replay) this.#advance(evt.seq)
    const now = this.#now()
    const status = this.#status.get(did) ?? 'active'
    if (status !== 'active') {
      this.#init.store.record({ did, lastEventAt: now }, this.#cursor(seq), now)
      return { ...base, result: 'dropped', reason: `The account is ${status} at its PDS; its commits are not taken.` }
    }
    if (this.#init.isPaused(did) && !this.#waiting.has(did)) {
      this.#oweResyncQuietly(did, 'syncing was paused when changes arrived', seq)
      return { ...base, result: 'dropped', reason: 'Syncing the account is paused; it catches up when resumed.' }
    }
    let account = await this.#init.storage.repos.getAccount(did)
    if (account === null) return this.#skip(evt.seq, base)
    let verdict = await this.#judge(evt, account, replay)
    if (verdict.kind === 'reject' && verdict.code === 'bad-signature') {
      // The key may have rotated since it was cached: resolve afresh and judge once more.
      const fresh = await this.#refreshIdentity(did, account).catch(() => null)
      if (fresh !== null && fresh.signingKey !== account.signingKey) {
        account = fresh
        verdict = await this.#judge(evt, account, replay)
      }
    }
    if (verdict.kind === 'wait') {
      // Checked on its own; kept until the account's resync finished.
      const waiting = this.#waiting.get(did)!
      if (waiting.frames.length < (this.#init.maxBuffered ?? 1000)) waiting.frames.push(evt)
      else waiting.overflow = true
      this.#lastRev.set(did, verdict.rev)
      this.#init.store.record({ did, lastEventAt: now }, this.#cursor(seq), now)
      return { ...base, result: 'buffered', reason: 'A resync of the account is under way; the event waits for it.' }
    }
    for (let attempt = 0; verdict.kind === 'apply'; attempt++) {
      try {
        const at = this.#now()
        const applied = await this.#init.store.applyCommit(
          { ...verdict.write, at },
          { did, applied: 1, lastEventAt: at, lastEventTime: this.#eventTime(evt.time), error: null },
          this.#cursor(seq) ?? { url: this.#init.url, seq: this.#cap ?? this.#lastSeq ?? evt.seq },
        )
        return { ...base, result: 'applied', newBlobs: applied.newBlobs }
      } catch (err) {
        // A sync stored a newer head meanwhile: judge again against it (likely a duplicate now).
        if (!(err instanceof HeadMovedError) || attempt > 0) throw err
        account = (await this.#init.storage.repos.getAccount(did)) ?? account
        verdict = await this.#judge(evt, account, replay)
      }
    }
    switch (verdict.kind) {
      case 'duplicate':
        this.#init.store.record({ did, lastEventAt: now }, this.#cursor(seq), now)
        return { ...base, result: 'duplicate', reason: 'The backup already holds this commit.' }
      case 'resync':
        this.#oweResync(did, verdict.reason, seq, { lastEventTime: this.#eventTime(evt.time) })
        return { ...base, result: 'resync', reason: `A resync was started: ${verdict.reason}.` }
      case 'reject': {
        const sentence = `A commit from the stream was refused (${verdict.code}): ${verdict.reason}`
        this.#oweResync(did, `a commit from the stream was refused (${verdict.code})`, seq, { error: sentence })
        return { ...base, result: 'rejected', reason: sentence }
      }
    }
    throw new Error('unreachable')
  }

  /** A resync is owed (saved), but not asked for now (the account is paused). */
  #oweResyncQuietly(did: string, reason: string, seq: number | null): void {
    if (!this.#waiting.has(did)) this.#waiting.set(did, { frames: [], overflow: false })
    this.#init.store.record({ did, resyncReason: reason, lastEventAt: this.#now() }, this.#cursor(seq), this.#now())
  }

  /** Judges `evt` against `account`'s head (or, with `ahead`, the head the pending group leads to). */
  async #judge(evt: CommitEvent, account: AccountState, replay = false, ahead?: Ahead): Promise<CommitVerdict> {
    const repos = this.#init.storage.repos
    if (ahead !== undefined) {
      return judgeCommit(evt, {
        signingKey: account.signingKey,
        head: ahead.head,
        now: this.#now(),
        commitAt: async (rev) => ahead.commits.get(rev) ?? (await repos.getCommit(account.did, rev))?.cid ?? null,
        heldMstNodes: async (cids) => {
          const held = new Set(cids.filter((c) => ahead.mst.has(c)))
          const rest = cids.filter((c) => !held.has(c))
          if (rest.length > 0) for (const [cid, kind] of await repos.getBlockRefs(account.did, rest)) if (kind === 'mst') held.add(cid)
          return held
        },
      })
    }
    return judgeCommit(evt, {
      signingKey: account.signingKey,
      head: account.head,
      lastRev: replay ? null : (this.#lastRev.get(account.did) ?? null),
      waiting: !replay && this.#waiting.has(account.did),
      now: this.#now(),
      commitAt: async (rev) => (await repos.getCommit(account.did, rev))?.cid ?? null,
      heldMstNodes: async (cids) => {
        const refs = await repos.getBlockRefs(account.did, cids)
        return new Set([...refs].filter(([, kind]) => kind === 'mst').map(([cid]) => cid))
      },
    })
  }

  /** Resolves the DID afresh and records a changed PDS, handle or key. */
  async #refreshIdentity(did: string, account: AccountState): Promise<AccountState> {
    const id = await this.#init.resolve(did, { forceRefresh: true })
    if (id.pdsUrl === account.pdsUrl && id.signingKey === account.signingKey && (id.handle ?? account.handle) === account.handle) return account
    return this.#init.storage.repos.upsertAccount({ did, handle: id.handle ?? account.handle, pdsUrl: id.pdsUrl, signingKey: id.signingKey })
  }

  async #identity(evt: ReturnType<typeof toIdentityEvent>, base: Pick<FrameOutcome, 'seq' | 'did' | 'type'>): Promise<FrameOutcome> {
    this.#advance(evt.seq)
    const account = await this.#init.storage.repos.getAccount(evt.did)
    if (account === null) return this.#skip(evt.seq, base)
    const now = this.#now()
    try {
      const after = await this.#refreshIdentity(evt.did, account)
      const moved = after.pdsUrl !== account.pdsUrl
      const parts: string[] = []
      if (moved) parts.push(`moved from ${account.pdsUrl} to ${after.pdsUrl}`)
      if (after.handle !== account.handle) parts.push(`handle ${account.handle ?? 'none'} → ${after.handle ?? 'none'}`)
      if (after.signingKey !== account.signingKey) parts.push('new signing key')
      this.#init.store.record({ did: evt.did, lastEventAt: now, lastEventTime: this.#eventTime(evt.time) }, this.#cursor(evt.seq), now)
      return { ...base, result: 'recorded', reason: parts.length === 0 ? 'The identity is unchanged.' : `The identity changed: ${parts.join(', ')}.` }
    } catch (err) {
      const message = toErrorDto(err).message
      this.#init.store.record({ did: evt.did, lastEventAt: now, error: `The identity could not be resolved after a change: ${message}` }, this.#cursor(evt.seq), now)
      return { ...base, result: 'recorded', reason: message }
    }
  }

  #account(evt: ReturnType<typeof toAccountEvent>, base: Pick<FrameOutcome, 'seq' | 'did' | 'type'>): FrameOutcome {
    this.#advance(evt.seq)
    const before = this.#status.get(evt.did) ?? 'active'
    const status = evt.active ? 'active' : (evt.status ?? 'inactive')
    this.#status.set(evt.did, status)
    const now = this.#now()
    if (status === 'active' && before !== 'active') {
      // Back from an inactive spell: what happened meanwhile was not taken.
      this.#oweResync(evt.did, `the account is active again after being ${before}`, evt.seq, { status, lastEventTime: this.#eventTime(evt.time) })
    } else {
      this.#init.store.record({ did: evt.did, status, lastEventAt: now, lastEventTime: this.#eventTime(evt.time) }, this.#cursor(evt.seq), now)
    }
    return { ...base, result: 'recorded', reason: status === before ? `The account is ${status}.` : `The account is now ${status} (was ${before}); archived data is kept.` }
  }

  async #sync(evt: ReturnType<typeof toSyncEvent>, base: Pick<FrameOutcome, 'seq' | 'did' | 'type'>): Promise<FrameOutcome> {
    this.#advance(evt.seq)
    const account = await this.#init.storage.repos.getAccount(evt.did)
    if (account === null) return this.#skip(evt.seq, base)
    const now = this.#now()
    let car: { root: Cid; blocks: BlockMap }
    try {
      car = await readCarWithRoot(evt.blocks)
      const bytes = car.blocks.get(car.root)
      if (bytes === undefined) throw new Error('the commit block is missing')
      await checkCommit(evt.did, account.signingKey, car.root, bytes)
    } catch (err) {
      const message = err instanceof RepoVerificationError || err instanceof Error ? err.message : String(err)
      this.#oweResync(evt.did, 'a #sync event did not verify', evt.seq, { error: `A #sync event was refused: ${message}` })
      return { ...base, result: 'rejected', reason: message }
    }
    if (account.head !== null && account.head.cid === car.root.toString()) {
      this.#init.store.record({ did: evt.did, lastEventAt: now, lastEventTime: this.#eventTime(evt.time) }, this.#cursor(evt.seq), now)
      return { ...base, result: 'recorded', reason: 'The account is at the head the backup holds.' }
    }
    if (account.head !== null && evt.rev <= account.head.rev) {
      this.#init.store.record({ did: evt.did, lastEventAt: now }, this.#cursor(evt.seq), now)
      return { ...base, result: 'dropped', reason: `The #sync names rev ${evt.rev}, not newer than the backed-up rev ${account.head.rev}.` }
    }
    this.#oweResync(evt.did, `the account's head moved to rev ${evt.rev} (#sync)`, evt.seq, { lastEventTime: this.#eventTime(evt.time) })
    return { ...base, result: 'resync', reason: `A resync was started: the account's head is now rev ${evt.rev}.` }
  }
}

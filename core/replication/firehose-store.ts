/**
 * What the firehose keeps in `pds.db` (migration 7): the cursor of each stream and each account's
 * live state, written in the SAME transaction as what an event changed, so a crash never leaves a
 * commit stored without its cursor (a replay after restart would be a duplicate) nor a cursor
 * past an event whose change was lost (a gap).
 *
 * A verified commit goes through `RepoStore.applyCommit` (blocks, commit row, head, record index,
 * references, blob rows), run inside this store's transaction: better-sqlite3 turns the repo
 * store's own transaction into a savepoint of ours, and its work happens before its promise
 * settles, so the head read back in the same transaction says whether it took effect.
 */
import type { Database, Statement } from 'better-sqlite3'
import { P2pdsError } from '../errors.js'
import type { CommitApplied, CommitWrite, RepoStore } from '../storage/types.js'

/** One account's row of `live_state`. */
export interface LiveRow {
  did: string
  /** Hosting status from `#account` (`active`, `takendown`, `deactivated`, `deleted`, …). */
  status: string
  /** Why a resync is owed, or null. */
  resyncReason: string | null
  eventsApplied: number
  /** Unix ms the last event of the account was handled. */
  lastEventAt: number | null
  /** Unix ms the last event carried as its `time`. */
  lastEventTime: number | null
  /** The last event refused, in a sentence. */
  error: string | null
  errorAt: number | null
}

/** A change to an account's live state, saved with the cursor. */
export interface LivePatch {
  did: string
  /** @default unchanged */
  status?: string
  /** A string: a resync is owed; null: it is not any more. @default unchanged */
  resyncReason?: string | null
  /** Added to `eventsApplied`. @default 0 */
  applied?: number
  /** @default unchanged */
  lastEventAt?: number
  /** @default unchanged */
  lastEventTime?: number | null
  /** A string: the account's last refused event; null: clear it. @default unchanged */
  error?: string | null
}

/** The commit was not applied although the repo store's call returned (it refused inside our transaction). */
class NotApplied extends Error {}

interface Row {
  did: string
  status: string
  resync_reason: string | null
  events_applied: number
  last_event_at: number | null
  last_event_time: number | null
  error: string | null
  error_at: number | null
}

export class FirehoseStore {
  readonly #db: Database
  readonly #repos: RepoStore
  /** Prepared UPDATEs by the set of columns they change. */
  readonly #patches = new Map<string, Statement>()
  readonly #s: {
    cursor: Statement<[string], { seq: number }>
    putCursor: Statement<[string, number, number]>
    row: Statement<[string], Row>
    rows: Statement<[], Row>
    ensure: Statement<[string]>
    head: Statement<[string], { head_cid: string | null }>
  }

  constructor(init: { db: Database; repos: RepoStore }) {
    this.#db = init.db
    this.#repos = init.repos
    const db = init.db
    this.#s = {
      cursor: db.prepare('SELECT seq FROM firehose_cursors WHERE url = ?'),
      putCursor: db.prepare(
        'INSERT INTO firehose_cursors (url, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (url) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at',
      ),
      row: db.prepare('SELECT * FROM live_state WHERE did = ?'),
      rows: db.prepare('SELECT l.* FROM live_state l JOIN accounts a ON a.did = l.did'),
      ensure: db.prepare('INSERT OR IGNORE INTO live_state (did) SELECT did FROM accounts WHERE did = ?'),
      head: db.prepare('SELECT head_cid FROM accounts WHERE did = ?'),
    }
  }

  /** The saved cursor of the stream at `url`, or null. */
  cursor(url: string): number | null {
    return this.#s.cursor.get(url)?.seq ?? null
  }

  /** Saves the cursor alone (events of accounts not held). */
  saveCursor(url: string, seq: number, at: number): void {
    this.#s.putCursor.run(url, seq, at)
  }

  /** Every held account's live state row (accounts never touched by the firehose have none). */
  rows(): LiveRow[] {
    return this.#s.rows.all().map(toLive)
  }

  /** One account's live state, or null. */
  row(did: string): LiveRow | null {
    const r = this.#s.row.get(did)
    return r === undefined ? null : toLive(r)
  }

  /** Saves a live-state change and the cursor together. An account no longer held is skipped. */
  record(patch: LivePatch, cursor: { url: string; seq: number } | null, at: number): void {
    this.#db.transaction(() => {
      this.#patch(patch, at)
      if (cursor !== null) this.#s.putCursor.run(cursor.url, cursor.seq, at)
    })()
  }

  /**
   * Applies a verified commit, the live-state change and the cursor in one transaction. Rejects,
   * changing nothing, with what the repo store refused with (`HeadMovedError`, `RevNotForwardError`,
   * `UnknownAccountError`).
   */
  async applyCommit(write: CommitWrite, patch: LivePatch, cursor: { url: string; seq: number }): Promise<CommitApplied> {
    let pending: Promise<CommitApplied> | undefined
    try {
      this.#db.transaction(() => {
        pending = this.#repos.applyCommit(write)
        // The repo store's transaction ran (as a savepoint of this one) before its promise settled.
        if (this.#s.head.get(write.did)?.head_cid !== write.commit.cid) throw new NotApplied()
        this.#patch(patch, write.at)
        this.#s.putCursor.run(cursor.url, cursor.seq, write.at)
      })()
    } catch (err) {
      if (!(err instanceof NotApplied)) {
        pending?.catch(() => undefined)
        throw err
      }
      // The repo store refused: surface its reason. (Should it ever resolve here, it wrote outside
      // this transaction, which the atomicity test of firehose-store.test.ts would catch.)
      await pending
      throw new P2pdsError(`The commit ${write.commit.cid} of ${write.did} was not applied.`)
    }
    return pending!
  }

  /**
   * Applies verified commits (of one or more accounts, each chaining onto the one before it of the
   * same account), their live-state changes and the cursor in ONE transaction: the group commit of
   * {@link FirehoseHandler.handleBatch}. All or nothing: rejects, changing nothing, with what the
   * repo store refused the first failing commit with.
   */
  async applyCommits(group: ReadonlyArray<{ write: CommitWrite; patch: LivePatch }>, cursor: { url: string; seq: number }): Promise<CommitApplied[]> {
    const pending: Array<Promise<CommitApplied>> = []
    // One live-state change per account: the commits' counts added, the last one's times.
    const patches = new Map<string, { patch: LivePatch; at: number }>()
    for (const { write, patch } of group) {
      const before = patches.get(patch.did)
      patches.set(patch.did, { patch: { ...patch, applied: (before?.patch.applied ?? 0) + (patch.applied ?? 0) }, at: write.at })
    }
    try {
      this.#db.transaction(() => {
        for (const { write } of group) {
          const p = this.#repos.applyCommit(write)
          pending.push(p)
          if (this.#s.head.get(write.did)?.head_cid !== write.commit.cid) throw new NotApplied()
        }
        for (const { patch, at } of patches.values()) this.#patch(patch, at)
        this.#s.putCursor.run(cursor.url, cursor.seq, group.at(-1)?.write.at ?? Date.now())
      })()
    } catch (err) {
      for (const p of pending) p.catch(() => undefined)
      if (!(err instanceof NotApplied)) throw err
      await pending.at(-1)
      throw new P2pdsError(`A commit of ${group[pending.length - 1]?.write.did} was not applied.`)
    }
    return Promise.all(pending)
  }

  #patch(p: LivePatch, at: number): void {
    this.#s.ensure.run(p.did)
    const sets: string[] = []
    const params: Record<string, unknown> = { did: p.did }
    const set = (column: string, param: string, value: unknown) => {
      sets.push(`${column} = @${param}`)
      params[param] = value
    }
    if (p.status !== undefined) set('status', 'status', p.status)
    if (p.resyncReason !== undefined) set('resync_reason', 'resync', p.resyncReason)
    if (p.applied !== undefined && p.applied !== 0) {
      sets.push('events_applied = events_applied + @applied')
      params.applied = p.applied
    }
    if (p.lastEventAt !== undefined) set('last_event_at', 'lastAt', p.lastEventAt)
    if (p.lastEventTime !== undefined) set('last_event_time', 'lastTime', p.lastEventTime)
    if (p.error !== undefined) {
      sets.push('error = @error', 'error_at = @errorAt')
      params.error = p.error
      params.errorAt = p.error === null ? null : at
    }
    if (sets.length === 0) return
    const sql = `UPDATE live_state SET ${sets.join(', ')} WHERE did = @did`
    let stmt = this.#patches.get(sql)
    if (stmt === undefined) this.#patches.set(sql, (stmt = this.#db.prepare(sql)))
    stmt.run(params)
  }
}

function toLive(r: Row): LiveRow {
  return {
    did: r.did,
    status: r.status,
    resyncReason: r.resync_reason,
    eventsApplied: r.events_applied,
    lastEventAt: r.last_event_at,
    lastEventTime: r.last_event_time,
    error: r.error,
    errorAt: r.error_at,
  }
}

/**
 * The lexicon index: every NSID seen in the records this node holds (each record's collection, and
 * its top-level `$type` when that differs), with how many records and repositories use it and when
 * it was first and last seen here.
 *
 * It is a pure function of the `records` table (the record index at each account's head) plus the
 * record blocks: {@link SqliteLexiconIndex.indexAccount} recomputes one account from them in one
 * transaction, so calling it after any change to that account (a sync, a firehose commit, a
 * removal) keeps the index exact, whatever wrote the change. Only `first_seen` carries history:
 * it survives recomputes and restarts for as long as the account is held.
 *
 * Tables (migration 6): `lexicon_usage (did, nsid, records, first_seen, last_seen)` and
 * `lexicon_repos (did, head_cid, records, indexed_at)`; the head CID tells whether an account
 * changed since it was indexed. Each record block's `$type` is decoded once and kept in memory by
 * CID (bounded), so a recompute after a change decodes only new records; records are read in
 * pages with yields to the event loop between them (costs: `bench/lexicon-index.bench.ts`).
 */
import { decode } from '@atproto/lex-cbor'
import { isValidNsid } from '@atproto/syntax'
import type { Database } from 'better-sqlite3'
import { InvalidInputError, throwIfAborted } from '../errors.js'

/** One NSID in the index. */
export interface LexiconEntry {
  nsid: string
  /** Records held whose collection or `$type` is this NSID (0: seen before, none held now). */
  records: number
  /** Accounts holding at least one such record. */
  repos: number
  /** When this node first saw it (ms since the epoch). */
  firstSeen: number
  /** When this node last saw a record of it (ms since the epoch). */
  lastSeen: number
}

/** Totals of the index. */
export interface LexiconStats {
  /** NSIDs with at least one record held. */
  nsids: number
  /** Records held in every indexed account. */
  records: number
  /** Accounts indexed. */
  repos: number
  /** When the index last changed (ms since the epoch), or null when nothing was ever indexed. */
  updatedAt: number | null
}

/** A page of {@link LexiconEntry}, by records (most first), then NSID. */
export interface LexiconPage {
  lexicons: LexiconEntry[]
  /** Pass back to get the next page; null on the last one. */
  cursor: string | null
}

/** How to build a {@link SqliteLexiconIndex}. */
export interface LexiconIndexInit {
  /** The node's database, migrated to at least version 6. */
  db: Database
  /** Clock. @default Date.now */
  now?: () => number
  /** Records read between two yields to the event loop. @default 500 */
  pageSize?: number
  /** Record types kept decoded in memory (about 100 bytes each). @default 500000 */
  maxCachedTypes?: number
}

/** Most entries one page returns. */
export const LEXICON_PAGE_MAX = 1000

interface Row {
  nsid: string
  records: number
  repos: number
  first_seen: number
  last_seen: number
}

/** The lexicon index over the node's SQLite database. */
export class SqliteLexiconIndex {
  readonly #db: Database
  readonly #now: () => number
  readonly #pageSize: number
  readonly #maxTypes: number
  /** The top-level $type of record blocks already decoded (null: none); record CIDs name immutable bytes. */
  readonly #types = new Map<string, string | null>()

  constructor(init: LexiconIndexInit) {
    this.#db = init.db
    this.#now = init.now ?? Date.now
    this.#pageSize = init.pageSize ?? 500
    this.#maxTypes = init.maxCachedTypes ?? 500_000
  }

  /**
   * Recomputes one account from its held records and writes the result in one transaction; drops
   * the account from the index when it is not held. Records are read in pages, yielding to the
   * event loop between them; a change made meanwhile moves the head, so the account reads as stale
   * again and the next recompute sees it. Resolves with whether the index changed.
   */
  async indexAccount(did: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const db = this.#db
    const account = db.prepare('SELECT head_cid FROM accounts WHERE did = ?').get(did) as { head_cid: string | null } | undefined
    if (account === undefined) return this.#drop(did)

    const counts = new Map<string, number>()
    let total = 0
    const range = 'FROM records r WHERE r.did = ? AND (r.collection, r.rkey) > (?, ?) ORDER BY r.collection, r.rkey LIMIT ?'
    const page = db.prepare(`SELECT r.collection, r.rkey, r.cid ${range}`).raw()
    // A page mostly not decoded yet (the first index of an account) reads the blocks in the same pass.
    const pageWithBytes = db.prepare(`SELECT r.collection, r.rkey, r.cid, (SELECT bytes FROM blocks b WHERE b.cid = r.cid) ${range}`).raw()
    const block = db.prepare('SELECT bytes FROM blocks WHERE cid = ?').pluck()
    let after: [string, string] = ['', '']
    for (;;) {
      throwIfAborted(options.signal)
      let rows = page.all(did, after[0], after[1], this.#pageSize) as Array<[string, string, string, Uint8Array | null | undefined]>
      const misses = rows.reduce((n, r) => (this.#types.has(r[2]) ? n : n + 1), 0)
      if (misses > rows.length / 4) rows = pageWithBytes.all(did, after[0], after[1], this.#pageSize) as typeof rows
      for (const [collection, , cid, bytes] of rows) {
        total++
        let type = this.#types.get(cid)
        if (type === undefined) {
          type = recordType(bytes !== undefined ? bytes : ((block.get(cid) as Uint8Array | undefined) ?? null))
          this.#remember(cid, type)
        }
        if (isValidNsid(collection)) counts.set(collection, (counts.get(collection) ?? 0) + 1)
        // A record whose $type differs from its collection counts under both (once each).
        if (type !== null && type !== collection) counts.set(type, (counts.get(type) ?? 0) + 1)
      }
      if (rows.length < this.#pageSize) break
      const last = rows.at(-1)!
      after = [last[0], last[1]]
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    if (db.prepare('SELECT 1 FROM accounts WHERE did = ?').get(did) === undefined) return this.#drop(did)

    const now = this.#now()
    let changed = false
    db.transaction(() => {
      const before = new Map(
        (db.prepare('SELECT nsid, records FROM lexicon_usage WHERE did = ?').all(did) as Array<{ nsid: string; records: number }>).map((r) => [r.nsid, r.records]),
      )
      const upsert = db.prepare(
        `INSERT INTO lexicon_usage (did, nsid, records, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (did, nsid) DO UPDATE SET records = excluded.records, last_seen = excluded.last_seen`,
      )
      for (const [nsid, n] of counts) {
        if (before.get(nsid) !== n) changed = true
        upsert.run(did, nsid, n, now, now)
      }
      // NSIDs no longer held keep their row (first and last seen) with 0 records.
      const zero = db.prepare('UPDATE lexicon_usage SET records = 0 WHERE did = ? AND nsid = ?')
      for (const [nsid, n] of before) {
        if (counts.has(nsid) || n === 0) continue
        zero.run(did, nsid)
        changed = true
      }
      db.prepare(
        `INSERT INTO lexicon_repos (did, head_cid, records, indexed_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (did) DO UPDATE SET head_cid = excluded.head_cid, records = excluded.records, indexed_at = excluded.indexed_at`,
      ).run(did, account.head_cid, total, now)
    })()
    return changed
  }

  #remember(cid: string, type: string | null): void {
    if (this.#types.size >= this.#maxTypes) {
      // Forget the oldest tenth (a Map iterates in insertion order).
      let n = Math.ceil(this.#maxTypes / 10)
      for (const k of this.#types.keys()) {
        this.#types.delete(k)
        if (--n === 0) break
      }
    }
    this.#types.set(cid, type)
  }

  /** Whether `did` changed (head moved, added or removed) since it was indexed. */
  isStale(did: string): boolean {
    const account = this.#db.prepare('SELECT head_cid FROM accounts WHERE did = ?').get(did) as { head_cid: string | null } | undefined
    const indexed = this.#db.prepare('SELECT head_cid FROM lexicon_repos WHERE did = ?').get(did) as { head_cid: string | null } | undefined
    if (account === undefined) return indexed !== undefined || this.#hasUsage(did)
    return indexed === undefined || indexed.head_cid !== account.head_cid
  }

  /**
   * Recomputes every held account and drops accounts no longer held. Yields to the event loop
   * between accounts; stops early (leaving the rest as they were) when `signal` aborts.
   */
  async rebuild(options: { signal?: AbortSignal } = {}): Promise<void> {
    const held = (this.#db.prepare('SELECT did FROM accounts').pluck().all() as string[]).sort()
    const indexed = new Set([
      ...(this.#db.prepare('SELECT did FROM lexicon_repos').pluck().all() as string[]),
      ...(this.#db.prepare('SELECT DISTINCT did FROM lexicon_usage').pluck().all() as string[]),
    ])
    for (const did of indexed) if (!held.includes(did)) this.#drop(did)
    for (const did of held) {
      if (options.signal?.aborted === true) return
      await this.indexAccount(did, options)
    }
  }

  /** Every NSID, most records first, paged. */
  list(options: { limit?: number; cursor?: string; prefix?: string } = {}): LexiconPage {
    const limit = Math.min(Math.max(1, options.limit ?? 100), LEXICON_PAGE_MAX)
    const after = parseCursor(options.cursor)
    const params: unknown[] = []
    let where = ''
    if (options.prefix !== undefined && options.prefix !== '') {
      where = `WHERE nsid LIKE ? ESCAPE '\\'`
      params.push(`${options.prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    }
    let having = ''
    if (after !== null) {
      having = 'HAVING SUM(records) < ? OR (SUM(records) = ? AND nsid > ?)'
      params.push(after.records, after.records, after.nsid)
    }
    const rows = this.#db
      .prepare(
        `SELECT nsid, SUM(records) AS records, SUM(records > 0) AS repos, MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen
         FROM lexicon_usage ${where} GROUP BY nsid ${having}
         ORDER BY records DESC, nsid ASC LIMIT ?`,
      )
      .all(...params, limit + 1) as Row[]
    const page = rows.slice(0, limit).map(toEntry)
    const last = page.at(-1)
    return { lexicons: page, cursor: rows.length > limit && last !== undefined ? `${last.records}:${last.nsid}` : null }
  }

  /**
   * NSIDs starting with `prefix` (ASCII case-insensitive, e.g. `app.bsky` or `app.bsky.feed.`),
   * most records first. @default limit 50
   */
  search(prefix: string, limit = 50): LexiconEntry[] {
    return this.list({ prefix, limit }).lexicons
  }

  /** Totals. */
  stats(): LexiconStats {
    const usage = this.#db.prepare('SELECT COUNT(DISTINCT nsid) AS nsids FROM lexicon_usage WHERE records > 0').get() as { nsids: number }
    const repos = this.#db
      .prepare('SELECT COUNT(*) AS repos, COALESCE(SUM(records), 0) AS records, MAX(indexed_at) AS updated FROM lexicon_repos')
      .get() as { repos: number; records: number; updated: number | null }
    return { nsids: usage.nsids, records: repos.records, repos: repos.repos, updatedAt: repos.updated }
  }

  #hasUsage(did: string): boolean {
    return this.#db.prepare('SELECT 1 FROM lexicon_usage WHERE did = ? LIMIT 1').get(did) !== undefined
  }

  #drop(did: string): boolean {
    return this.#db.transaction(() => {
      const a = this.#db.prepare('DELETE FROM lexicon_usage WHERE did = ?').run(did).changes
      const b = this.#db.prepare('DELETE FROM lexicon_repos WHERE did = ?').run(did).changes
      return a + b > 0
    })()
  }
}

/** The top-level `$type` of a record block, when it is a valid NSID. */
function recordType(bytes: Uint8Array | null): string | null {
  if (bytes === null) return null
  try {
    const value = decode(bytes) as unknown
    const type = typeof value === 'object' && value !== null ? (value as { $type?: unknown }).$type : undefined
    return typeof type === 'string' && isValidNsid(type) ? type : null
  } catch {
    return null
  }
}

function toEntry(r: Row): LexiconEntry {
  return { nsid: r.nsid, records: r.records, repos: r.repos, firstSeen: r.first_seen, lastSeen: r.last_seen }
}

function parseCursor(cursor: string | undefined): { records: number; nsid: string } | null {
  if (cursor === undefined || cursor === '') return null
  const m = /^(\d{1,15}):(.{1,317})$/.exec(cursor)
  if (m === null) throw new InvalidInputError(`The cursor ${JSON.stringify(cursor.slice(0, 100))} is not one this index gave out.`)
  return { records: Number(m[1]), nsid: m[2]! }
}

/** How to build a {@link LexiconIndexer}. */
export interface LexiconIndexerInit {
  index: SqliteLexiconIndex
  /** Called with the new totals after the index changed. @default nothing */
  onChanged?: (stats: LexiconStats) => void
  /** Wait after a change is signalled before recomputing (a burst of commits costs one pass), in ms. @default 250 */
  debounceMs?: number
}

/**
 * Keeps a {@link SqliteLexiconIndex} current: `start()` rebuilds it (in the background), and
 * `changed(did)` after any change to an account (sync completed, firehose commit, account added
 * or removed) recomputes that account once its head moved. Never throws into its caller.
 */
export class LexiconIndexer {
  readonly #init: LexiconIndexerInit
  readonly #dirty = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #abort = new AbortController()
  #running = false
  #work: Promise<void> = Promise.resolve()

  constructor(init: LexiconIndexerInit) {
    this.#init = init
  }

  /** Rebuilds the index in the background and starts following changes. */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#abort = new AbortController()
    const signal = this.#abort.signal
    this.#enqueue(async () => {
      await this.#init.index.rebuild({ signal })
      this.#init.onChanged?.(this.#init.index.stats())
    })
  }

  /** Stops following changes; resolves when the work under way has ended. */
  async stop(): Promise<void> {
    this.#running = false
    this.#abort.abort()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#dirty.clear()
    await this.#work
  }

  /** Signals that `did` may have changed; it is recomputed shortly if its head moved. */
  changed(did: string): void {
    if (!this.#running) return
    this.#dirty.add(did)
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      const dids = [...this.#dirty]
      this.#dirty.clear()
      this.#enqueue(async () => {
        let changed = false
        for (const d of dids) {
          if (!this.#running) return
          if (this.#init.index.isStale(d)) changed = (await this.#init.index.indexAccount(d, { signal: this.#abort.signal })) || changed
        }
        if (changed) this.#init.onChanged?.(this.#init.index.stats())
      })
    }, this.#init.debounceMs ?? 250)
    this.#timer.unref()
  }

  /** Whether nothing is waiting or running (tests). */
  async idle(): Promise<void> {
    while (this.#timer !== undefined || this.#dirty.size > 0) await new Promise((r) => setTimeout(r, 20))
    await this.#work
  }

  #enqueue(job: () => Promise<void>): void {
    this.#work = this.#work.then(job).catch(() => {
      // The database closed under us (the node is stopping); the next start rebuilds the index.
    })
  }
}

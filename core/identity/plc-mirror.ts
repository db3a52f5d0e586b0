/**
 * The PLC mirror: a validated copy of the audit log (`PLC_URL/<did>/log/audit`) of every held
 * did:plc account, so the identity layer survives the directory losing or rewriting it.
 *
 * - A log is stored only when it is valid (`validatePlcLog`) and keeps every operation of the copy
 *   held before; otherwise the held copy stays and the error is recorded with the attempt.
 * - The directory is asked first, through a fetch that trusts the configured `PLC_URL` (as the
 *   identity resolver does). When it gives no log (unreachable, 5xx, 404, not JSON), known peers
 *   are asked in turn (`GET <endpoint>/xrpc/org.p2pds.plc.getLog?did=`) through the SSRF-safe
 *   fetch; their answers pass the same validation, so a peer can withhold but not forge.
 * - Every held did:plc is refreshed every `refreshIntervalMs`; failed attempts are retried sooner
 *   (from `retryBaseMs`, doubling up to the interval). The loop never rejects: each outcome is
 *   recorded and reported through `onChanged`.
 *
 * Table `plc_logs` (migration 6): `log_json` (the held log), `summary_json`, `op_count`,
 * `tombstoned`, `fetched_at`, `source`; and of the latest attempt `checked_at`, `valid` (1/0; NULL
 * when no source answered), `error_code`, `error`.
 */
import type { Database } from 'better-sqlite3'
import type { PlcLogDto, PlcLogStatusDto } from '../api.js'
import { AbortError, P2pdsError, PlcLogInvalidError, PlcLogUnavailableError, UnknownAccountError, throwIfAborted, toErrorDto } from '../errors.js'
import { createSafeFetch, type SafeFetch } from '../network/safe-fetch.js'
import { validatePlcLog, type PlcAuditEntry, type PlcLogSummary } from './plc-log.js'

/** Largest audit log accepted from the directory or a peer, in bytes. */
export const PLC_LOG_MAX_BYTES = 4 * 1024 * 1024

/** The peer-facing XRPC method serving mirrored logs. */
export const PLC_GET_LOG_NSID = 'org.p2pds.plc.getLog'

/** A stored, validated PLC log (see {@link getPlcLog}). */
export interface StoredPlcLog {
  did: string
  /** The audit log as fetched, oldest first. */
  log: PlcAuditEntry[]
  /** What validation found: operations, nullified, tombstoned, the document data in force. */
  summary: PlcLogSummary
  /** When it was fetched (ms since the epoch). */
  fetchedAt: number
  /** The PLC directory's URL or the peer endpoint it came from. */
  source: string
}

/**
 * The held, validated PLC log of `did`, or null when none is held. Every log stored passed
 * `validatePlcLog`; a later invalid fetch never replaces it.
 */
export function getPlcLog(db: Database, did: string): StoredPlcLog | null {
  const row = db.prepare('SELECT log_json, summary_json, fetched_at, source FROM plc_logs WHERE did = ? AND log_json IS NOT NULL').get(did) as
    | { log_json: string; summary_json: string; fetched_at: number; source: string }
    | undefined
  if (row === undefined) return null
  return { did, log: JSON.parse(row.log_json) as PlcAuditEntry[], summary: JSON.parse(row.summary_json) as PlcLogSummary, fetchedAt: row.fetched_at, source: row.source }
}

/** How to build a {@link PlcMirror}. */
export interface PlcMirrorInit {
  /** The node's database, migrated to at least version 6. */
  db: Database
  /** The PLC directory. Config: `PLC_URL`. */
  plcUrl: string
  /** Allow peer endpoints on loopback/private networks. Config: `ALLOW_PRIVATE_NETWORK`. */
  allowPrivateNetwork: boolean
  /** Period between two refreshes of a log, in ms. Config: `PLC_REFRESH_SEC` × 1000. */
  refreshIntervalMs: number
  /** First retry delay after a failed refresh, in ms (doubles up to the interval). @default 60000 */
  retryBaseMs?: number
  /**
   * Peer endpoint URLs (`https://node.example`) to ask for the log of `did` when the directory
   * gives none, in order (e.g. the peers known to hold that account). @default none
   */
  peerEndpoints?: (did: string) => readonly string[] | Promise<readonly string[]>
  /** Time limit of each request, in ms. @default 15000 */
  timeoutMs?: number
  /** Fetch for the directory. @default the safe fetch with `plcUrl` as a trusted origin */
  directoryFetch?: SafeFetch
  /** Fetch for peers. @default the safe fetch (address rules per `allowPrivateNetwork`) */
  peerFetch?: SafeFetch
  /** Called after every refresh with the DID's status. @default nothing */
  onChanged?: (status: PlcLogStatusDto) => void
  /** Clock. @default Date.now */
  now?: () => number
}

interface Row {
  did: string
  log_json: string | null
  summary_json: string | null
  op_count: number
  tombstoned: number
  fetched_at: number | null
  source: string | null
  checked_at: number
  valid: number | null
  error_code: string | null
  error: string | null
}

/** Mirrors the PLC logs of every held did:plc account. */
export class PlcMirror {
  readonly #init: PlcMirrorInit
  readonly #db: Database
  readonly #now: () => number
  readonly #directoryFetch: SafeFetch
  readonly #peerFetch: SafeFetch
  readonly #inFlight = new Map<string, Promise<PlcLogStatusDto>>()
  readonly #failures = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined
  #loop: Promise<void> | undefined
  #abort = new AbortController()
  #running = false

  constructor(init: PlcMirrorInit) {
    this.#init = init
    this.#db = init.db
    this.#now = init.now ?? Date.now
    const timeoutMs = init.timeoutMs ?? 15_000
    this.#directoryFetch =
      init.directoryFetch ??
      createSafeFetch({ allowPrivateNetwork: init.allowPrivateNetwork, timeoutMs, maxBytes: PLC_LOG_MAX_BYTES, trustedOrigins: [init.plcUrl] })
    this.#peerFetch = init.peerFetch ?? createSafeFetch({ allowPrivateNetwork: init.allowPrivateNetwork, timeoutMs, maxBytes: PLC_LOG_MAX_BYTES })
  }

  /** Starts the periodic refresh (the first pass runs at once for logs that are due). */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#abort = new AbortController()
    this.#schedule(0)
  }

  /** Stops the loop and aborts the refreshes in progress; resolves when they have ended. */
  async stop(): Promise<void> {
    this.#running = false
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#abort.abort()
    await this.#loop
    await Promise.allSettled([...this.#inFlight.values()])
  }

  /**
   * After an account was added or removed: a held did:plc without a log is fetched now (in the
   * background); the log of an account no longer held is dropped.
   */
  accountChanged(did: string): void {
    if (!did.startsWith('did:plc:')) return
    if (!this.#held(did)) {
      this.#db.prepare('DELETE FROM plc_logs WHERE did = ?').run(did)
      this.#failures.delete(did)
      return
    }
    if (this.#row(did) === undefined && this.#running) void this.refresh(did, { signal: this.#abort.signal }).catch(() => undefined)
  }

  /**
   * Fetches, validates and stores the log of a held did:plc now. Failures are recorded and
   * returned in the status (`validation`, `error`), not thrown. Concurrent calls share one fetch.
   *
   * @throws UnknownAccountError (`ERR_UNKNOWN_ACCOUNT`) the account is not held
   * @throws AbortError (`ERR_ABORTED`)
   */
  refresh(did: string, options: { signal?: AbortSignal } = {}): Promise<PlcLogStatusDto> {
    if (options.signal?.aborted === true) return Promise.reject(new AbortError())
    if (!this.#held(did)) return Promise.reject(new UnknownAccountError(did))
    let p = this.#inFlight.get(did)
    if (p === undefined) {
      p = this.#refresh(did, options.signal).finally(() => this.#inFlight.delete(did))
      this.#inFlight.set(did, p)
    }
    return p
  }

  /** The status of every held did:plc account. */
  list(): PlcLogStatusDto[] {
    return this.#heldDids().map((did) => this.status(did))
  }

  /**
   * The status of one held did:plc account.
   *
   * @throws UnknownAccountError (`ERR_UNKNOWN_ACCOUNT`) the account is not held
   */
  status(did: string): PlcLogStatusDto {
    if (!this.#held(did)) throw new UnknownAccountError(did)
    return toStatus(did, this.#row(did))
  }

  /**
   * The held log with its status (an empty log before one is held).
   *
   * @throws UnknownAccountError (`ERR_UNKNOWN_ACCOUNT`) the account is not held
   */
  getLog(did: string): PlcLogDto {
    const status = this.status(did)
    return { status, log: getPlcLog(this.#db, did)?.log ?? [] }
  }

  async #refresh(did: string, signal: AbortSignal | undefined): Promise<PlcLogStatusDto> {
    const problems: string[] = []
    let outcome: { log: PlcAuditEntry[]; summary: PlcLogSummary; source: string } | P2pdsError | null = null
    const held = getPlcLog(this.#db, did)
    try {
      let fromDirectory: unknown
      try {
        fromDirectory = await this.#fetchDirectory(did, signal)
      } catch (err) {
        if (err instanceof AbortError) throw err
        problems.push(`the PLC directory at ${this.#init.plcUrl}: ${reason(err)}`)
      }
      if (fromDirectory !== undefined) {
        // The directory answered: its log is judged, and peers are not asked.
        outcome = await this.#accept(did, fromDirectory, held).then((r) => ({ ...r, source: this.#init.plcUrl }), asP2pdsError)
      } else {
        const peers = await this.#peers(did)
        if (peers.length === 0) problems.push('no peer is known to ask')
        for (const endpoint of peers) {
          throwIfAborted(signal)
          try {
            const fromPeer = await this.#fetchPeer(endpoint, did, signal)
            const accepted = await this.#accept(did, fromPeer, held)
            outcome = { ...accepted, source: endpoint }
            break
          } catch (err) {
            if (err instanceof AbortError) throw err
            problems.push(`peer ${endpoint}: ${reason(err)}`)
          }
        }
      }
    } catch (err) {
      if (err instanceof AbortError || signal?.aborted === true) throw err instanceof AbortError ? err : new AbortError()
      outcome = asP2pdsError(err)
    }
    const now = this.#now()
    if (outcome === null) outcome = new PlcLogUnavailableError(did, problems.join('; '))
    if (outcome instanceof P2pdsError) {
      this.#failures.set(did, (this.#failures.get(did) ?? 0) + 1)
      const valid = outcome instanceof PlcLogInvalidError ? 0 : null
      this.#db
        .prepare(
          `INSERT INTO plc_logs (did, checked_at, valid, error_code, error) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (did) DO UPDATE SET checked_at = excluded.checked_at, valid = excluded.valid, error_code = excluded.error_code, error = excluded.error`,
        )
        .run(did, now, valid, outcome.code, outcome.message)
    } else {
      this.#failures.delete(did)
      const { log, summary, source } = outcome
      this.#db
        .prepare(
          `INSERT INTO plc_logs (did, log_json, summary_json, op_count, tombstoned, fetched_at, source, checked_at, valid, error_code, error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, NULL)
           ON CONFLICT (did) DO UPDATE SET log_json = excluded.log_json, summary_json = excluded.summary_json, op_count = excluded.op_count,
             tombstoned = excluded.tombstoned, fetched_at = excluded.fetched_at, source = excluded.source, checked_at = excluded.checked_at,
             valid = 1, error_code = NULL, error = NULL`,
        )
        .run(did, JSON.stringify(log), JSON.stringify(summary), log.length, summary.tombstoned ? 1 : 0, now, source, now)
    }
    // The account may have been removed while the log was fetched: hold nothing for it then.
    if (!this.#held(did)) this.#db.prepare('DELETE FROM plc_logs WHERE did = ?').run(did)
    const status = toStatus(did, this.#row(did))
    this.#init.onChanged?.(status)
    return status
  }

  /** Validates a fetched log and checks it keeps every operation of the held copy. */
  async #accept(did: string, log: unknown, held: StoredPlcLog | null): Promise<{ log: PlcAuditEntry[]; summary: PlcLogSummary }> {
    const summary = await validatePlcLog(did, log)
    const entries = log as PlcAuditEntry[]
    if (held !== null) {
      const have = new Set(entries.map((e) => e.cid))
      const lost = held.log.filter((e) => !have.has(e.cid)).length
      if (lost > 0) throw new PlcLogInvalidError(did, null, `it lacks ${lost} operation(s) of the copy held since ${new Date(held.fetchedAt).toISOString()}`)
    }
    return { log: entries, summary }
  }

  async #fetchDirectory(did: string, signal: AbortSignal | undefined): Promise<unknown> {
    const url = `${this.#init.plcUrl.replace(/\/+$/, '')}/${encodeURIComponent(did)}/log/audit`
    const res = await this.#directoryFetch(url, { headers: { accept: 'application/json' }, signal: this.#signal(signal), redirect: 'follow' })
    if (res.status === 404) throw new P2pdsError('it does not know this DID (HTTP 404)')
    if (!res.ok) throw new P2pdsError(`it answered HTTP ${res.status}`)
    return parseJson(await res.text())
  }

  async #fetchPeer(endpoint: string, did: string, signal: AbortSignal | undefined): Promise<unknown> {
    const url = `${endpoint.replace(/\/+$/, '')}/xrpc/${PLC_GET_LOG_NSID}?did=${encodeURIComponent(did)}`
    const res = await this.#peerFetch(url, { headers: { accept: 'application/json' }, signal: this.#signal(signal), redirect: 'follow' })
    if (!res.ok) throw new P2pdsError(`it answered HTTP ${res.status}`)
    const body = parseJson(await res.text()) as { did?: unknown; log?: unknown } | null
    if (body === null || typeof body !== 'object' || body.did !== did) throw new P2pdsError('it answered with something that is not a getLog output for this DID')
    return body.log
  }

  #signal(signal: AbortSignal | undefined): AbortSignal {
    return signal === undefined ? this.#abort.signal : AbortSignal.any([signal, this.#abort.signal])
  }

  async #peers(did: string): Promise<readonly string[]> {
    try {
      return (await this.#init.peerEndpoints?.(did)) ?? []
    } catch {
      return []
    }
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#loop = this.#pass().finally(() => {
        this.#loop = undefined
        this.#schedule(this.#tickMs())
      })
    }, delayMs)
    this.#timer.unref()
  }

  /** One pass: refreshes every held did:plc that is due, one at a time. Never rejects. */
  async #pass(): Promise<void> {
    for (const did of this.#heldDids()) {
      if (!this.#running) return
      if (!this.#due(did)) continue
      try {
        await this.refresh(did, { signal: this.#abort.signal })
      } catch {
        // Aborted (stopping) or removed meanwhile; the outcome of a failed fetch is recorded, not thrown.
      }
    }
  }

  #due(did: string): boolean {
    const row = this.#row(did)
    if (row === undefined) return true
    const interval = this.#init.refreshIntervalMs
    const failures = this.#failures.get(did) ?? (row.valid === 1 ? 0 : 1)
    const wait = failures === 0 ? interval : Math.min(interval, (this.#init.retryBaseMs ?? 60_000) * 2 ** (failures - 1))
    return this.#now() >= row.checked_at + wait
  }

  #tickMs(): number {
    return Math.max(50, Math.min(this.#init.refreshIntervalMs, this.#init.retryBaseMs ?? 60_000, 60_000) / 2)
  }

  #held(did: string): boolean {
    return this.#db.prepare('SELECT 1 FROM accounts WHERE did = ?').get(did) !== undefined
  }

  #heldDids(): string[] {
    return this.#db.prepare("SELECT did FROM accounts WHERE did LIKE 'did:plc:%' ORDER BY did").pluck().all() as string[]
  }

  #row(did: string): Row | undefined {
    return this.#db.prepare('SELECT * FROM plc_logs WHERE did = ?').get(did) as Row | undefined
  }
}

function toStatus(did: string, row: Row | undefined): PlcLogStatusDto {
  if (row === undefined) {
    return { did, operations: 0, nullified: 0, tombstoned: false, lastFetchAt: null, lastCheckAt: null, source: null, validation: 'pending', error: null, document: null }
  }
  const summary = row.summary_json === null ? null : (JSON.parse(row.summary_json) as PlcLogSummary)
  const state = summary?.state ?? null
  return {
    did,
    operations: row.op_count,
    nullified: summary?.nullified ?? 0,
    tombstoned: row.tombstoned === 1,
    lastFetchAt: iso(row.fetched_at),
    lastCheckAt: iso(row.checked_at),
    source: row.source,
    validation: row.valid === 1 ? 'valid' : row.valid === 0 ? 'invalid' : 'unavailable',
    error: row.error === null ? null : { name: errorName(row.error_code), code: row.error_code ?? 'ERR_P2PDS', message: row.error },
    document:
      state === null
        ? null
        : {
            alsoKnownAs: state.alsoKnownAs,
            pdsUrl: state.services.atproto_pds?.endpoint ?? null,
            signingKey: state.verificationMethods.atproto ?? null,
            rotationKeys: state.rotationKeys,
          },
  }
}

function errorName(code: string | null): string {
  if (code === 'ERR_PLC_LOG_INVALID') return 'PlcLogInvalidError'
  if (code === 'ERR_PLC_LOG_UNAVAILABLE') return 'PlcLogUnavailableError'
  return 'P2pdsError'
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new P2pdsError('it answered with something that is not JSON')
  }
}

function reason(err: unknown): string {
  if (err instanceof PlcLogInvalidError) return `invalid log (${err.reason})`
  return toErrorDto(err).message.replace(/\.$/, '')
}

function asP2pdsError(err: unknown): P2pdsError {
  if (err instanceof P2pdsError) return err
  return new P2pdsError(err instanceof Error ? err.message : String(err), { cause: err })
}

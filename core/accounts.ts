/**
 * The accounts a node backs up: adding, syncing (repo, then blobs), verifying, browsing,
 * exporting and removing them. Built by `createNode` over the node's storage, identity resolver
 * and safe fetch; the `accounts`, `records`, `blobs` and `export` areas of the API call it.
 *
 * - One sync per account at a time: a second request joins the running one.
 * - A sync that fails stores nothing of itself (the repo store refuses partial commits); the
 *   account keeps its previous copy and shows the error in a sentence.
 * - Background work never rejects into the host: failures become `sync:failed` events.
 * - Pausing (one account, or the whole node) is kept in `pds.db` across restarts; while paused,
 *   `sync` refuses with `AccountPausedError` and the pause aborts the syncs it covers (an aborted
 *   sync stores nothing of itself).
 */
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type {
  AccountDetailDto,
  AccountDto,
  BlobDto,
  CollectionDto,
  ExportResultDto,
  P2pdsEvents,
  RecordDto,
  SyncProgressDto,
  SyncResultDto,
  SyncStateDto,
  VerificationDto,
} from './api.js'
import {
  AbortError,
  AccountPausedError,
  BlobNotFoundError,
  BlobTooLargeError,
  RecordNotFoundError,
  RepoVerificationError,
  throwIfAborted,
  toErrorDto,
  UnknownAccountError,
} from './errors.js'
import type { IdentityResolver } from './identity/index.js'
import { exportCar, getRecord, listRecords, syncBlobs, syncRepo, verifyBlocks, verifyHead } from './replication/index.js'
import type { FetchLike } from './replication/pds-client.js'
import { writeTar, type TarEntry } from './replication/tar.js'
import type { AbortOptions, AccountIdentity, AccountState, RepoStorage, VerificationResult } from './storage/types.js'
import type { SyncOptions, SyncSummary } from './replication/types.js'

/** Largest blob `blobs.get` returns through the API (exports have no limit). */
export const MAX_API_BLOB_BYTES = 10 * 1024 * 1024

/** The node setting (in `settings`) that pauses syncing of every account. */
export const SYNC_PAUSED_SETTING = 'sync.paused'

export interface AccountsServiceInit {
  storage: RepoStorage
  resolver: IdentityResolver
  /** Fetch for PDS requests (the node's safe fetch). */
  fetch: FetchLike
  emit<E extends keyof P2pdsEvents>(event: E, data: P2pdsEvents[E]): void
  /** Blobs fetched at once per account. @default 4 */
  blobConcurrency?: number
  /** Least time between two progress events of one account, in ms. @default 250 */
  progressIntervalMs?: number
  /** @default Date.now */
  now?: () => number
  /** When the account's next periodic sync is due (Unix ms), or null. @default none scheduled */
  nextSyncAt?(did: string): number | null
  /** Throws to refuse a new sync before it starts (the storage cap: `StorageLimitError`). @default every sync admitted */
  admit?(did: string): void
  /**
   * Syncs the repository (the node passes peer-first sync: peers holding the DID, then the PDS);
   * `source` says what served it. @default `syncRepo` from the PDS
   */
  repoSync?(storage: RepoStorage, account: AccountIdentity, options: SyncOptions): Promise<SyncSummary & { source?: string }>
  /** A blob of the DID from peers holding it, when its PDS cannot serve it (checked against the CID by the store). @default none */
  blobFromPeers?(did: string, cid: string, options: AbortOptions): Promise<Uint8Array>
}

/** Options of one sync. */
export interface SyncNowOptions {
  signal?: AbortSignal
  /** Per-call progress (the node also emits `sync:progress`). */
  onProgress?(progress: SyncProgressDto): void
}

interface RunningSync {
  promise: Promise<SyncResultDto>
  controller: AbortController
}

export class AccountsService {
  readonly #init: AccountsServiceInit
  readonly #now: () => number
  readonly #running = new Map<string, RunningSync>()
  /** Accounts paused on their own (mirrors `accounts.paused`). */
  #paused = new Set<string>()
  /** Syncing paused for every account (mirrors the `sync.paused` setting). */
  #pausedAll = false
  #stopped = false

  constructor(init: AccountsServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  get #repos() {
    return this.#init.storage.repos
  }

  /** Loads what is kept across restarts (pause state). Call once before use. */
  async start(): Promise<void> {
    this.#pausedAll = (await this.#repos.getSetting(SYNC_PAUSED_SETTING)) === true
    this.#paused = new Set(await this.#repos.listPausedAccounts())
  }

  /** Whether syncing is paused for every account. */
  get pausedAll(): boolean {
    return this.#pausedAll
  }

  /** Whether the account is paused on its own (not counting a node-wide pause). */
  isAccountPaused(did: string): boolean {
    return this.#paused.has(did)
  }

  /** Whether the account may not sync now: paused on its own, or syncing is paused for all. */
  isPaused(did: string): boolean {
    return this.#pausedAll || this.#paused.has(did)
  }

  /** Whether a sync of the account is running. */
  isSyncing(did: string): boolean {
    return this.#running.has(did)
  }

  /** Syncs running now. */
  get syncing(): number {
    return this.#running.size
  }

  /**
   * Pauses syncing of one account, or of every account (`did` undefined), and aborts the syncs
   * that covers; resolves once they stopped. Kept across restarts.
   */
  async pause(did?: string): Promise<void> {
    if (did === undefined) {
      await this.#repos.putSetting(SYNC_PAUSED_SETTING, true)
      this.#pausedAll = true
    } else {
      await this.#repos.setAccountPaused(did, true)
      this.#paused.add(did)
    }
    const running = [...this.#running].filter(([d]) => did === undefined || d === did).map(([, r]) => r)
    for (const r of running) r.controller.abort()
    await Promise.allSettled(running.map((r) => r.promise))
  }

  /**
   * Resumes syncing of one account, or lifts the node-wide pause (`did` undefined; accounts
   * paused on their own stay paused).
   */
  async resume(did?: string): Promise<void> {
    if (did === undefined) {
      await this.#repos.putSetting(SYNC_PAUSED_SETTING, false)
      this.#pausedAll = false
    } else {
      await this.#repos.setAccountPaused(did, false)
      this.#paused.delete(did)
    }
  }

  /** Pause state, running syncs and next periodic sync of every account (most recently added first). */
  async syncState(): Promise<SyncStateDto> {
    const accounts = (await this.#repos.listAccounts()).reverse()
    return {
      paused: this.#pausedAll,
      accounts: accounts.map((a) => ({
        did: a.did,
        paused: this.#paused.has(a.did),
        running: this.#running.has(a.did),
        nextSyncAt: this.#nextSyncAt(a.did),
      })),
    }
  }

  #nextSyncAt(did: string): string | null {
    const at = this.#init.nextSyncAt?.(did) ?? null
    return at === null ? null : iso(at)
  }

  /** Number of accounts held. */
  async count(): Promise<number> {
    return (await this.#repos.listAccounts()).length
  }

  /** Accounts, most recently added first. */
  async list(): Promise<AccountDto[]> {
    const accounts = await this.#repos.listAccounts()
    const out: AccountDto[] = []
    for (const a of accounts.reverse()) out.push(await this.#dto(a))
    return out
  }

  async get(did: string): Promise<AccountDetailDto> {
    const account = await this.#account(did)
    const base = await this.#dto(account)
    const counts = await this.#repos.countRecords(did)
    const collections: CollectionDto[] = Object.entries(counts)
      .map(([nsid, records]) => ({ nsid, records }))
      .sort((a, b) => a.nsid.localeCompare(b.nsid))
    const history = (await this.#repos.listCommits(did, { limit: 200 })).map((c) => ({ rev: c.rev, cid: c.cid, seenAt: iso(c.seenAt) }))
    const verifications: VerificationDto[] = []
    for (const level of ['L0', 'L1'] as const) {
      const [latest] = await this.#repos.listVerifications(did, { level, limit: 1 })
      if (latest !== undefined) verifications.push(verificationDto(latest))
    }
    verifications.sort((a, b) => b.at.localeCompare(a.at))
    const failedBlobs = (await this.#repos.listBlobs(did, { state: 'failed', limit: 500 })).map((b) => ({
      cid: b.cid,
      error: b.lastError ?? 'unknown reason',
      attempts: b.attempts,
    }))
    return { ...base, collections, history, verifications, failedBlobs }
  }

  /** Resolves and starts holding the account, then syncs it in the background. */
  async add(handleOrDid: string, options: { signal?: AbortSignal } = {}): Promise<AccountDto> {
    const identity = await this.#init.resolver.resolve(handleOrDid, { signal: options.signal })
    const existing = await this.#repos.getAccount(identity.did)
    const account = await this.#repos.upsertAccount(
      { did: identity.did, handle: identity.handle ?? existing?.handle ?? null, pdsUrl: identity.pdsUrl, signingKey: identity.signingKey },
      { signal: options.signal },
    )
    this.#init.emit('accounts:changed', { did: account.did })
    void this.sync(account.did).catch(() => undefined) // reported through sync:failed
    return this.#dto(account)
  }

  /**
   * Syncs the repo then the blobs. Concurrent calls for one account share the running sync.
   * Rejects with the error (also emitted as `sync:failed`); refuses with `AccountPausedError`
   * (no event: nothing was attempted) while the account or the node is paused.
   */
  sync(did: string, options: SyncNowOptions = {}): Promise<SyncResultDto> {
    if (this.#pausedAll) return Promise.reject(new AccountPausedError(did, 'node'))
    if (this.#paused.has(did)) return Promise.reject(new AccountPausedError(did, 'account'))
    const running = this.#running.get(did)
    // A caller joining a running sync gets its result; progress goes out as node events.
    if (running !== undefined) return running.promise
    try {
      this.#init.admit?.(did)
    } catch (err) {
      return Promise.reject(err as Error)
    }
    if (this.#stopped) return Promise.reject(new AbortError('The node is stopping.'))
    const controller = new AbortController()
    const onCallerAbort = () => controller.abort()
    options.signal?.addEventListener('abort', onCallerAbort, { once: true })
    const promise = this.#runSync(did, controller.signal, options.onProgress).finally(() => {
      options.signal?.removeEventListener('abort', onCallerAbort)
      this.#running.delete(did)
      this.#init.emit('accounts:changed', { did })
    })
    this.#running.set(did, { promise, controller })
    this.#init.emit('accounts:changed', { did })
    return promise
  }

  async #runSync(did: string, signal: AbortSignal, onProgress?: (p: SyncProgressDto) => void): Promise<SyncResultDto> {
    const started = this.#now()
    const progress = this.#progressReporter(did, onProgress)
    try {
      await this.#account(did)
      progress({ phase: 'resolving' })
      let identity = await this.#init.resolver.resolve(did, { signal })
      await this.#repos.upsertAccount({ did, handle: identity.handle, pdsUrl: identity.pdsUrl, signingKey: identity.signingKey }, { signal })
      const repoSync = (): Promise<SyncSummary & { source?: string }> =>
        (this.#init.repoSync ?? syncRepo)(this.#init.storage, { did, handle: identity.handle, pdsUrl: identity.pdsUrl, signingKey: identity.signingKey }, {
          fetch: this.#init.fetch,
          signal,
          now: this.#now,
          onProgress: (p) => progress({ phase: 'repo', blocks: p.blocks, bytes: p.bytes, totalBytes: p.totalBytes ?? null }),
        })
      let summary
      try {
        summary = await repoSync()
      } catch (err) {
        // The signing key may have rotated since it was cached: resolve afresh and try once more.
        if (!(err instanceof RepoVerificationError) || err.code !== 'ERR_COMMIT_SIGNATURE') throw err
        identity = await this.#init.resolver.resolve(did, { signal, forceRefresh: true })
        await this.#repos.upsertAccount({ did, handle: identity.handle, pdsUrl: identity.pdsUrl, signingKey: identity.signingKey }, { signal })
        summary = await repoSync()
      }
      progress({ phase: 'blobs', blocks: summary.blocksReceived, bytes: summary.bytesReceived })
      const blobs = await syncBlobs({
        did,
        pdsUrl: identity.pdsUrl,
        repos: this.#repos,
        fetch: this.#init.fetch,
        signal,
        concurrency: this.#init.blobConcurrency ?? 4,
        ...(this.#init.blobFromPeers === undefined ? {} : { fromPeers: (cid: string, o: AbortOptions) => this.#init.blobFromPeers!(did, cid, o) }),
        onProgress: (p) => progress({ phase: 'blobs', blobsDone: p.done, blobsTotal: p.total, bytes: summary.bytesReceived + p.bytes }),
      })
      await this.#repos.recordSyncSuccess(did, this.#now(), { signal, source: summary.source ?? 'pds' })
      const result: SyncResultDto = {
        did,
        rev: summary.rev,
        cid: summary.cid,
        kind: summary.mode === 'diff' ? 'incremental' : summary.mode === 'unchanged' ? 'none' : 'full',
        creates: summary.creates,
        updates: summary.updates,
        deletes: summary.deletes,
        bytesReceived: summary.bytesReceived + blobs.bytesReceived,
        blobsFetched: blobs.fetched,
        blobsFailed: blobs.failed,
        durationMs: this.#now() - started,
        source: summary.source ?? 'pds',
      }
      progress({ phase: 'done' }, true)
      this.#init.emit('sync:completed', result)
      return result
    } catch (err) {
      const error = toErrorDto(err)
      // An unknown account has nowhere to keep the error; an abort is not a failure of the data.
      if (!(err instanceof UnknownAccountError) && !(err instanceof AbortError)) {
        await this.#repos.recordSyncError(did, { code: error.code, message: error.message, at: this.#now() }).catch(() => undefined)
      }
      this.#init.emit('sync:failed', { did, error })
      throw err
    }
  }

  /** Builds progress events with an ETA, throttled per account. */
  #progressReporter(did: string, onProgress?: (p: SyncProgressDto) => void) {
    const interval = this.#init.progressIntervalMs ?? 250
    const state: SyncProgressDto = { did, phase: 'resolving', blocks: 0, bytes: 0, totalBytes: null, blobsDone: 0, blobsTotal: null, etaSec: null }
    let lastSent = 0
    let lastPhase: string | null = null
    const phaseStarted = { at: this.#now(), bytes: 0, blobs: 0 }
    return (update: Partial<SyncProgressDto>, force = false) => {
      Object.assign(state, update)
      const now = this.#now()
      if (state.phase !== lastPhase) {
        Object.assign(phaseStarted, { at: now, bytes: state.bytes, blobs: state.blobsDone })
      }
      state.etaSec = eta(state, phaseStarted, now)
      if (!force && state.phase === lastPhase && now - lastSent < interval) return
      lastSent = now
      lastPhase = state.phase
      const snapshot = { ...state }
      onProgress?.(snapshot)
      this.#init.emit('sync:progress', snapshot)
    }
  }

  /** Stops holding the account: any running sync is aborted, then its data is deleted. */
  async remove(did: string): Promise<void> {
    await this.#account(did)
    const running = this.#running.get(did)
    if (running !== undefined) {
      running.controller.abort()
      await running.promise.catch(() => undefined)
    }
    await this.#repos.removeAccount(did)
    this.#paused.delete(did)
    this.#init.emit('accounts:changed', { did })
  }

  /** L0 then L1; both results are stored. */
  async verify(did: string, options: { signal?: AbortSignal } = {}): Promise<VerificationDto[]> {
    await this.#account(did)
    const l0 = await verifyHead(this.#init.storage, did, { fetch: this.#init.fetch, signal: options.signal, now: this.#now })
    const l1 = await verifyBlocks(this.#init.storage, did, { signal: options.signal, now: this.#now })
    this.#init.emit('accounts:changed', { did })
    return [verificationDto(l0), verificationDto(l1)]
  }

  async collections(did: string, rev?: string): Promise<CollectionDto[]> {
    const account = await this.#account(did)
    if (rev === undefined || rev === account.head?.rev) {
      const counts = await this.#repos.countRecords(did)
      return Object.entries(counts)
        .map(([nsid, records]) => ({ nsid, records }))
        .sort((a, b) => a.nsid.localeCompare(b.nsid))
    }
    // At an older revision: count from its MST.
    const counts = new Map<string, number>()
    let cursor: string | undefined
    do {
      const page = await listRecords(this.#init.storage, did, { rev, cursor, limit: 1000 })
      for (const r of page.records) counts.set(r.collection, (counts.get(r.collection) ?? 0) + 1)
      cursor = page.cursor ?? undefined
    } while (cursor !== undefined)
    return [...counts].map(([nsid, records]) => ({ nsid, records })).sort((a, b) => a.nsid.localeCompare(b.nsid))
  }

  async listRecords(input: { did: string; collection: string; rev?: string; cursor?: string; limit?: number }): Promise<{ records: RecordDto[]; cursor: string | null }> {
    await this.#account(input.did)
    const page = await listRecords(this.#init.storage, input.did, {
      collection: input.collection,
      rev: input.rev,
      cursor: input.cursor,
      limit: input.limit ?? 50,
    })
    const records: RecordDto[] = []
    for (const r of page.records) records.push(await this.getRecord({ did: input.did, collection: r.collection, rkey: r.rkey, rev: input.rev }))
    return { records, cursor: page.cursor }
  }

  async getRecord(input: { did: string; collection: string; rkey: string; rev?: string }): Promise<RecordDto> {
    const account = await this.#account(input.did)
    const r = await getRecord(this.#init.storage, input.did, input.collection, input.rkey, { rev: input.rev })
    if (r === null) throw new RecordNotFoundError(`at://${input.did}/${input.collection}/${input.rkey}`, input.rev ?? account.head?.rev ?? 'head')
    return { uri: r.uri, collection: r.collection, rkey: r.rkey, cid: r.cid, value: r.value as Record<string, unknown> }
  }

  async getBlob(did: string, cid: string): Promise<BlobDto> {
    await this.#account(did)
    const info = await this.#repos.getBlob(did, cid)
    if (info === null) throw new BlobNotFoundError(did, cid, 'no record of this account references it')
    if (info.state !== 'stored') throw new BlobNotFoundError(did, cid, info.state === 'failed' ? `fetching it failed (${info.lastError ?? 'unknown reason'})` : 'it has not been fetched yet')
    if (info.size !== null && info.size > MAX_API_BLOB_BYTES) {
      throw new BlobTooLargeError(`Blob ${cid} is ${info.size} bytes, too large to show here; export the blobs to a folder instead.`)
    }
    const bytes = await this.#init.storage.blocks.getBlock(cid)
    return { cid, mimeType: info.mimeType ?? 'application/octet-stream', base64: Buffer.from(bytes).toString('base64') }
  }

  /** The CAR of the head or a kept rev, produced as it is read. */
  async carStream(did: string, rev?: string, signal?: AbortSignal): Promise<{ rev: string; car: AsyncIterable<Uint8Array> }> {
    await this.#account(did)
    const exp = await exportCar(this.#init.storage, did, { rev, signal })
    return { rev: exp.rev, car: exp.car }
  }

  /** Writes the CAR to `path` (through a temporary file, renamed when complete). */
  async exportCarToFile(input: { did: string; path: string; rev?: string }, signal?: AbortSignal): Promise<ExportResultDto> {
    const { car } = await this.carStream(input.did, input.rev, signal)
    let bytes = 0
    let items = 0
    const counted = (async function* () {
      for await (const chunk of car) {
        bytes += chunk.byteLength
        items++
        yield chunk
      }
    })()
    const tmp = `${input.path}.partial`
    try {
      await pipeline(Readable.from(counted), createWriteStream(tmp, { mode: 0o644 }))
      await rename(tmp, input.path)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
    // CAR chunks are a header, then (varint + CID + bytes) per block.
    return { path: input.path, bytes, items: Math.max(0, items - 1) }
  }

  /** Every stored blob as one file each in `dir`, plus `manifest.json`. */
  async exportBlobsToDir(input: { did: string; dir: string }, signal?: AbortSignal): Promise<ExportResultDto> {
    await mkdir(input.dir, { recursive: true })
    let bytes = 0
    const manifest: Array<{ cid: string; file: string; mimeType: string | null; size: number }> = []
    for await (const entry of this.#storedBlobs(input.did, signal)) {
      const file = entry.name
      const tmp = join(input.dir, `${file}.partial`)
      await writeFile(tmp, entry.bytes)
      await rename(tmp, join(input.dir, file))
      bytes += entry.bytes.byteLength
      manifest.push({ cid: entry.cid, file, mimeType: entry.mimeType, size: entry.bytes.byteLength })
    }
    const failed = (await this.#repos.listBlobs(input.did, { state: 'failed', limit: 100_000 })).map((b) => ({ cid: b.cid, error: b.lastError }))
    const pending = (await this.#repos.listBlobs(input.did, { state: 'pending', limit: 100_000 })).map((b) => b.cid)
    await writeFile(join(input.dir, 'manifest.json'), JSON.stringify({ did: input.did, exportedAt: iso(this.#now()), blobs: manifest, failed, pending }, null, 2))
    return { path: input.dir, bytes, items: manifest.length }
  }

  /** Every stored blob and a manifest, as a tar archive produced as it is read. */
  async blobsTar(did: string, signal?: AbortSignal): Promise<{ items: number; body: AsyncIterable<Uint8Array> }> {
    await this.#account(did)
    const usage = await this.#repos.storageUsage(did)
    const blobs = this.#storedBlobs(did, signal)
    const mtime = Math.floor(this.#now() / 1000)
    const entries = async function* (): AsyncGenerator<TarEntry> {
      const manifest: Array<{ cid: string; file: string; mimeType: string | null; size: number }> = []
      for await (const e of blobs) {
        manifest.push({ cid: e.cid, file: `blobs/${e.name}`, mimeType: e.mimeType, size: e.bytes.byteLength })
        yield { name: `blobs/${e.name}`, bytes: e.bytes, mtime }
      }
      yield { name: 'manifest.json', bytes: new TextEncoder().encode(JSON.stringify({ did, blobs: manifest }, null, 2)) }
    }
    return { items: usage.blobs.stored, body: writeTar(entries()) }
  }

  async *#storedBlobs(did: string, signal?: AbortSignal): AsyncGenerator<{ cid: string; name: string; mimeType: string | null; bytes: Uint8Array }> {
    await this.#account(did)
    for (let after: string | undefined; ; ) {
      throwIfAborted(signal)
      const page = await this.#repos.listBlobs(did, { state: 'stored', limit: 200, after, signal })
      for (const b of page) {
        // One blob in memory at a time.
        const bytes = await this.#init.storage.blocks.getBlock(b.cid, { signal })
        yield { cid: b.cid, name: b.cid + extensionFor(b.mimeType), mimeType: b.mimeType, bytes }
      }
      if (page.length < 200) return
      after = page.at(-1)!.cid
    }
  }

  /** Aborts running syncs and waits for them to settle. */
  async stop(): Promise<void> {
    this.#stopped = true
    const running = [...this.#running.values()]
    for (const r of running) r.controller.abort()
    await Promise.allSettled(running.map((r) => r.promise))
  }

  async #account(did: string): Promise<AccountState> {
    const a = await this.#repos.getAccount(did)
    if (a === null) throw new UnknownAccountError(did)
    return a
  }

  async #dto(a: AccountState): Promise<AccountDto> {
    const usage = await this.#repos.storageUsage(a.did)
    const counts = await this.#repos.countRecords(a.did)
    return {
      did: a.did,
      handle: a.handle,
      pdsUrl: a.pdsUrl,
      head: a.head === null ? null : { cid: a.head.cid, rev: a.head.rev },
      lastSyncAt: a.lastSyncAt === null ? null : iso(a.lastSyncAt),
      lastSyncSource: a.lastSyncSource,
      lastError: a.lastError === null ? null : { name: 'SyncError', code: a.lastError.code, message: a.lastError.message },
      syncing: this.#running.has(a.did),
      paused: this.#paused.has(a.did),
      nextSyncAt: this.#nextSyncAt(a.did),
      records: Object.values(counts).reduce((x, y) => x + y, 0),
      blobs: { stored: usage.blobs.stored, missing: usage.blobs.pending, failed: usage.blobs.failed },
      storageBytes: usage.repoBytes + usage.blobBytes,
      kind: 'archive',
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function verificationDto(r: VerificationResult): VerificationDto {
  return { level: r.level, ok: r.ok, at: iso(r.at), summary: summarize(r) }
}

/** One sentence a person can read for a stored verification result. */
export function summarize(r: VerificationResult): string {
  const d = r.details as Record<string, unknown>
  if (r.level === 'L0') {
    switch (d.status) {
      case 'match':
        return 'The backup has the same latest commit as the PDS.'
      case 'behind':
        return 'The PDS has newer data than the backup; a sync will bring it in.'
      case 'ahead':
        return 'The PDS went back to an older revision than the backup holds; the backup keeps the newer one.'
      case 'diverged':
        return 'The PDS and the backup have different commits at the same revision.'
      case 'no-backup':
        return 'There is no backup to compare yet.'
      default: {
        const error = d.error as { message?: string } | undefined
        return `The PDS could not be reached to compare: ${error?.message ?? 'unknown reason'}`
      }
    }
  }
  const missing = Array.isArray(d.missing) ? d.missing.length : 0
  const corrupt = Array.isArray(d.corrupt) ? d.corrupt.length : 0
  const checked = typeof d.checked === 'number' ? d.checked : 0
  if (r.ok) return `All ${checked} sampled blocks are present and match their CIDs.`
  return `Of ${checked} sampled blocks, ${missing} are missing and ${corrupt} do not match their CIDs.`
}

function eta(p: SyncProgressDto, phase: { at: number; bytes: number; blobs: number }, now: number): number | null {
  const elapsed = (now - phase.at) / 1000
  if (elapsed < 0.5) return null
  if (p.phase === 'repo' && p.totalBytes !== null && p.bytes > phase.bytes) {
    const rate = (p.bytes - phase.bytes) / elapsed
    return Math.max(0, Math.round((p.totalBytes - p.bytes) / rate))
  }
  if (p.phase === 'blobs' && p.blobsTotal !== null && p.blobsDone > phase.blobs) {
    const rate = (p.blobsDone - phase.blobs) / elapsed
    return Math.max(0, Math.round((p.blobsTotal - p.blobsDone) / rate))
  }
  return null
}

function extensionFor(mime: string | null): string {
  switch (mime) {
    case 'image/jpeg':
      return '.jpg'
    case 'image/png':
      return '.png'
    case 'image/gif':
      return '.gif'
    case 'image/webp':
      return '.webp'
    case 'video/mp4':
      return '.mp4'
    default:
      return ''
  }
}

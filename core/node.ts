/**
 * `createNode(init)`: the one facade both hosts (Electron main and `p2pds serve`) and the CLI use.
 * Components are wired by hand here, started in dependency order (storage → listeners) and
 * stopped in reverse.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import type { NodeHost, NodeInfoDto, NodeState, NodeStatusDto, P2pdsApi, P2pdsEvents, SyncStateDto } from './api.js'
import { publicConfig, type Config } from './config.js'
import { DATA_DIR_FILES } from './data-dir.js'
import { AccountsService } from './accounts.js'
import { exportFileName } from './export-names.js'
import { AbortError, NodeNotStartedError, throwIfAborted, toErrorDto } from './errors.js'
import { createIdentityResolver, identityResolverInit } from './identity/index.js'
import { BYTES_PER_KB, limitFetch, TokenBucket } from './network/bandwidth.js'
import { createSafeFetch } from './network/safe-fetch.js'
import { SyncScheduler } from './replication/scheduler.js'
import { createSqliteStorage } from './storage/index.js'
import { TypedEmitter } from './events.js'
import { BUILD_DIRS, VERSION } from './package-info.js'
import { createPeerApp, startPeerServer, type PeerServer } from './server/peer-server.js'
import { mountSyncMirror } from './server/sync-mirror.js'
import { startUiServer, type UiServer } from './server/ui-server.js'
import { acquireDataDirLock, type DataDirLock } from './storage/data-dir-lock.js'
import { openDatabase, type Database } from './storage/database.js'
import { migrate, schemaVersion } from './storage/migrations.js'
import type { RepoStore } from './storage/types.js'

/** Time limit of PDS requests (headers, then each body chunk), in ms. */
const PDS_TIMEOUT_MS = 60_000
/** Largest PDS response accepted (a whole repository CAR or one blob). */
const PDS_MAX_BYTES = 8 * 1024 ** 3

export interface AbortOptions {
  signal?: AbortSignal
}

/** Periodic sync settings of a node; the defaults come from the configuration. */
export interface NodeScheduleInit {
  /** Run periodic syncs. The CLI opening a data dir for one command turns this off. @default true */
  enabled?: boolean
  /** Period between two syncs of an account, in ms (tests shorten it). @default SYNC_INTERVAL_SEC × 1000 */
  intervalMs?: number
  /** Periodic syncs running at once. @default 2 */
  concurrency?: number
  /** First retry delay after a failed sync, in ms (doubles up to the interval). @default 60000 */
  retryBaseMs?: number
  /** Spread of each account's first run, as a fraction of the interval (±). @default 0.1 */
  jitter?: number
  /** Uniform in [0, 1), for the jitter. @default Math.random */
  random?: () => number
}

/** What a node is made from. Only `config` is required. */
export interface P2pdsNodeInit {
  /** The validated configuration (see `loadConfig`). */
  config: Config
  /** Which host runs the node; shown in status. @default 'serve' */
  host?: NodeHost
  /**
   * Start the peer-facing server and the local API + UI listener, and write `api.json`. The CLI
   * reading a data dir while no node runs turns this off. @default true
   */
  listen?: boolean
  /** better-sqlite3 native binding for the runtime in use. @default better-sqlite3's own */
  sqliteBinding?: string
  /** Built renderer folder served in browser mode. @default dist/renderer */
  rendererDir?: string
  /** Built browser-mode bridge. @default dist/preload/browser.js */
  bridgeFile?: string
  /** Electron's version when hosted by Electron. @default null */
  electronVersion?: string | null
  /** Period of the `node:status` tick while started, in ms. @default 5000 */
  statusIntervalMs?: number
  /** Clock. @default Date.now */
  now?: () => number
  /** Periodic sync. @default on, every SYNC_INTERVAL_SEC */
  schedule?: NodeScheduleInit
}

/** Where a running node can be reached by the CLI and the desktop app (`DATA_DIR/api.json`). */
export interface ApiInfoFile {
  url: string
  secret: string
  pid: number
}

export interface P2pdsNode {
  readonly status: NodeState
  readonly api: P2pdsApi
  readonly config: Config
  /** Local API URL (with no secret), once started with listeners. */
  readonly uiUrl: string | null
  /** URL at which peers reach this node: PUBLIC_URL, else the bound peer port on localhost. */
  readonly publicUrl: string | null
  /** The per-launch secret of the local API. */
  readonly secret: string
  /** Starts the node; resolves when started. Idempotent; concurrent calls share one start. */
  start(options?: AbortOptions): Promise<void>
  /** Stops the node; resolves when stopped. Idempotent. */
  stop(options?: AbortOptions): Promise<void>
  on<E extends keyof P2pdsEvents>(event: E, listener: (data: P2pdsEvents[E]) => void): () => void
  onAny(listener: <E extends keyof P2pdsEvents>(name: E, data: P2pdsEvents[E]) => void): () => void
}

/** Creates a node (stopped). */
export async function createNode(init: P2pdsNodeInit): Promise<P2pdsNode> {
  return new Node(init)
}

class Node implements P2pdsNode {
  readonly config: Config
  readonly secret = randomBytes(32).toString('base64url')
  readonly api: P2pdsApi
  #state: NodeState = 'stopped'
  readonly #events = new TypedEmitter<P2pdsEvents>()
  readonly #init: P2pdsNodeInit
  readonly #now: () => number
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #startedAt: number | null = null

  // Components, in start order.
  #lock: DataDirLock | undefined
  #db: Database | undefined
  #accounts: AccountsService | undefined
  #scheduler: SyncScheduler | undefined
  #unsubscribeSchedule: Array<() => void> = []
  #lastSyncState: string | undefined
  #syncStateRefresh: Promise<SyncStateDto | undefined> = Promise.resolve(undefined)
  #syncStateQueued = false
  #accountCount = 0
  #peer: PeerServer | undefined
  #ui: UiServer | undefined
  #apiFileWritten = false
  #unsubscribeCount: (() => void) | undefined
  #tick: NodeJS.Timeout | undefined

  constructor(init: P2pdsNodeInit) {
    this.#init = init
    this.config = init.config
    this.#now = init.now ?? Date.now
    this.api = {
      node: {
        status: async () => this.#statusDto(),
        info: async () => this.#infoDto(),
      },
      accounts: {
        list: () => this.#service().list(),
        get: ({ did }) => this.#service().get(did),
        add: ({ handleOrDid }) => this.#service().add(handleOrDid),
        sync: ({ did }) => this.#service().sync(did),
        remove: ({ did }) => this.#service().remove(did),
        verify: ({ did }) => this.#service().verify(did),
      },
      records: {
        collections: ({ did, rev }) => this.#service().collections(did, rev),
        list: (input) => this.#service().listRecords(input),
        get: (input) => this.#service().getRecord(input),
      },
      blobs: {
        get: ({ did, cid }) => this.#service().getBlob(did, cid),
      },
      sync: {
        pause: async (input) => {
          await this.#service().pause(input?.did)
          return this.#syncStateAfterChange()
        },
        resume: async (input) => {
          await this.#service().resume(input?.did)
          return this.#syncStateAfterChange()
        },
        state: () => this.#service().syncState(),
      },
      export: {
        car: (input) => this.#service().exportCarToFile(input),
        blobs: (input) => this.#service().exportBlobsToDir(input),
      },
    }
  }

  get status(): NodeState {
    return this.#state
  }

  get uiUrl(): string | null {
    return this.#ui?.url ?? null
  }

  get publicUrl(): string | null {
    if (this.config.publicUrl !== undefined) return this.config.publicUrl
    return this.#peer === undefined ? null : `http://localhost:${this.#peer.port}`
  }

  on<E extends keyof P2pdsEvents>(event: E, listener: (data: P2pdsEvents[E]) => void): () => void {
    return this.#events.on(event, listener)
  }

  onAny(listener: <E extends keyof P2pdsEvents>(name: E, data: P2pdsEvents[E]) => void): () => void {
    return this.#events.onAny(listener)
  }

  async start(options: AbortOptions = {}): Promise<void> {
    if (this.#state === 'started') return
    if (this.#starting !== undefined) return this.#starting
    if (this.#stopping !== undefined) await this.#stopping
    this.#starting = this.#doStart(options).finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  async stop(options: AbortOptions = {}): Promise<void> {
    if (this.#starting !== undefined) {
      // Let a start in progress settle first, so its components are stopped too.
      await this.#starting.catch(() => undefined)
    }
    if (this.#state === 'stopped') return
    if (this.#stopping !== undefined) return this.#stopping
    throwIfAborted(options.signal)
    this.#stopping = this.#doStop().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #doStart({ signal }: AbortOptions): Promise<void> {
    throwIfAborted(signal)
    this.#setState('starting')
    try {
      const dataDir = this.config.dataDir
      this.#lock = acquireDataDirLock(dataDir)
      throwIfAborted(signal)

      this.#db = openDatabase(join(dataDir, DATA_DIR_FILES.database), { nativeBinding: this.#init.sqliteBinding })
      migrate(this.#db, undefined, this.#now)
      throwIfAborted(signal)

      const storage = createSqliteStorage(this.#db, { now: this.#now })
      const safeFetch = createSafeFetch({
        allowPrivateNetwork: this.config.allowPrivateNetwork,
        timeoutMs: PDS_TIMEOUT_MS,
        maxBytes: PDS_MAX_BYTES,
      })
      const limit = this.config.bandwidthLimitKbps
      const accounts = new AccountsService({
        storage,
        resolver: createIdentityResolver(identityResolverInit(this.config)),
        // One bucket for every PDS transfer of the node: repos and blobs share the cap.
        fetch: limit === undefined ? safeFetch : limitFetch(safeFetch, new TokenBucket({ bytesPerSec: limit * BYTES_PER_KB })),
        emit: (event, data) => this.#events.emit(event, data),
        now: this.#now,
        nextSyncAt: (did) => this.#scheduler?.nextSyncAt(did) ?? null,
      })
      this.#accounts = accounts
      await accounts.start()
      this.#accountCount = await accounts.count()

      if (this.#init.listen ?? true) {
        const peerInit = {
          host: this.config.host,
          port: this.config.port,
          version: VERSION,
          rateLimitEnabled: this.config.rateLimitEnabled,
          now: this.#now,
        }
        const peerApp = createPeerApp(peerInit)
        // Held accounts are served read-only, so this node can stand in for their PDS.
        mountSyncMirror(peerApp, storage)
        this.#peer = await startPeerServer(peerInit, peerApp)
        throwIfAborted(signal)
        this.#ui = await startUiServer({
          api: this.api,
          subscribe: (l) => this.#events.onAny(l),
          initialEvents: async () => [{ name: 'node:status', data: this.#statusDto() }],
          secret: this.secret,
          port: this.config.uiPort,
          rendererDir: this.#init.rendererDir ?? BUILD_DIRS.renderer,
          bridgeFile: this.#init.bridgeFile ?? BUILD_DIRS.browserBridge,
          downloads: {
            car: async ({ did, rev }, signal) => {
              const account = await storage.repos.getAccount(did)
              const exp = await accounts.carStream(did, rev, signal)
              return { filename: exportFileName(account?.handle ?? null, did, exp.rev, 'car'), contentType: 'application/vnd.ipld.car', items: 0, body: exp.car }
            },
            blobs: async ({ did }, signal) => {
              const account = await storage.repos.getAccount(did)
              const tar = await accounts.blobsTar(did, signal)
              return { filename: exportFileName(account?.handle ?? null, did, 'blobs', 'tar'), contentType: 'application/x-tar', items: tar.items, body: tar.body }
            },
          },
        })
        throwIfAborted(signal)
        this.#writeApiFile({ url: this.#ui.url, secret: this.secret, pid: process.pid })
      }

      this.#startedAt = this.#now()
      this.#tick = setInterval(() => this.#events.emit('node:status', this.#statusDto()), this.#init.statusIntervalMs ?? 5000)
      this.#tick.unref()
      this.#unsubscribeCount = this.#events.on('accounts:changed', () => {
        void accounts.count().then(
          (n) => {
            if (n === this.#accountCount) return
            this.#accountCount = n
            this.#events.emit('node:status', this.#statusDto())
          },
          () => undefined,
        )
      })
      this.#setState('started')
      await this.#startScheduler(accounts, storage.repos)
      this.#addConfiguredAccounts(accounts)
    } catch (err) {
      await this.#release()
      this.#setState('stopped')
      if (signal?.aborted === true && !(err instanceof AbortError)) throw new AbortError()
      throw err
    }
  }

  async #doStop(): Promise<void> {
    this.#setState('stopping')
    await this.#release()
    this.#startedAt = null
    this.#setState('stopped')
  }

  /**
   * Periodic sync of every held account: accounts are tracked as they are added or removed, any
   * successful sync moves the account's next one an interval away, and every change of the
   * schedule or pause state is pushed as `sync:state`.
   */
  async #startScheduler(accounts: AccountsService, repos: RepoStore): Promise<void> {
    const opts = this.#init.schedule ?? {}
    const watch = <E extends keyof P2pdsEvents>(event: E, fn: (d: P2pdsEvents[E]) => void) => this.#unsubscribeSchedule.push(this.#events.on(event, fn))
    if (opts.enabled ?? true) {
      const scheduler = new SyncScheduler({
        run: (did, { signal }) => accounts.sync(did, { signal }),
        intervalMs: opts.intervalMs ?? this.config.syncIntervalSec * 1000,
        isPaused: (did) => accounts.isPaused(did),
        concurrency: opts.concurrency,
        retryBaseMs: opts.retryBaseMs,
        jitter: opts.jitter,
        random: opts.random,
        now: this.#now,
        onChange: () => void this.#refreshSyncState(),
      })
      this.#scheduler = scheduler
      for (const a of await repos.listAccounts()) scheduler.track(a.did, a.lastSyncAt)
      watch('sync:completed', ({ did }) => scheduler.synced(did))
      watch('accounts:changed', ({ did }) => {
        void repos.getAccount(did).then(
          (a) => (a === null ? scheduler.untrack(did) : scheduler.track(did, a.lastSyncAt)),
          () => undefined,
        )
      })
      scheduler.start()
    }
    // Syncs starting and ending, accounts added and removed.
    watch('accounts:changed', () => void this.#refreshSyncState())
    void this.#refreshSyncState()
  }

  /** After a pause or resume: the scheduler re-evaluates, and the new state is pushed and returned. */
  async #syncStateAfterChange(): Promise<SyncStateDto> {
    this.#scheduler?.wake()
    return (await this.#refreshSyncState()) ?? this.#service().syncState()
  }

  /**
   * Reads the sync state and pushes `sync:state` (and `node:status`) when it differs from the last
   * one pushed. Calls made while one is waiting share it; never rejects.
   */
  #refreshSyncState(): Promise<SyncStateDto | undefined> {
    if (this.#syncStateQueued) return this.#syncStateRefresh
    this.#syncStateQueued = true
    this.#syncStateRefresh = this.#syncStateRefresh.then(async () => {
      this.#syncStateQueued = false
      const accounts = this.#accounts
      if (accounts === undefined || this.#state !== 'started') return undefined
      try {
        const state = await accounts.syncState()
        const json = JSON.stringify(state)
        if (json !== this.#lastSyncState) {
          this.#lastSyncState = json
          this.#events.emit('sync:state', state)
          this.#events.emit('node:status', this.#statusDto())
        }
        return state
      } catch {
        return undefined // the database is closing: the node is stopping
      }
    })
    return this.#syncStateRefresh
  }

  /** Accounts listed in REPLICATE_DIDS are held from the start (added, then synced, in the background). */
  #addConfiguredAccounts(accounts: AccountsService): void {
    for (const did of this.config.replicateDids) {
      void this.api.accounts.list().then(async (held) => {
        // A paused account (or node) is held but not synced.
        if (held.some((a) => a.did === did)) return accounts.isPaused(did) ? undefined : accounts.sync(did)
        return accounts.add(did)
      }).catch((err: unknown) => this.#events.emit('sync:failed', { did, error: toErrorDto(err) }))
    }
  }

  #service(): AccountsService {
    if (this.#accounts === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#accounts
  }

  /** Stops whatever components are up, in reverse start order. Never throws. */
  async #release(): Promise<void> {
    // Started last, stopped first: no timer left, its runs aborted (below, with every other sync).
    const schedulerStopped = this.#scheduler?.stop()
    this.#scheduler = undefined
    for (const u of this.#unsubscribeSchedule.splice(0)) u()
    this.#lastSyncState = undefined
    if (this.#tick !== undefined) clearInterval(this.#tick)
    this.#tick = undefined
    this.#unsubscribeCount?.()
    this.#unsubscribeCount = undefined
    if (this.#apiFileWritten) this.#removeApiFile()
    await this.#ui?.close().catch(() => undefined)
    this.#ui = undefined
    await this.#peer?.close().catch(() => undefined)
    this.#peer = undefined
    await this.#accounts?.stop().catch(() => undefined)
    await schedulerStopped
    this.#accounts = undefined
    try {
      this.#db?.close()
    } catch {
      // Closing a broken handle: nothing more to do.
    }
    this.#db = undefined
    this.#lock?.release()
    this.#lock = undefined
  }

  #writeApiFile(info: ApiInfoFile): void {
    const file = join(this.config.dataDir, DATA_DIR_FILES.apiInfo)
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(info), { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
    this.#apiFileWritten = true
  }

  #removeApiFile(): void {
    const file = join(this.config.dataDir, DATA_DIR_FILES.apiInfo)
    try {
      const current = JSON.parse(readFileSync(file, 'utf8')) as Partial<ApiInfoFile>
      if (current.pid === process.pid && current.secret === this.secret) rmSync(file, { force: true })
    } catch {
      // Already gone or unreadable: not ours to remove.
    }
    this.#apiFileWritten = false
  }

  #setState(state: NodeState): void {
    if (this.#state === state) return
    this.#state = state
    this.#events.emit('node:status', this.#statusDto())
  }

  #statusDto(): NodeStatusDto {
    return {
      state: this.#state,
      host: this.#init.host ?? 'serve',
      pid: process.pid,
      version: VERSION,
      dataDir: this.config.dataDir,
      startedAt: this.#startedAt === null ? null : new Date(this.#startedAt).toISOString(),
      uptimeSec: this.#startedAt === null ? 0 : Math.max(0, Math.floor((this.#now() - this.#startedAt) / 1000)),
      rssMb: Math.round((process.memoryUsage.rss() / 1024 / 1024) * 10) / 10,
      listeners: { ui: this.#ui?.url ?? null, peer: this.#peer?.url ?? null },
      accounts: this.#accountCount,
      sync: {
        paused: this.#accounts?.pausedAll ?? false,
        running: this.#accounts?.syncing ?? 0,
        nextSyncAt: iso(this.#scheduler?.earliestNextSyncAt() ?? null),
      },
    }
  }

  #infoDto(): NodeInfoDto {
    if (this.#db === undefined) throw new NodeNotStartedError()
    return {
      name: 'P2PDS',
      version: VERSION,
      host: this.#init.host ?? 'serve',
      dataDir: this.config.dataDir,
      databaseFile: join(this.config.dataDir, DATA_DIR_FILES.database),
      schemaVersion: schemaVersion(this.#db),
      runtime: {
        node: process.versions.node,
        electron: this.#init.electronVersion ?? null,
        platform: process.platform,
        arch: process.arch,
      },
      identity: null,
      config: publicConfig(this.config) as unknown as Record<string, unknown>,
    }
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

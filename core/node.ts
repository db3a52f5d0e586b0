/**
 * `createNode(init)`: the one facade both hosts (Electron main and `p2pds serve`) and the CLI use.
 * Components are wired by hand here, started in dependency order (storage → listeners) and
 * stopped in reverse.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import type { AccountDto, NodeHost, NodeInfoDto, NodeState, NodeStatusDto, P2pdsApi, P2pdsEvents, StorageUsageDto, SyncStateDto } from './api.js'
import { publicConfig, type Config } from './config.js'
import { DATA_DIR_FILES } from './data-dir.js'
import { AccountsService } from './accounts.js'
import { exportFileName } from './export-names.js'
import { AbortError, NetworkDisabledError, NodeNotStartedError, PolicyError, throwIfAborted, toErrorDto } from './errors.js'
import { createIdentityResolver, identityResolverInit } from './identity/index.js'
import { BYTES_PER_KB, limitFetch, TokenBucket } from './network/bandwidth.js'
import { createSafeFetch } from './network/safe-fetch.js'
import { SyncScheduler } from './replication/scheduler.js'
import { FirehoseConsumer, type NodeFirehoseInit } from './replication/firehose.js'
import { accountLiveDto, firehoseStateDto, withLiveState } from './replication/firehose-dto.js'
import { SettingsService } from './settings.js'
import { createSqliteStorage } from './storage/index.js'
import { TypedEmitter } from './events.js'
import { BUILD_DIRS, VERSION } from './package-info.js'
import { createPeerApp, startPeerServer, type PeerServer } from './server/peer-server.js'
import { mountSyncMirror } from './server/sync-mirror.js'
import { PeerSyncService, type ChallengeSettings } from './replication/peer-sync.js'
import { syncRepo as syncRepoFromPds } from './replication/repo-sync.js'
import { mountChallengeRoutes } from './server/challenge-routes.js'
import { PlcMirror } from './identity/plc-mirror.js'
import { RecoveryService } from './recovery/service.js'
import { createSecretBox, loadOrCreateSalt, type DataKeyStore, type SecretBox } from './auth/secret-box.js'
import { AuthService } from './auth/sessions.js'
import { publishableEndpoint } from './auth/peer-record.js'
import { OffersService } from './offers.js'
import { PolicyEffects } from './offers-policies.js'
import { GroupsService } from './groups.js'
import { ChallengeHistory } from './replication/challenge-history.js'
import { parsePolicyFile, replicateDidsPolicies } from './policy/index.js'
import { mountOfferRoutes } from './server/offer-routes.js'
import { LexiconIndexer, SqliteLexiconIndex } from './replication/lexicon-index.js'
import { mountLexiconRoutes, toLexiconDto } from './server/lexicon-routes.js'
import { mountPlcRoutes } from './server/plc-routes.js'
import { startUiServer, type UiServer } from './server/ui-server.js'
import { acquireDataDirLock, type DataDirLock } from './storage/data-dir-lock.js'
import { openDatabase, type Database } from './storage/database.js'
import { migrate, schemaVersion } from './storage/migrations.js'
import type { RepoStorage, RepoStore } from './storage/types.js'
import type { FetchLike } from './replication/pds-client.js'

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
  /** Real-time sync from FIREHOSE_URL (tests shorten its timings). @default on when FIREHOSE_ENABLED and the node listens */
  firehose?: NodeFirehoseInit
  /** Storage challenge settings (tests seed the nonces). @default sample sizes and deadline of core/replication/challenge.ts */
  challenges?: ChallengeSettings
  /**
   * Peer endpoint URLs asked, in order, for the PLC log of a DID when the PLC directory gives none
   * (e.g. the peers known to hold that account). @default the endpoints of the peers known to hold the DID (peer directory)
   */
  plcPeerEndpoints?: (did: string) => readonly string[] | Promise<readonly string[]>
  /**
   * Where the host keeps the data key of secrets at rest (Electron: `safeStorage`). Without it,
   * P2PDS_SECRET or SECRET_KEY_FILE (see core/auth/secret-box.ts). @default none
   */
  dataKeyStore?: DataKeyStore
  /** Offers and agreements. */
  offers?: {
    /** Period of the check of every offered-to repo, in ms; 0 turns it off. @default 900000 (0 when `schedule.enabled` is false and this is not given) */
    checkIntervalMs?: number
  }
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
  /** The loaded configuration until started; from start, with the saved settings applied (core/settings.ts). */
  config: Config
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
  #peerSync: PeerSyncService | undefined
  #plc: PlcMirror | undefined
  #recovery: RecoveryService | undefined
  #lexiconIndex: SqliteLexiconIndex | undefined
  #lexiconIndexer: LexiconIndexer | undefined
  #unsubscribeIdentity: Array<() => void> = []
  #settings: SettingsService | undefined
  #secretBoxMade: SecretBox | undefined
  #auth: AuthService | undefined
  #offers: OffersService | undefined
  /** Policies taking effect: kinds of held accounts, per-account interval, retention, safety. */
  #policyEffects: PolicyEffects | undefined
  #groups: GroupsService | undefined
  #scheduler: SyncScheduler | undefined
  #firehose: FirehoseConsumer | null = null
  /** DIDs of the last sync state read (for live states in `node.status` while the firehose is off). */
  #knownDids: string[] = []
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
        list: async () => this.#effects().decorateAll(await this.#service().list()),
        get: async ({ did }) => this.#effects().decorate(await this.#service().get(did)),
        // Added by hand: held for an archive policy (policies say which DIDs the node holds).
        add: async ({ handleOrDid }) => {
          const effects = this.#effects()
          const account = await this.#hold(handleOrDid)
          this.#offersService().addedByHand(account.did)
          return effects.decorate(account)
        },
        sync: ({ did }) => this.#service().sync(did),
        remove: async ({ did }) => {
          const offers = this.#offersService()
          await this.#service().remove(did)
          offers.removedByHand(did)
        },
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
          this.#firehose?.resumed(input?.did)
          return this.#syncStateAfterChange()
        },
        state: async () => this.#withLive(await this.#service().syncState()),
      },
      export: {
        car: (input) => this.#service().exportCarToFile(input),
        blobs: (input) => this.#service().exportBlobsToDir(input),
      },
      plc: {
        list: async () => this.#plcMirror().list(),
        getLog: async ({ did }) => this.#plcMirror().getLog(did),
        refresh: ({ did }) => this.#plcMirror().refresh(did),
      },
      lexicons: {
        list: async (input) => {
          const page = this.#lexicons().list({ prefix: input?.q, limit: input?.limit, cursor: input?.cursor })
          return { lexicons: page.lexicons.map(toLexiconDto), cursor: page.cursor }
        },
        stats: async () => {
          const s = this.#lexicons().stats()
          return { nsids: s.nsids, records: s.records, repos: s.repos, updatedAt: iso(s.updatedAt) }
        },
      },
      recovery: {
        listRotationKeys: (input) => this.#recoveryService().recovery.listRotationKeys(input),
        newRotationKey: (input) => this.#recoveryService().recovery.newRotationKey(input),
        importRotationKey: (input) => this.#recoveryService().recovery.importRotationKey(input),
        addRotationKey: (input) => this.#recoveryService().recovery.addRotationKey(input),
        restorePlan: (input) => this.#recoveryService().recovery.restorePlan(input),
        restoreStart: (input) => this.#recoveryService().recovery.restoreStart(input),
        restoreStatus: (input) => this.#recoveryService().recovery.restoreStatus(input),
        exportKit: (input) => this.#recoveryService().recovery.exportKit(input),
      },
      auth: {
        login: ({ handle }) => this.#authService().login(handle),
        loginAppPassword: ({ identifier, password }) => this.#authService().loginAppPassword(identifier, password),
        status: async () => this.#authService().status(),
        list: async () => this.#authService().list(),
        logout: ({ did }) => this.#authService().logout(did),
      },
      offers: {
        list: async () => this.#offersService().list(),
        offer: (input) => this.#offersService().offer(input),
        accept: (input) => this.#offersService().accept(input),
        deny: (input) => this.#offersService().deny(input),
        revoke: (input) => this.#offersService().revoke(input),
        check: () => this.#offersService().check(),
        purgeNow: (input) => this.#offersService().purgeNow(input),
        consent: (input) => this.#offersService().consent(input),
        archive: (input) => this.#offersService().archive(input),
      },
      policies: {
        list: () => this.#effects().list(),
        update: async (input) => this.#offersService().updatePolicy(input),
      },
      groups: {
        list: () => this.#groupsService().list(),
        create: (input) => this.#groupsService().create(input),
        remove: (input) => this.#groupsService().remove(input),
        join: (input) => this.#groupsService().join(input),
      },
      settings: {
        get: async () => this.#settingsService().get(),
        update: async (input) => this.#settingsService().update(input),
      },
      peers: {
        list: () => this.#peerService().api.list(),
        add: (input) => this.#peerService().api.add(input),
        remove: (input) => this.#peerService().api.remove(input),
        challenge: (input) => this.#peerService().api.challenge(input),
        history: (input) => this.#peerService().api.history(input),
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

      const settings = new SettingsService({
        db: this.#db,
        config: this.#init.config,
        now: this.#now,
        emit: (event, data) => this.#events.emit(event, data),
        onChange: (values, changed) => {
          if (changed.includes('bandwidthLimitKbps')) bucket.setRate(kbpsToBytes(values.bandwidthLimitKbps))
          if (changed.includes('syncIntervalSec')) this.#scheduler?.setIntervalMs(values.syncIntervalSec * 1000)
          if (changed.includes('storageLimitMb')) {
            this.#scheduler?.wake()
            if (this.#settings?.storageUsage().level !== 'full') this.#firehose?.resumed()
            this.#events.emit('node:status', this.#statusDto())
          }
        },
      })
      this.#settings = settings
      this.config = settings.startConfig()

      const storage = createSqliteStorage(this.#db, { now: this.#now })
      const safeFetch = createSafeFetch({
        allowPrivateNetwork: this.config.allowPrivateNetwork,
        timeoutMs: PDS_TIMEOUT_MS,
        maxBytes: PDS_MAX_BYTES,
      })
      // One bucket for every PDS transfer of the node: repos and blobs share the cap, which the
      // bandwidth setting changes at once (also for transfers under way).
      const bucket = new TokenBucket({ bytesPerSec: kbpsToBytes(this.config.bandwidthLimitKbps ?? null) })
      const accounts = new AccountsService({
        storage,
        resolver: createIdentityResolver(identityResolverInit(this.config)),
        fetch: limitFetch(safeFetch, bucket),
        admit: (did) => settings.admit(did),
        // Peer-first: peers holding the DID serve the repository when they can (verified the same way).
        repoSync: (store, account, options) => (this.#peerSync === undefined ? syncRepoFromPds(store, account, options) : this.#peerSync.syncRepo(store, account, options)),
        // Blobs the PDS cannot serve come from the peers holding the account (bitswap).
        blobFromPeers: (did, cid, options) => (this.#peerSync === undefined ? Promise.reject(new NetworkDisabledError('Fetching blobs from peers')) : this.#peerSync.fetchBlock(did, cid, options)),
        emit: (event, data) => this.#events.emit(event, data),
        now: this.#now,
        nextSyncAt: (did) => this.#scheduler?.nextSyncAt(did) ?? null,
      })
      this.#accounts = accounts
      await accounts.start()
      this.#accountCount = await accounts.count()

      // Peer network (libp2p + challenges): after storage, before anything that notifies peers.
      this.#peerSync = new PeerSyncService({
        db: this.#db,
        storage,
        dataDir,
        // A CLI command that opens the data dir for itself does its work over HTTP: starting libp2p
        // (seconds to load) would only slow it down.
        ipfsEnabled: this.config.ipfsEnabled && this.#init.host !== 'cli',
        ipfsNetworking: this.config.ipfsNetworking,
        listenAddrs: this.config.listenAddrs,
        challengeIntervalSec: (this.#init.schedule?.enabled ?? true) ? this.config.challengeIntervalSec : 0,
        challenges: this.#init.challenges,
        fetch: safeFetch,
        sync: (did) => accounts.sync(did),
        preferredPeers: (did) => this.#policyEffects?.preferredPeers(did) ?? [],
        emit: (event, data) => this.#events.emit(event, data),
        now: this.#now,
      })
      await this.#peerSync.start({ signal })

      // PLC mirror and lexicon index: both follow the accounts held (see #startIdentity).
      const lexiconIndex = new SqliteLexiconIndex({ db: this.#db, now: this.#now })
      this.#lexiconIndex = lexiconIndex
      this.#plc = new PlcMirror({
        db: this.#db,
        plcUrl: this.config.plcUrl,
        allowPrivateNetwork: this.config.allowPrivateNetwork,
        refreshIntervalMs: this.config.plcRefreshSec * 1000,
        // When the directory is unreachable, the peers known to hold the DID serve its log.
        peerEndpoints:
          this.#init.plcPeerEndpoints ??
          (async (did) => ((await this.#peerSync?.peers.holding(did)) ?? []).flatMap((p) => (p.endpoint === null ? [] : [p.endpoint]))),
        onChanged: (status) => this.#events.emit('plc:changed', status),
        now: this.#now,
      })
      const db = this.#db
      this.#recovery = new RecoveryService({
        db,
        storage,
        // Made on first use, so a node that never holds a key never makes a data key.
        secretBox: () => this.#secretBox(),
        resolver: createIdentityResolver(identityResolverInit(this.config)),
        plcUrl: this.config.plcUrl,
        allowPrivateNetwork: this.config.allowPrivateNetwork,
        emit: (progress) => this.#events.emit('recovery:progress', progress),
        exportCar: (input) => accounts.exportCarToFile(input),
        exportBlobs: (input) => accounts.exportBlobsToDir(input),
        now: this.#now,
      })
      this.#lexiconIndexer = new LexiconIndexer({
        index: lexiconIndex,
        onChanged: (s) => this.#events.emit('lexicons:changed', { nsids: s.nsids, records: s.records, repos: s.repos, updatedAt: iso(s.updatedAt) }),
      })

      this.#auth = new AuthService({
        db,
        secrets: () => this.#secretBox(),
        lockDir: join(dataDir, 'locks'),
        resolver: createIdentityResolver(identityResolverInit(this.config)),
        fetch: safeFetch,
        plcUrl: this.config.plcUrl,
        oauthEnabled: this.config.oauthEnabled,
        allowHttp: this.config.allowPrivateNetwork,
        emit: (event, data) => this.#events.emit(event, data),
        peerSelf: () => {
          const net = this.#peerSync?.info()
          return {
            peerId: net?.enabled === true ? net.peerId : null,
            multiaddrs: net?.networking === true ? net.multiaddrs : [],
            endpoint: publishableEndpoint(this.publicUrl, this.config.allowPrivateNetwork),
          }
        },
        now: this.#now,
      })
      const auth = this.#auth
      this.#offers = new OffersService({
        db,
        auth,
        resolver: createIdentityResolver(identityResolverInit(this.config)),
        // Offers, peer records and consent records are small: a tight cap on what is read.
        fetch: createSafeFetch({ allowPrivateNetwork: this.config.allowPrivateNetwork, timeoutMs: 30_000, maxBytes: 1024 * 1024 }),
        hold: (did) => this.#hold(did),
        release: (did) => accounts.remove(did),
        emit: (event, data) => this.#events.emit(event, data),
        trustedDids: this.config.trustedDids,
        purgeGraceSec: this.config.purgeGraceSec,
        // An agreement partner's node holds our data: it is challenged, and asked first for blocks.
        partnerFound: async ({ peerId, multiaddrs, endpoint, localDid }) => {
          const entry = await this.#peerSync?.peers.add({ source: 'agreement', peerId, multiaddrs, endpoint, dids: [localDid] })
          if (entry !== undefined) this.#events.emit('peers:changed', { id: entry.id })
        },
        checkIntervalMs: this.#init.offers?.checkIntervalMs ?? ((this.#init.schedule?.enabled ?? true) ? undefined : 0),
        now: this.#now,
      })
      const offers = this.#offers
      const challengeHistory = new ChallengeHistory(db)
      this.#policyEffects = new PolicyEffects({
        offers,
        storage,
        logins: () => auth.list(),
        peersHolding: (did) => this.#peerSync?.peers.holding(did) ?? Promise.resolve([]),
        challenges: (did) => challengeHistory.forDid(did, 500),
        now: this.#now,
      })
      this.#groups = new GroupsService({
        db,
        resolver: createIdentityResolver(identityResolverInit(this.config)),
        offers,
        logins: () => auth.list(),
        held: async () => {
          const held = new Map<string, 'verified' | 'held'>()
          for (const a of await storage.repos.listAccounts()) {
            if (a.head === null) continue
            const [latest] = await storage.repos.listVerifications(a.did, { limit: 1 })
            held.set(a.did, latest?.ok === true ? 'verified' : 'held')
          }
          return held
        },
        now: this.#now,
      })
      // REPLICATE_DIDS and POLICY_FILE, validated before anything listens (a bad file stops the start with one line).
      const configPolicies = [
        ...replicateDidsPolicies(this.config.replicateDids, this.#now()),
        ...(this.config.policyFile === undefined ? [] : parsePolicyFile(readPolicyFile(this.config.policyFile), this.config.policyFile, this.#now())),
      ]

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
        const peerSync = this.#peerSync
        mountChallengeRoutes(peerApp, peerSync.responder(), () => peerSync.info().multiaddrs, { rateLimitEnabled: this.config.rateLimitEnabled, now: this.#now })
        mountPlcRoutes(peerApp, this.#db, { rateLimitEnabled: this.config.rateLimitEnabled, now: this.#now })
        mountLexiconRoutes(peerApp, lexiconIndex, { rateLimitEnabled: this.config.rateLimitEnabled, now: this.#now })
        mountOfferRoutes(peerApp, { receive: (body) => offers.receiveNotify(body), rateLimitEnabled: this.config.rateLimitEnabled, now: this.#now })
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
          oauthCallback: async (params) => {
            const login = await this.#authService().callback(params)
            return { ok: true, message: `Logged in to P2PDS as ${login.handle ?? login.did}. You can close this tab.` }
          },
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
        this.#auth.enableOAuth(this.#ui.port)
        this.#writeApiFile({ url: this.#ui.url, secret: this.secret, pid: process.pid })
      }

      this.#startedAt = this.#now()
      this.#tick = setInterval(() => {
        // Every writer of blocks (syncs, the firehose, removals) moves usage: check it with the tick (O(1)).
        settings.checkStorage()
        this.#events.emit('node:status', this.#statusDto())
      }, this.#init.statusIntervalMs ?? 5000)
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
      this.#unsubscribeSchedule.push(this.#events.on('sync:completed', (r) => this.#peerSync?.syncCompleted(r)))
      this.#auth.start()
      this.#offers.start()
      // REPLICATE_DIDS accounts are added by #addConfiguredAccounts.
      this.#offers.applyConfigPolicies(configPolicies, new Set(this.config.replicateDids))
      // Accounts held from before policies existed become archive policies (what adding by hand
      // meant); an active policy whose account is not held (its first hold failed) is held now.
      const heldAtStart = (await storage.repos.listAccounts()).map((a) => a.did)
      this.#offers.adoptHeld(heldAtStart)
      this.#offers.holdMissing(new Set(heldAtStart))
      this.#unsubscribeSchedule.push(this.#events.on('sync:completed', ({ did }) => void this.#policyEffects?.applyRetention(did).catch(() => undefined)))
      this.#startIdentity()
      settings.checkStorage()
      this.#unsubscribeSchedule.push(this.#events.on('sync:completed', () => void settings.checkStorage()))
      await this.#startScheduler(accounts, storage.repos)
      await this.#startFirehose(accounts, storage, limitFetch(safeFetch, bucket))
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
        // The merged intervalSec of the account's policies, when one says.
        intervalFor: (did) => this.#policyEffects?.intervalMs(did),
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
      // A policy of the account changed (its interval may have): re-plan its next sync.
      watch('offers:changed', ({ did }) => {
        if (!scheduler.has(did)) return
        void repos.getAccount(did).then(
          (a) => scheduler.replan(did, a?.lastSyncAt ?? null),
          () => undefined,
        )
      })
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
    return (await this.#refreshSyncState()) ?? this.#withLive(await this.#service().syncState())
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
        const state = this.#withLive(await accounts.syncState())
        this.#knownDids = state.accounts.map((a) => a.did)
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

  /**
   * The firehose (after the scheduler; stopped before it): follows FIREHOSE_URL, applies verified
   * commits of held accounts at once, resyncs through `accounts.sync` when it cannot, and pushes
   * live-state changes as `sync:state`. Off when FIREHOSE_ENABLED=false or the node does not listen.
   */
  async #startFirehose(accounts: AccountsService, storage: RepoStorage, fetch: FetchLike): Promise<void> {
    const opts = this.#init.firehose ?? {}
    if (!(opts.enabled ?? (this.config.firehoseEnabled && (this.#init.listen ?? true))) || this.#db === undefined) return
    const resolver = createIdentityResolver(identityResolverInit(this.config))
    const consumer = new FirehoseConsumer({
      ...opts,
      url: this.config.firehoseUrl,
      db: this.#db,
      storage,
      fetch,
      resolve: (did, o) => resolver.resolve(did, o),
      // At the storage cap the stream stores nothing either; what it skipped is owed and caught up
      // once the cap is raised (`resumed` in the settings' onChange).
      isPaused: (did) => accounts.isPaused(did) || this.#settings?.storageUsage().level === 'full',
      resync: (did) => accounts.sync(did),
      onChange: () => void this.#refreshSyncState(),
      onOutcome: (o) => {
        if (o.result === 'applied' && o.did !== undefined) this.#events.emit('accounts:changed', { did: o.did })
      },
      now: this.#now,
    })
    this.#firehose = consumer
    this.#unsubscribeSchedule.push(this.#events.on('accounts:changed', () => void consumer.refreshAccounts().catch(() => undefined)))
    await consumer.start()
  }

  /** `sync.state` with each account's live state and the firehose connection. */
  #withLive(state: SyncStateDto): SyncStateDto {
    return withLiveState(state, this.#firehose, this.config.firehoseUrl)
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

  /**
   * Starts the PLC mirror (periodic refresh) and the lexicon index (rebuilt now), and points them
   * at account changes: a new did:plc is mirrored at once, a removed account leaves both, and any
   * change of an account's head (sync, firehose) is re-indexed.
   */
  #startIdentity(): void {
    const plc = this.#plc
    const indexer = this.#lexiconIndexer
    if (plc === undefined || indexer === undefined) return
    if (this.#init.schedule?.enabled ?? true) plc.start()
    indexer.start()
    this.#unsubscribeIdentity.push(
      this.#events.on('accounts:changed', ({ did }) => {
        try {
          plc.accountChanged(did)
        } catch {
          // The database is closing: the node is stopping.
        }
        indexer.changed(did)
      }),
      this.#events.on('sync:completed', ({ did }) => indexer.changed(did)),
    )
  }

  #plcMirror(): PlcMirror {
    if (this.#plc === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#plc
  }

  #recoveryService(): RecoveryService {
    if (this.#recovery === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#recovery
  }

  #lexicons(): SqliteLexiconIndex {
    if (this.#lexiconIndex === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#lexiconIndex
  }

  /** The node's one SecretBox (sealing secrets at rest), made on first use and shared by every component. */
  #secretBox(): SecretBox {
    this.#secretBoxMade ??= createSecretBox({
      passphrase: this.config.p2pdsSecret,
      salt: this.config.p2pdsSecret === undefined ? undefined : loadOrCreateSalt(join(this.config.dataDir, 'secret.salt')),
      keyFile: this.config.secretKeyFile,
      hostKeyStore: this.#init.dataKeyStore,
    })
    return this.#secretBoxMade
  }

  #offersService(): OffersService {
    if (this.#offers === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#offers
  }

  #groupsService(): GroupsService {
    if (this.#groups === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#groups
  }

  #effects(): PolicyEffects {
    if (this.#policyEffects === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#policyEffects
  }

  /** Starts holding an account (the storage cap admits it first); the caller records why (a policy). */
  async #hold(handleOrDid: string): Promise<AccountDto> {
    const accounts = this.#service()
    this.#settingsService().admit(handleOrDid, 'added')
    return accounts.add(handleOrDid)
  }

  #authService(): AuthService {
    if (this.#auth === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#auth
  }

  #settingsService(): SettingsService {
    if (this.#settings === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#settings
  }

  #peerService(): PeerSyncService {
    if (this.#peerSync === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#peerSync
  }

  #service(): AccountsService {
    if (this.#accounts === undefined || this.#state !== 'started') throw new NodeNotStartedError()
    return this.#accounts
  }

  /** Stops whatever components are up, in reverse start order. Never throws. */
  async #release(): Promise<void> {
    // The firehose started after the scheduler: stopped before it, once the event it handles is stored.
    await this.#firehose?.stop().catch(() => undefined)
    this.#firehose = null
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
    for (const u of this.#unsubscribeIdentity.splice(0)) u()
    await this.#plc?.stop().catch(() => undefined)
    this.#plc = undefined
    await this.#recovery?.stop().catch(() => undefined)
    this.#recovery = undefined
    await this.#offers?.stop().catch(() => undefined)
    this.#offers = undefined
    this.#policyEffects = undefined
    this.#groups = undefined
    await this.#auth?.stop().catch(() => undefined)
    this.#auth = undefined
    await this.#lexiconIndexer?.stop().catch(() => undefined)
    this.#lexiconIndexer = undefined
    this.#lexiconIndex = undefined
    await this.#peerSync?.stop().catch(() => undefined)
    this.#peerSync = undefined
    await this.#accounts?.stop().catch(() => undefined)
    await schedulerStopped
    this.#accounts = undefined
    this.#settings = undefined
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
        firehose: firehoseStateDto(this.#firehose, this.config.firehoseUrl),
        live: (this.#firehose?.heldDids() ?? this.#knownDids).map((did) => accountLiveDto(this.#firehose, did)),
      },
      storage: this.#storageUsage(),
    }
  }

  #storageUsage(): StorageUsageDto | null {
    if (this.#settings === undefined || this.#state !== 'started') return null
    try {
      return this.#settings.storageUsage()
    } catch {
      return null // the database is closing
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
      identity: this.#auth?.identity() ?? null,
      config: publicConfig(this.config) as unknown as Record<string, unknown>,
      network: this.#peerSync?.info() ?? null,
    }
  }
}

/** A KB/s cap as a token bucket's rate (null: no cap). */
function kbpsToBytes(kbps: number | null): number | null {
  return kbps === null ? null : kbps * BYTES_PER_KB
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

/** The text of POLICY_FILE; a file that cannot be read stops the start with one line. */
function readPolicyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new PolicyError(`POLICY_FILE ${file} cannot be read: ${(err as Error).message}`)
  }
}

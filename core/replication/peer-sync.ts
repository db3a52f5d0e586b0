/**
 * `PeerSyncService`: the node's peer-network component. It owns the {@link NetworkService}
 * (Helia/libp2p, or signing only when networking is off), the {@link PeerDirectory}, the
 * challenge responder and challenger, and the glue between them and account sync:
 *
 * - after a sync that brought a new head, the commit CID is announced (DHT provide, best effort)
 *   and every known peer holding the DID is sent `/p2pds/notify/1.0.0`;
 * - a head notice from a known peer, for a DID this node holds at an older rev, starts an
 *   incremental sync of it (the sync verifies everything against the PDS as usual);
 * - challenges run on demand (`peers.challenge`) and on a schedule (`CHALLENGE_INTERVAL_SEC`).
 *
 * Background work never rejects into the host: failures are caught and reported as events.
 */
import type { Database } from 'better-sqlite3'
import type { ChallengeResultDto, DetectionDto, NetworkInfoDto, P2pdsApi, P2pdsEvents, PeerDto, SyncResultDto } from '../api.js'
import { HeliaNetworkService } from '../network/helia-network.js'
import { SqlitePeerDirectory } from '../network/peer-directory.js'
import { loadOrCreatePeerKey } from '../network/peer-key.js'
import { NetworkDisabledError, PeerUnreachableError } from '../errors.js'
import { PROTOCOLS, type NetworkService, type PeerEntry } from '../network/types.js'
import { orderByPreference } from '../policy/effects.js'
import type { AccountIdentity, RepoStorage } from '../storage/types.js'
import { DEFAULT_BLOCK_SAMPLES, DEFAULT_DEADLINE_MS, DEFAULT_PATH_SAMPLES } from './challenge.js'
import { ChallengeHistory } from './challenge-history.js'
import { answerChallenge, type ChallengeResponderInit } from './challenge-responder.js'
import { detectionProbability, scorePeer, type ChallengeRecord, type PeerHealth } from './challenge-score.js'
import { ChallengeService } from './challenge-service.js'
import { peerFirstSync, serveRepos } from './peer-sync-repo.js'
import { syncRepo } from './repo-sync.js'
import type { SyncOptions, SyncSummary } from './types.js'
import { isPdsUnreachable, type FetchLike } from './pds-client.js'

/** Loss fraction and number of rounds the detection figure is given for. */
export const DETECTION_TARGET = { lossFraction: 0.05, rounds: 10 } as const

/** Challenge settings a node (or a test) can override. */
export interface ChallengeSettings {
  /** @default DEFAULT_BLOCK_SAMPLES */
  blockSamples?: number
  /** @default DEFAULT_PATH_SAMPLES */
  pathSamples?: number
  /** @default DEFAULT_DEADLINE_MS */
  deadlineMs?: number
  /** Nonce source (tests seed it). @default random */
  nonce?: () => string
}

/** What a {@link PeerSyncService} is made from. */
export interface PeerSyncServiceInit {
  db: Database
  storage: RepoStorage
  dataDir: string
  /** `IPFS_ENABLED`. @default true */
  ipfsEnabled?: boolean
  /** `IPFS_NETWORKING`. @default true */
  ipfsNetworking?: boolean
  /** `LISTEN_ADDRS`. @default ['/ip4/0.0.0.0/tcp/0'] */
  listenAddrs?: string[]
  /** Scheduled challenge period in seconds, 0 = off (`CHALLENGE_INTERVAL_SEC`). @default 0 */
  challengeIntervalSec?: number
  challenges?: ChallengeSettings
  /** The node's SSRF-safe fetch (HTTP fallback of challenges). */
  fetch: FetchLike
  /** Starts a sync of a held account (the node's `accounts.sync`). */
  sync(did: string): Promise<unknown>
  /** The challenger's DID, when the node has one. @default the PeerID */
  challenger?: () => string | null
  emit<E extends keyof P2pdsEvents>(event: E, data: P2pdsEvents[E]): void
  /**
   * PeerIDs to fetch a DID's repository from first, in order (the merged policies'
   * preferredPeers); other peers follow in the directory's order. @default none
   */
  preferredPeers?(did: string): readonly string[]
  /** A network service to use instead of Helia (tests of other transports). */
  network?: NetworkService
  /** @default Date.now */
  now?: () => number
}

export class PeerSyncService {
  readonly peers: SqlitePeerDirectory
  readonly history: ChallengeHistory
  readonly #init: PeerSyncServiceInit
  readonly #now: () => number
  #network: NetworkService | undefined
  #challenges: ChallengeService | undefined
  #offHead: (() => void) | undefined
  readonly #health = new Map<number, PeerHealth>()
  /** Per DID, the newest rev each known peer announced (peer-first sync asks the peers ahead of us). */
  readonly #announced = new Map<string, Map<string, string>>()
  readonly #background = new Set<Promise<unknown>>()

  constructor(init: PeerSyncServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.peers = new SqlitePeerDirectory({ db: init.db, now: this.#now })
    this.history = new ChallengeHistory(init.db)
  }

  /** The network service (started). */
  get network(): NetworkService {
    if (this.#network === undefined) throw new Error('PeerSyncService is not started')
    return this.#network
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    const init = this.#init
    const network =
      init.network ??
      new HeliaNetworkService({
        blocks: init.storage.blocks,
        privateKey: await loadOrCreatePeerKey(init.dataDir),
        enabled: init.ipfsEnabled,
        networking: init.ipfsNetworking,
        listenAddrs: init.listenAddrs,
        now: this.#now,
      })
    await network.start(options)
    this.#network = network
    await network.handle(PROTOCOLS.challenge, async (bytes) => {
      const body = JSON.parse(new TextDecoder().decode(bytes)) as unknown
      return new TextEncoder().encode(JSON.stringify(await answerChallenge(this.responder(), body)))
    })
    await serveRepos(network, init.storage)
    this.#offHead = network.onHead((notice, from) => this.#track(this.#onHead(notice.did, notice.rev, from.peerId)))
    const c = init.challenges ?? {}
    this.#challenges = new ChallengeService({
      storage: init.storage,
      peers: this.peers,
      history: this.history,
      network,
      fetch: init.fetch,
      challenger: () => init.challenger?.() ?? network.peerId,
      blockSamples: c.blockSamples,
      pathSamples: c.pathSamples,
      deadlineMs: c.deadlineMs,
      nonce: c.nonce,
      intervalMs: (init.challengeIntervalSec ?? 0) * 1000,
      now: this.#now,
      onResult: (record) => this.#onResult(record),
      onError: () => undefined,
    })
    this.#challenges.start()
  }

  async stop(): Promise<void> {
    await this.#challenges?.stop()
    this.#challenges = undefined
    this.#offHead?.()
    this.#offHead = undefined
    await Promise.allSettled([...this.#background])
    await this.#network?.stop()
    this.#network = undefined
  }

  /** What the responder side needs (libp2p handler and HTTP routes). */
  responder(): ChallengeResponderInit {
    const network = this.network
    return { blocks: this.#init.storage.blocks, peerId: network.peerId, sign: (d) => network.sign(d), now: this.#now }
  }

  info(): NetworkInfoDto {
    return this.network.info()
  }

  /** After a sync: announce a new head and tell the peers holding the DID. Never rejects. */
  syncCompleted(result: SyncResultDto): void {
    if (result.kind === 'none' || this.#network === undefined) return
    const network = this.#network
    this.#track(
      (async () => {
        await network.provide([result.cid]).catch(() => undefined)
        if (!network.info().networking) return
        for (const peer of await this.peers.holding(result.did)) {
          if (peer.peerId === null) continue
          await network.notifyHead({ peerId: peer.peerId, multiaddrs: peer.multiaddrs }, { did: result.did, rev: result.rev, cid: result.cid }).catch(() => undefined)
        }
      })(),
    )
  }

  /**
   * Peer-first sync of a repository. The peers that announced a newer head of the DID than the
   * one held serve it over `/p2pds/repo/1.0.0` (verified exactly as from the PDS), the preferred
   * peers first; when none did, or none serves anything newer, the PDS. When the PDS cannot be
   * reached, every peer known to hold the DID is asked (preferred first) before giving up, so a
   * PDS that is gone does not stop a copy from following its peers. A peer that never announced
   * anything is not asked while the PDS answers: it may be behind. `source` is 'pds' or
   * 'peer:<PeerID>'.
   */
  async syncRepo(storage: RepoStorage, account: AccountIdentity, options: SyncOptions): Promise<SyncSummary & { source: string }> {
    const network = this.#network
    const did = account.did
    const fromPds = async () => ({ ...(await syncRepo(storage, account, options)), source: 'pds' })
    if (network === undefined || !network.info().networking) return fromPds()
    const head = (await storage.repos.getAccount(did))?.head ?? null
    const ahead = [...(this.#announced.get(did) ?? new Map<string, string>())].filter(([, rev]) => head === null || rev > head.rev)
    const { fetch, ...rest } = options
    const peerSync = (peers: PeerEntry[], fallback: boolean) =>
      peerFirstSync(storage, account, { ...rest, network, peers, fetch: fetch ?? this.#init.fetch, fallback })
    if (ahead.length > 0) {
      // Newest announcement first, then the preferred order (a stable sort keeps the rev order among equals).
      ahead.sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0))
      const entries = (await Promise.all(ahead.map(([peerId]) => this.peers.findByPeerId(peerId)))).filter((p): p is PeerEntry => p !== null)
      const result = await peerSync(this.#fetchOrder(did, entries), true)
      if (result.source.kind === 'peer' && result.mode === 'unchanged') return fromPds()
      this.#forgetAnnouncements(did, result.rev)
      return { ...result, source: result.source.kind === 'peer' ? `peer:${result.source.peerId}` : 'pds' }
    }
    try {
      return await fromPds()
    } catch (err) {
      if (!isPdsUnreachable(err)) throw err
      const holders = this.#fetchOrder(did, (await this.peers.holding(did)).filter((p) => p.peerId !== null))
      if (holders.length === 0) throw err
      let result: Awaited<ReturnType<typeof peerSync>>
      try {
        result = await peerSync(holders, false)
      } catch {
        throw err // no peer served a verified copy either: the PDS's failure is the one to report
      }
      this.#forgetAnnouncements(did, result.rev)
      return { ...result, source: result.source.kind === 'peer' ? `peer:${result.source.peerId}` : 'pds' }
    }
  }

  /**
   * A block of the DID (a blob) from the peers known to hold it, over bitswap: they are dialled,
   * preferred first, then asked together. Resolves with bytes that match the CID (also stored in
   * the block store); rejects when networking is off, no peer is known or none has it in time.
   */
  async fetchBlock(did: string, cid: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Uint8Array> {
    const network = this.#network
    if (network === undefined || !network.info().networking) throw new NetworkDisabledError('Fetching blocks from peers')
    const holders = this.#fetchOrder(did, (await this.peers.holding(did)).filter((p) => p.peerId !== null))
    if (holders.length === 0) throw new PeerUnreachableError(`(any holding ${did})`, 'no peer is known to hold this account')
    for (const p of holders) {
      if (!network.isConnected(p.peerId!)) await network.connect({ peerId: p.peerId, multiaddrs: p.multiaddrs }, { signal: options.signal }).catch(() => undefined)
    }
    return network.getBlock(cid, { signal: options.signal, timeoutMs: options.timeoutMs ?? 15_000 })
  }

  /** Peers in the order blocks are fetched from them: the DID's preferred peers first. */
  #fetchOrder(did: string, peers: PeerEntry[]): PeerEntry[] {
    return orderByPreference(peers, this.#init.preferredPeers?.(did) ?? [], (p) => p.peerId)
  }

  #forgetAnnouncements(did: string, rev: string): void {
    const announced = this.#announced.get(did)
    if (announced === undefined) return
    for (const [peerId, r] of announced) if (r <= rev) announced.delete(peerId)
    if (announced.size === 0) this.#announced.delete(did)
  }

  /** The `peers` area of the API. */
  readonly api: P2pdsApi['peers'] = {
    list: async () => ({ self: this.info(), peers: await Promise.all((await this.peers.list()).map((p) => this.#peerDto(p))), detection: this.detection() }),
    add: async ({ multiaddr, endpoint, dids }) => {
      const entry = await this.peers.add({ multiaddrs: multiaddr === undefined ? [] : [multiaddr], endpoint: endpoint ?? null, dids })
      this.#init.emit('peers:changed', { id: entry.id })
      return this.#peerDto(entry)
    },
    remove: async ({ id }) => {
      await this.peers.remove(id)
      this.#health.delete(id)
      this.#init.emit('peers:changed', { id })
    },
    challenge: async ({ did, peer }) => {
      const records = await this.#service().run(did, peer)
      return Promise.all(records.map((r) => this.#resultDto(r)))
    },
    history: async (input) => {
      const limit = input?.limit ?? 50
      const records = input?.peer !== undefined ? this.history.forPeer(input.peer, limit) : input?.did !== undefined ? this.history.forDid(input.did, limit) : this.history.latest()
      const filtered = input?.peer !== undefined && input.did !== undefined ? records.filter((r) => r.did === input.did) : records
      return Promise.all(filtered.map((r) => this.#resultDto(r)))
    },
  }

  /** The detection figure for the configured sample sizes. */
  detection(): DetectionDto {
    const c = this.#init.challenges ?? {}
    const k = c.blockSamples ?? DEFAULT_BLOCK_SAMPLES
    return {
      blockSamples: k,
      pathSamples: c.pathSamples ?? DEFAULT_PATH_SAMPLES,
      lossFraction: DETECTION_TARGET.lossFraction,
      rounds: DETECTION_TARGET.rounds,
      probability: detectionProbability(DETECTION_TARGET.lossFraction, k, DETECTION_TARGET.rounds),
      intervalSec: this.#init.challengeIntervalSec ?? 0,
      deadlineMs: c.deadlineMs ?? DEFAULT_DEADLINE_MS,
    }
  }

  #service(): ChallengeService {
    if (this.#challenges === undefined) throw new Error('PeerSyncService is not started')
    return this.#challenges
  }

  async #onHead(did: string, rev: string, from: string): Promise<void> {
    const peer = await this.peers.findByPeerId(from)
    if (peer === null) return // only known peers may trigger work
    await this.peers.addDid(peer.id, did)
    await this.peers.seen(peer.id, this.#now())
    const account = await this.#init.storage.repos.getAccount(did)
    if (account === null) return
    if (account.head !== null && account.head.rev >= rev) return
    const announced = this.#announced.get(did) ?? new Map<string, string>()
    if ((announced.get(from) ?? '') < rev) announced.set(from, rev)
    this.#announced.set(did, announced)
    await this.#init.sync(did)
  }

  #onResult(record: ChallengeRecord): void {
    void this.#resultDto(record).then((dto) => this.#init.emit('challenge:completed', dto))
    const health = scorePeer(this.history.forPeer(record.peer, 20), this.#now()).health
    if (this.#health.get(record.peer) !== health) {
      this.#health.set(record.peer, health)
      this.#init.emit('peers:changed', { id: record.peer })
    }
  }

  #track(p: Promise<unknown>): void {
    const guarded = p.catch(() => undefined)
    this.#background.add(guarded)
    void guarded.finally(() => this.#background.delete(guarded))
  }

  async #peerDto(p: PeerEntry): Promise<PeerDto> {
    const s = scorePeer(this.history.forPeer(p.id, 20), this.#now())
    return {
      id: p.id,
      peerId: p.peerId,
      multiaddrs: p.multiaddrs,
      endpoint: p.endpoint,
      source: p.source,
      dids: p.dids,
      addedAt: new Date(p.addedAt).toISOString(),
      lastSeenAt: p.lastSeenAt === null ? null : new Date(p.lastSeenAt).toISOString(),
      connected: p.peerId !== null && (this.#network?.isConnected(p.peerId) ?? false),
      score: s.score,
      health: s.health,
      explanation: s.explanation,
      considered: s.considered,
      passed: s.passed,
    }
  }

  async #resultDto(r: ChallengeRecord): Promise<ChallengeResultDto> {
    const peer = await this.peers.get(r.peer)
    return {
      id: r.id,
      peer: r.peer,
      peerId: peer?.peerId ?? null,
      did: r.did,
      level: r.level,
      transport: r.transport,
      ok: r.ok,
      reason: r.reason,
      message: r.message,
      samples: r.samples,
      commit: r.commit,
      rev: r.rev,
      durationMs: r.durationMs,
      at: new Date(r.at).toISOString(),
    }
  }
}

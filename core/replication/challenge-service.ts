/**
 * `ChallengeService`: the challenger's side. For a DID this node holds and a peer known to hold
 * it, builds an L2 and/or L3 challenge from this node's own copy at its head, sends it over
 * libp2p (`/p2pds/challenge/1.0.0`) and falls back to HTTP (`org.p2pds.challenge.create` on the
 * peer's endpoint) when libp2p is off or the peer cannot be reached that way, checks the answer,
 * and keeps the result in the history. A schedule challenges every (peer, DID) pair periodically;
 * the loop never rejects: failures become results or `challenge:failed`-style callbacks.
 */
import { AbortError, ChallengeNotPossibleError, NetworkDisabledError, P2pdsError, PeerUnreachableError, throwIfAborted, UnknownPeerError } from '../errors.js'
import type { NetworkService, PeerDirectory, PeerEntry } from '../network/types.js'
import { PROTOCOLS } from '../network/types.js'
import type { RepoStorage } from '../storage/types.js'
import {
  buildChallenge,
  checkResponse,
  DEFAULT_BLOCK_SAMPLES,
  DEFAULT_DEADLINE_MS,
  DEFAULT_PATH_SAMPLES,
  type ChallengeFailure,
  type ChallengeLevel,
  type StorageChallenge,
  type StorageChallengeResult,
} from './challenge.js'
import type { ChallengeHistory } from './challenge-history.js'
import type { ChallengeRecord } from './challenge-score.js'
import type { FetchLike } from './pds-client.js'
import { walkRepoBlocks } from './repo-walk.js'

/** XRPC method of the HTTP fallback. */
export const CHALLENGE_NSID = 'org.p2pds.challenge.create'
/** XRPC query that names the PeerID behind an endpoint (pinned on first use). */
export const DESCRIBE_NSID = 'org.p2pds.challenge.describe'

/** What a {@link ChallengeService} is made from. */
export interface ChallengeServiceInit {
  storage: RepoStorage
  peers: PeerDirectory
  history: ChallengeHistory
  /** Sends over libp2p (and names this node); with networking off only HTTP is used. */
  network: NetworkService
  /** For the HTTP fallback: the node's SSRF-safe fetch. */
  fetch: FetchLike
  /** The challenger's name in challenges: its DID, else its PeerID. @default the PeerID */
  challenger?: () => string
  /** Blocks per L2 round (k). @default DEFAULT_BLOCK_SAMPLES */
  blockSamples?: number
  /** Record paths per L3 round. @default DEFAULT_PATH_SAMPLES */
  pathSamples?: number
  /** Time a peer has to answer, in ms. @default DEFAULT_DEADLINE_MS */
  deadlineMs?: number
  /** Period of scheduled rounds, in ms; 0 = no schedule. @default 0 */
  intervalMs?: number
  /** Nonces (tests pass a seeded source so outcomes are reproducible). @default 16 random bytes */
  nonce?: () => string
  /** @default Date.now */
  now?: () => number
  /** Called with every result (the node emits `challenge:completed`). */
  onResult?: (record: ChallengeRecord) => void
  /** Called when a scheduled round could not run at all (never throws into the host). */
  onError?: (did: string | null, err: unknown) => void
}

/** Options of {@link ChallengeService.run}. */
export interface ChallengeRunOptions {
  /** Levels to run. @default ['L2', 'L3'] */
  levels?: ChallengeLevel[]
  signal?: AbortSignal
}

interface Copy {
  commit: string
  rev: string
  signingKey: string
  blocks?: string[]
  records?: Map<string, string>
}

export class ChallengeService {
  readonly #init: ChallengeServiceInit
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #abort = new AbortController()

  constructor(init: ChallengeServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /** Starts the schedule (when `intervalMs` > 0). */
  start(): void {
    this.#abort = new AbortController()
    const interval = this.#init.intervalMs ?? 0
    if (interval <= 0) return
    const tick = () => {
      this.#running = this.runAll({ signal: this.#abort.signal }).finally(() => {
        this.#running = undefined
        if (!this.#abort.signal.aborted) this.#timer = setTimeout(tick, interval).unref()
      })
    }
    this.#timer = setTimeout(tick, interval).unref()
  }

  /** Stops the schedule and aborts a round in progress. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#abort.abort()
    await this.#running
  }

  /** One round over every peer and every DID it is known to hold that this node holds too. Never rejects. */
  async runAll(options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      for (const peer of await this.#init.peers.list()) {
        for (const did of peer.dids) {
          if (options.signal?.aborted === true) return
          const account = await this.#init.storage.repos.getAccount(did)
          if (account?.head == null) continue
          await this.run(did, peer.id, options).catch((err: unknown) => this.#init.onError?.(did, err))
        }
      }
    } catch (err) {
      this.#init.onError?.(null, err)
    }
  }

  /**
   * Challenges one peer (or every peer known to hold the DID) about a DID, at this node's head of
   * it. Resolves with one record per peer and level. Rejects with `ChallengeNotPossibleError` when
   * this node holds no copy to check against or no peer is known to hold the DID.
   */
  async run(did: string, peerId?: number, options: ChallengeRunOptions = {}): Promise<ChallengeRecord[]> {
    throwIfAborted(options.signal)
    let peers: PeerEntry[]
    if (peerId !== undefined) {
      const peer = await this.#init.peers.get(peerId)
      if (peer === null) throw new UnknownPeerError(String(peerId))
      peers = [peer]
    } else {
      peers = await this.#init.peers.holding(did)
      if (peers.length === 0) throw new ChallengeNotPossibleError(did, 'no known peer holds it; add one with `p2pds peers add`')
    }
    const account = await this.#init.storage.repos.getAccount(did, { signal: options.signal })
    if (account?.head == null) throw new ChallengeNotPossibleError(did, 'this node holds no copy of it to check answers against; add and sync it first')
    const copy: Copy = { commit: account.head.cid, rev: account.head.rev, signingKey: account.signingKey }
    const out: ChallengeRecord[] = []
    for (const peer of peers) {
      for (const level of options.levels ?? ['L2', 'L3']) {
        throwIfAborted(options.signal)
        out.push(await this.#challenge(did, peer, level, copy, options.signal))
      }
    }
    return out
  }

  async #candidates(did: string, level: ChallengeLevel, copy: Copy, signal?: AbortSignal): Promise<string[]> {
    if (level === 'L2') {
      if (copy.blocks === undefined) {
        const cids: string[] = []
        for await (const b of walkRepoBlocks(this.#init.storage.blocks, copy.commit, { signal })) cids.push(b.cid)
        copy.blocks = cids
      }
      return copy.blocks
    }
    if (copy.records === undefined) {
      const records = new Map<string, string>()
      let after: string | undefined
      for (;;) {
        const page = await this.#init.storage.repos.listRecords(did, { limit: 1000, after, signal })
        for (const r of page) records.set(`${r.collection}/${r.rkey}`, r.cid)
        if (page.length < 1000) break
        const last = page.at(-1)!
        after = `${last.collection}/${last.rkey}`
      }
      copy.records = records
    }
    return [...copy.records.keys()]
  }

  async #challenge(did: string, peer: PeerEntry, level: ChallengeLevel, copy: Copy, signal?: AbortSignal): Promise<ChallengeRecord> {
    const started = this.#now()
    const candidates = await this.#candidates(did, level, copy, signal)
    const base = { peer: peer.id, did, level, commit: copy.commit, rev: copy.rev }
    const finish = async (transport: ChallengeRecord['transport'], nonce: string, result: StorageChallengeResult): Promise<ChallengeRecord> => {
      const record: Omit<ChallengeRecord, 'id'> = { ...base, transport, nonce, ok: result.ok, reason: result.reason, message: result.message, samples: result.samples, durationMs: this.#now() - started, at: started }
      const id = this.#init.history.add(record)
      const full = { ...record, id }
      this.#init.onResult?.(full)
      return full
    }
    if (candidates.length === 0) {
      return finish('none', '', { ok: true, reason: null, message: 'The repository has no records to sample.', samples: 0 })
    }
    let responder = peer.peerId
    if (responder === null) {
      try {
        responder = await this.#describe(peer, signal)
      } catch (err) {
        if (signal?.aborted === true) throw new AbortError()
        return finish('http', '', failure('unreachable', err, 0))
      }
    }
    const challenge = buildChallenge({
      level,
      challenger: this.#init.challenger?.() ?? this.#init.network.peerId,
      target: did,
      responder,
      commit: copy.commit,
      rev: copy.rev,
      candidates,
      samples: level === 'L2' ? (this.#init.blockSamples ?? DEFAULT_BLOCK_SAMPLES) : (this.#init.pathSamples ?? DEFAULT_PATH_SAMPLES),
      nonce: this.#init.nonce?.(),
      now: started,
      deadlineMs: this.#init.deadlineMs ?? DEFAULT_DEADLINE_MS,
    })
    const samples = (challenge.cids ?? challenge.paths ?? []).length
    const sent = await this.#send(peer, challenge, signal)
    if ('failure' in sent) return finish(sent.transport, challenge.nonce, sent.failure.reason === 'unreachable' && this.#now() > challenge.deadline ? { ...sent.failure, reason: 'late', samples } : { ...sent.failure, samples })
    const result = await checkResponse(challenge, sent.body, {
      transportPeerId: sent.peerId,
      receivedAt: this.#now(),
      recordCids: copy.records,
      signingKey: copy.signingKey,
    })
    await this.#init.peers.seen(peer.id, this.#now())
    return finish(sent.transport, challenge.nonce, result)
  }

  /** Sends over libp2p first, then HTTP. */
  async #send(
    peer: PeerEntry,
    challenge: StorageChallenge,
    signal?: AbortSignal,
  ): Promise<{ transport: 'libp2p' | 'http'; body: unknown; peerId: string | null } | { transport: 'libp2p' | 'http' | 'none'; failure: StorageChallengeResult }> {
    const body = new TextEncoder().encode(JSON.stringify(challenge))
    const timeoutMs = Math.max(1, challenge.deadline - this.#now())
    let libp2pFailure: StorageChallengeResult | undefined
    const net = this.#init.network
    if (net.info().networking && peer.peerId !== null) {
      try {
        const answer = await net.request({ peerId: peer.peerId, multiaddrs: peer.multiaddrs }, PROTOCOLS.challenge, body, { signal, timeoutMs })
        return { transport: 'libp2p', body: parseJson(answer.bytes), peerId: answer.peerId }
      } catch (err) {
        if (signal?.aborted === true) throw new AbortError()
        if (!(err instanceof PeerUnreachableError || err instanceof NetworkDisabledError)) {
          return { transport: 'libp2p', failure: failure('refused', err, 0) }
        }
        libp2pFailure = failure('unreachable', err, 0)
      }
    }
    if (peer.endpoint !== null && this.#now() <= challenge.deadline) {
      try {
        const res = await this.#init.fetch(new URL(`/xrpc/${CHALLENGE_NSID}`, peer.endpoint), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        })
        const json = (await res.json().catch(() => null)) as { error?: string; message?: string } | null
        if (!res.ok) return { transport: 'http', failure: { ok: false, reason: 'refused', message: `The peer refused over HTTP (${res.status} ${json?.error ?? ''}): ${json?.message ?? 'no reason given'}`, samples: 0 } }
        return { transport: 'http', body: json, peerId: null }
      } catch (err) {
        if (signal?.aborted === true) throw new AbortError()
        return { transport: 'http', failure: failure('unreachable', err, 0) }
      }
    }
    return { transport: libp2pFailure === undefined ? 'none' : 'libp2p', failure: libp2pFailure ?? { ok: false, reason: 'unreachable', message: 'The peer has no address this node can use (libp2p is off and it has no endpoint).', samples: 0 } }
  }

  /** Learns the PeerID behind an endpoint-only peer and pins it. */
  async #describe(peer: PeerEntry, signal?: AbortSignal): Promise<string> {
    if (peer.endpoint === null) throw new PeerUnreachableError(String(peer.id), 'no PeerID and no endpoint')
    const res = await this.#init.fetch(new URL(`/xrpc/${DESCRIBE_NSID}`, peer.endpoint), { signal: signal ?? AbortSignal.timeout(DEFAULT_DEADLINE_MS) })
    const json = (await res.json().catch(() => null)) as { peerId?: unknown } | null
    if (!res.ok || typeof json?.peerId !== 'string') throw new PeerUnreachableError(peer.endpoint, `it does not describe itself (HTTP ${res.status})`)
    await this.#init.peers.seen(peer.id, this.#now(), json.peerId)
    const pinned = (await this.#init.peers.get(peer.id))?.peerId
    if (pinned !== json.peerId) throw new PeerUnreachableError(peer.endpoint, `it now names ${json.peerId}, but ${pinned ?? '(none)'} was pinned`)
    return json.peerId
  }
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return null
  }
}

function failure(reason: ChallengeFailure, err: unknown, samples: number): StorageChallengeResult {
  const message = err instanceof P2pdsError || err instanceof Error ? err.message : String(err)
  return { ok: false, reason, message, samples }
}

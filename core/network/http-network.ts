/**
 * `HttpNetworkService`: the {@link NetworkService} over plain HTTP, for hosts where libp2p cannot
 * run or is not wanted. It uses the node's own libp2p key, so its PeerID and signatures are the
 * ones Helia would have; noise is replaced by signatures on every request and every answer.
 *
 * Routes (one `node:http` server, bound to `host:port`, TLS left to a reverse proxy):
 * - `GET  /p2pds/net/1/id`: `{"peerId"}`, an unauthenticated hint used only when a target names no
 *   PeerID; everything after it is checked against the PeerID it gave.
 * - `POST /p2pds/net/1/req`: one request, one answer.
 * - `POST /p2pds/net/1/stream`: one request, an answer streamed in frames.
 *
 * A request carries `x-p2pds-protocol`, `-from` (requester PeerID), `-to` (target PeerID),
 * `-nonce` (16 random bytes, base64url), `-time` (unix ms) and `-sig`: the requester's signature
 * over {@link requestSigningBytes} (route, protocol, from, to, nonce, time, sha256 of the body).
 * The server refuses a body over `maxRequestBytes` before reading it, a time more than
 * {@link MAX_CLOCK_SKEW_MS} off or from before it started (the nonce cache lives in memory), a
 * target that is not its PeerID, a bad signature and a nonce already seen (kept twice the skew
 * window), and only then runs a handler.
 *
 * Every answer is a sequence of frames `[type u8][payload length u32 BE][signature length u8]
 * [payload][signature]`, each signed by the responder over {@link frameSigningBytes} (responder,
 * requester, request nonce, frame index, type, sha256 of the payload): frames cannot be replayed
 * into another exchange, reordered, dropped or substituted. `/req` answers with one DATA or ERR
 * frame; `/stream` with DATA frames, then END (or ERR), so a truncated stream is detected. An ERR
 * payload is `{code, message}` JSON: a handler's code crosses the wire, as over libp2p.
 *
 * Peers are dialled at `/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>/http|https|tls/http[/p2p/<id>]`;
 * other multiaddrs are ignored. Requests go through the SSRF-safe fetch (`safe-fetch.ts`), so
 * unless `allowPrivateNetwork` is set, loopback, private and link-local addresses are refused,
 * literal ones before anything is sent and resolved ones at connect time.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { AbortError, errorText, InvalidBlockError, MissingBlockError, NetworkDisabledError, P2pdsError, PeerProtocolError, PeerUnreachableError, ResponseTooLargeError, throwIfAborted, UnsafeUrlError } from '../errors.js'
import { createRateLimiter, type RateLimitInit, type RateLimiter } from '../server/rate-limit.js'
import type { BlockStore } from '../storage/types.js'
import { decodeRefusal, encodeRefusal, gatherFrames, RATE_LIMITED, refusalOf, STREAM_FRAME_BYTES } from './frames.js'
import { encodeHeadNotice, headNoticeHandler } from './notify.js'
import { isPeerId, peerIdOf, verifyPeerSignature } from './peer-key.js'
import { classifyAddress, createSafeFetch, type AddressLookup, type SafeFetch } from './safe-fetch.js'
import {
  PROTOCOLS,
  type AbortOptions,
  type HeadNotice,
  type NetworkInfo,
  type NetworkService,
  type PeerAnswer,
  type PeerStream,
  type PeerTarget,
  type ProtocolHandler,
  type RequestOptions,
  type StreamHandler,
} from './types.js'

/** Path prefix of every route this transport serves. */
export const HTTP_NET_PATH = '/p2pds/net/1'
/** Signed round trip with an empty answer, used by `connect`. */
export const PING_PROTOCOL = '/p2pds/ping/1.0.0'
/** One block by CID (request: the CID as text; answer: its bytes), served from the block store. */
export const BLOCK_PROTOCOL = '/p2pds/block/1.0.0'
/** Largest request or answer, in bytes (as over libp2p). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/** How far a request's time may be from the server's clock, in ms. */
export const MAX_CLOCK_SKEW_MS = 60_000
/** A peer counts as connected this long after its last authenticated message, in ms. */
export const CONNECTED_MS = 5 * 60_000

const DEFAULT_TIMEOUT_MS = 10_000
/** Time an inbound request may take to send its body, and a reader to drain a frame, in ms. */
const INBOUND_READ_MS = 10_000
/** Largest ERR payload accepted. */
const MAX_ERROR_BYTES = 64 * 1024
/** Nonces remembered at most (each from an authenticated request in the skew window). */
const MAX_NONCES = 100_000
/** Peers remembered for `isConnected` and `getBlock` at most. */
const MAX_PEERS = 10_000
/** Peers asked at once for a block. */
const MAX_BLOCK_PEERS = 8

const HEADER = {
  protocol: 'x-p2pds-protocol',
  from: 'x-p2pds-from',
  to: 'x-p2pds-to',
  nonce: 'x-p2pds-nonce',
  time: 'x-p2pds-time',
  sig: 'x-p2pds-sig',
  /** On answers: the PeerID the responder claims (checked against every frame's signature). */
  peer: 'x-p2pds-peer',
} as const
const FRAMES_TYPE = 'application/vnd.p2pds.frames'

/** Frame types. */
const DATA = 0
const ERR = 1
const END = 2
const FRAME_HEAD_BYTES = 6

/** Wire code of an unknown protocol; the client turns it into `PeerUnreachableError`, as libp2p does. */
const UNSUPPORTED_PROTOCOL = 'ERR_UNSUPPORTED_PROTOCOL'

/** The two signed routes. */
export type HttpNetRoute = 'req' | 'stream'

/** What a {@link HttpNetworkService} is made from. */
export interface HttpNetworkServiceInit {
  /** The node's block store: `getBlock` stores fetched blocks in it, `BLOCK_PROTOCOL` serves from it. */
  blocks: BlockStore
  /** The node's libp2p key (see `loadOrCreatePeerKey`). */
  privateKey: PrivateKey
  /** The network layer on (`IPFS_ENABLED`). Off: nothing listens; `sign` still works. @default true */
  enabled?: boolean
  /** Networking on (`IPFS_NETWORKING`). Off: nothing listens or dials; `sign` still works. @default true */
  networking?: boolean
  /** Address to listen on; a server deployment sets `0.0.0.0` behind a TLS proxy. @default '127.0.0.1' */
  host?: string
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number
  /**
   * Multiaddrs to publish instead of the listening address, e.g. `/dns4/node.example/tcp/443/https`
   * behind a reverse proxy (`/p2p/<peerId>` is appended). @default the listening address
   */
  announce?: string[]
  /**
   * Dial loopback, private and link-local addresses (tests, home networks). Config:
   * `ALLOW_PRIVATE_NETWORK`. @default false
   */
  allowPrivateNetwork?: boolean
  /** Per-peer limit on authenticated inbound requests. @default { capacity: 60, refillPerSec: 10 } */
  rateLimit?: RateLimitInit
  /**
   * Per-IP limit on inbound requests, checked before any body is read or signature checked (a
   * reverse proxy makes every peer one IP, hence the larger default).
   * @default { capacity: 600, refillPerSec: 100 }
   */
  ipRateLimit?: RateLimitInit
  /** Largest inbound request body, in bytes. @default MAX_MESSAGE_BYTES */
  maxRequestBytes?: number
  /** Name resolution for dialled host names (tests). @default `dns.lookup` with `all: true` */
  lookup?: AddressLookup
  /** @default Date.now */
  now?: () => number
}


/** An address this transport can dial. */
interface Dialable {
  /** The multiaddr as given. */
  addr: string
  /** `http(s)://host:port` */
  origin: string
  /** The PeerID in its `/p2p/` part, if any. */
  peerId: string | null
  /** Its literal IP, or null for a DNS name (checked at connect time by the safe fetch). */
  ip: string | null
}

/** A peer heard from, for `isConnected`, `info().connections` and `getBlock`. */
interface SeenPeer {
  at: number
  /** The multiaddr it last answered at (null: it only called us). */
  addr: string | null
}

interface Frame {
  type: number
  payload: Uint8Array
}

/** Bytes a requester signs (see the file comment). */
export function requestSigningBytes(r: { route: HttpNetRoute; protocol: string; from: string; to: string; nonce: string; time: number; body: Uint8Array }): Uint8Array {
  return concat([utf8(`p2pds-http-request/1\n${r.route}\n${r.protocol}\n${r.from}\n${r.to}\n${r.nonce}\n${r.time}\n`), sha256Sync(r.body)])
}

/** Bytes a responder signs for one frame of its answer (see the file comment). */
export function frameSigningBytes(f: { responder: string; requester: string; nonce: string; index: number; type: number; payload: Uint8Array }): Uint8Array {
  return concat([utf8(`p2pds-http-answer/1\n${f.responder}\n${f.requester}\n${f.nonce}\n${f.index}\n${f.type}\n`), sha256Sync(f.payload)])
}

/**
 * The headers of a signed request. Exported for tools and tests; `HttpNetworkService` uses it for
 * every request it sends.
 */
export async function signedRequestHeaders(r: {
  sign: (data: Uint8Array) => Promise<Uint8Array>
  route: HttpNetRoute
  protocol: string
  from: string
  to: string
  body: Uint8Array
  time: number
  /** @default 16 fresh random bytes */
  nonce?: string
}): Promise<Record<string, string>> {
  const nonce = r.nonce ?? randomBytes(16).toString('base64url')
  const sig = await r.sign(requestSigningBytes({ ...r, nonce }))
  return {
    'content-type': 'application/octet-stream',
    [HEADER.protocol]: r.protocol,
    [HEADER.from]: r.from,
    [HEADER.to]: r.to,
    [HEADER.nonce]: nonce,
    [HEADER.time]: String(r.time),
    [HEADER.sig]: Buffer.from(sig).toString('base64url'),
  }
}

export class HttpNetworkService implements NetworkService {
  readonly peerId: string
  readonly #init: HttpNetworkServiceInit
  readonly #now: () => number
  readonly #handlers = new Map<string, ProtocolHandler>()
  readonly #streamHandlers = new Map<string, StreamHandler>()
  readonly #headListeners = new Set<(notice: HeadNotice, from: { peerId: string }) => void>()
  readonly #peerLimiter: RateLimiter
  readonly #ipLimiter: RateLimiter
  /** `${from} ${nonce}` → when it may be forgotten (unix ms); insertion order is arrival order. */
  readonly #nonces = new Map<string, number>()
  /** PeerID → last authenticated contact; insertion order is recency (re-inserted on touch). */
  readonly #seen = new Map<string, SeenPeer>()
  readonly #fetch: SafeFetch
  #server: Server | undefined
  /** Aborted by `stop`: ends every outbound request in flight. */
  #stopping = new AbortController()
  /** When the server last started (unix ms): older requests are refused (the nonce cache starts empty). */
  #startedAt = 0

  constructor(init: HttpNetworkServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.peerId = peerIdOf(init.privateKey)
    this.#peerLimiter = createRateLimiter(init.rateLimit ?? { capacity: 60, refillPerSec: 10 }, this.#now)
    this.#ipLimiter = createRateLimiter(init.ipRateLimit ?? { capacity: 600, refillPerSec: 100 }, this.#now)
    // Timeouts and size limits are per call (watchdog, frame lengths), so the safe fetch's own are
    // set out of the way; it is used for its address checks, redirect refusal and error mapping.
    this.#fetch = createSafeFetch({
      allowPrivateNetwork: init.allowPrivateNetwork ?? false,
      timeoutMs: 2 ** 31 - 1,
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxRedirects: 0,
      ...(init.lookup === undefined ? {} : { lookup: init.lookup }),
    })
    this.#handlers.set(PROTOCOLS.notify, headNoticeHandler(this.#headListeners))
    this.#handlers.set(PING_PROTOCOL, async () => new Uint8Array(0))
    this.#handlers.set(BLOCK_PROTOCOL, async (bytes) => {
      const cid = new TextDecoder().decode(bytes.subarray(0, 256))
      if (!(await this.#init.blocks.hasBlock(cid))) throw new MissingBlockError(cid)
      return this.#init.blocks.getBlock(cid)
    })
  }

  get #networking(): boolean {
    return (this.#init.enabled ?? true) && (this.#init.networking ?? true)
  }

  #requireStarted(what: string): void {
    if (!this.#networking) throw new NetworkDisabledError(what)
    if (this.#server === undefined) throw new PeerUnreachableError('(any)', 'the network service is not started')
  }

  async start(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (!this.#networking || this.#server !== undefined) return
    const server = createServer(
      {
        // The body has its own deadline (INBOUND_READ_MS); these bound slow headers and idle sockets.
        headersTimeout: INBOUND_READ_MS,
        requestTimeout: INBOUND_READ_MS * 2,
      },
      (req, res) => {
        this.#route(req, res).catch(() => res.destroy())
      },
    )
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#init.port ?? 0, this.#init.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    if (options.signal?.aborted === true) {
      await closeServer(server)
      throw new AbortError()
    }
    this.#stopping = new AbortController()
    this.#startedAt = this.#now()
    this.#server = server
  }

  async stop(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    this.#stopping.abort()
    if (server !== undefined) await closeServer(server)
  }

  info(): NetworkInfo {
    return {
      enabled: this.#init.enabled ?? true,
      networking: this.#networking,
      peerId: this.peerId,
      multiaddrs: this.#server === undefined ? [] : this.#multiaddrs(this.#server),
      connections: this.#connectedPeers().length,
    }
  }

  #multiaddrs(server: Server): string[] {
    const p2p = `/p2p/${this.peerId}`
    if (this.#init.announce !== undefined) return this.#init.announce.map((a) => (a.endsWith(p2p) ? a : `${a}${p2p}`))
    const { address, port } = server.address() as AddressInfo
    const ma = (ip: string) => `/${ip.includes(':') ? 'ip6' : 'ip4'}/${ip}/tcp/${port}/http${p2p}`
    if (address !== '0.0.0.0' && address !== '::') return [ma(address)]
    // Listening on every interface: publish each one's address, as libp2p does.
    const all = Object.values(networkInterfaces()).flatMap((list) => list ?? [])
    return all.filter((i) => (address === '::' || i.family === 'IPv4') && !i.address.startsWith('fe80')).map((i) => ma(i.address))
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return this.#init.privateKey.sign(data)
  }

  /**
   * There is no DHT over HTTP: nothing is announced, and this resolves with every CID failed
   * (never rejects). Peers find blocks by asking the peers they talk to (`getBlock`).
   */
  async provide(cids: string[], options: AbortOptions = {}): Promise<{ provided: number; failed: number }> {
    throwIfAborted(options.signal)
    return { provided: 0, failed: cids.length }
  }

  /**
   * From the block store when held, else from the peers heard from in the last
   * {@link CONNECTED_MS} whose address is known, asked at once over {@link BLOCK_PROTOCOL}: the
   * first answer that hashes to the CID is stored (once) and returned. Rejects with
   * `PeerUnreachableError` when every peer refused or the time is up.
   */
  async getBlock(cid: string, options: RequestOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal)
    if (await this.#init.blocks.hasBlock(cid, options)) return this.#init.blocks.getBlock(cid, options)
    let parsed: CID
    try {
      parsed = CID.parse(cid)
    } catch {
      throw new InvalidBlockError(cid, 'malformed-cid')
    }
    // Only SHA-256 can be checked here (and is all atproto uses).
    if (parsed.multihash.code !== sha256.code) throw new InvalidBlockError(cid, 'unsupported-cid')
    this.#requireStarted('Fetching a block from peers')
    const peers = this.#connectedPeers().filter((p) => p.addr !== null).slice(0, MAX_BLOCK_PEERS)
    if (peers.length === 0) throw new PeerUnreachableError('(connected peers)', `no connected peer to ask for block ${cid}`)
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const done = new AbortController()
    const signal = AbortSignal.any([done.signal, ...(options.signal === undefined ? [] : [options.signal])])
    const ask = async (p: { peerId: string; addr: string | null }): Promise<Uint8Array> => {
      const answer = await this.request({ peerId: p.peerId, multiaddrs: [p.addr!] }, BLOCK_PROTOCOL, utf8(cid), { signal, timeoutMs, maxBytes: options.maxBytes ?? MAX_MESSAGE_BYTES })
      const digest = await sha256.digest(answer.bytes)
      if (!Buffer.from(digest.digest).equals(Buffer.from(parsed.multihash.digest))) throw new PeerProtocolError(p.peerId, `the bytes sent for block ${cid} do not hash to it`)
      return answer.bytes
    }
    let bytes: Uint8Array
    try {
      bytes = await Promise.any(peers.map(ask))
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortError()
      const reasons = err instanceof AggregateError ? err.errors.map((e) => errorText(e)) : [errorText(err)]
      throw new PeerUnreachableError('(connected peers)', `no peer provided block ${cid} (${reasons.join('; ')})`, { cause: err })
    } finally {
      done.abort()
    }
    await this.#init.blocks.putBlock(cid, bytes)
    return bytes
  }

  async connect(target: PeerTarget, options: AbortOptions = {}): Promise<{ peerId: string }> {
    const answer = await this.request(target, PING_PROTOCOL, new Uint8Array(0), { ...options, timeoutMs: DEFAULT_TIMEOUT_MS, maxBytes: 0 })
    return { peerId: answer.peerId }
  }

  /** Whether the peer sent or answered an authenticated message in the last {@link CONNECTED_MS}. */
  isConnected(peerId: string): boolean {
    const seen = this.#seen.get(peerId)
    return seen !== undefined && this.#now() - seen.at <= CONNECTED_MS
  }

  #connectedPeers(): Array<{ peerId: string; addr: string | null }> {
    const now = this.#now()
    const out: Array<{ peerId: string; addr: string | null }> = []
    for (const [peerId, s] of this.#seen) if (now - s.at <= CONNECTED_MS) out.push({ peerId, addr: s.addr })
    return out.reverse() // most recent first
  }

  #touch(peerId: string, addr: string | null): void {
    const before = this.#seen.get(peerId)
    this.#seen.delete(peerId)
    this.#seen.set(peerId, { at: this.#now(), addr: addr ?? before?.addr ?? null })
    if (this.#seen.size > MAX_PEERS) this.#seen.delete(this.#seen.keys().next().value as string)
  }

  async request(target: PeerTarget, protocol: string, body: Uint8Array, options: RequestOptions = {}): Promise<PeerAnswer> {
    throwIfAborted(options.signal)
    this.#requireStarted('Reaching a peer over HTTP')
    const maxBytes = options.maxBytes ?? MAX_MESSAGE_BYTES
    const call = this.#call(options.signal)
    call.arm(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    let label = targetLabel(target)
    try {
      const opened = await this.#open(target, 'req', protocol, body, call.signal)
      label = opened.peerId
      try {
        const frame = await opened.next(maxBytes)
        if (frame === null) throw new PeerProtocolError(label, 'the answer ended before its first frame')
        if (frame.type === DATA) return { peerId: opened.peerId, bytes: frame.payload }
        if (frame.type === ERR) throw remoteError(opened.peerId, protocol, frame.payload)
        throw new PeerProtocolError(label, `unexpected frame type ${frame.type}`)
      } finally {
        opened.close()
      }
    } catch (err) {
      throw call.failure(err, label, 'no answer in time')
    } finally {
      call.done()
    }
  }

  async openStream(target: PeerTarget, protocol: string, body: Uint8Array, options: RequestOptions = {}): Promise<PeerStream> {
    throwIfAborted(options.signal)
    this.#requireStarted('Reaching a peer over HTTP')
    // The timeout covers dialling and each frame's wait, not the whole transfer (as over libp2p).
    const idleMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const call = this.#call(options.signal)
    call.arm(idleMs)
    let opened: Opened
    try {
      opened = await this.#open(target, 'stream', protocol, body, call.signal)
    } catch (err) {
      call.done()
      throw call.failure(err, targetLabel(target), 'no answer in time')
    }
    call.disarm() // armed again for each frame the reader asks for
    const who = opened.peerId
    async function* chunks(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          call.arm(idleMs)
          let frame: Frame | null
          try {
            frame = await opened.next(STREAM_FRAME_BYTES + 1024)
          } catch (err) {
            throw call.failure(err, who, 'the transfer stalled')
          }
          call.disarm() // the reader's own pace is not the peer's fault
          if (frame === null) throw new PeerUnreachableError(who, 'the transfer broke off before its end')
          if (frame.type === END) return
          if (frame.type === ERR) throw remoteError(who, protocol, frame.payload)
          if (frame.type !== DATA) throw new PeerProtocolError(who, `unexpected frame type ${frame.type}`)
          yield frame.payload
        }
      } finally {
        opened.close()
        call.done()
      }
    }
    return { peerId: who, chunks: chunks() }
  }

  async handleStream(protocol: string, handler: StreamHandler): Promise<void> {
    this.#streamHandlers.set(protocol, handler)
  }

  async handle(protocol: string, handler: ProtocolHandler): Promise<void> {
    this.#handlers.set(protocol, handler)
  }

  async notifyHead(target: PeerTarget, notice: HeadNotice, options: AbortOptions = {}): Promise<void> {
    await this.request(target, PROTOCOLS.notify, encodeHeadNotice(notice), { ...options, timeoutMs: 5_000, maxBytes: 1024 })
  }

  onHead(listener: (notice: HeadNotice, from: { peerId: string }) => void): () => void {
    this.#headListeners.add(listener)
    return () => this.#headListeners.delete(listener)
  }

  // --- Client ------------------------------------------------------------------------------------

  /** One outbound call's signal: the caller's, `stop`, and a re-armable watchdog. */
  #call(callerSignal: AbortSignal | undefined) {
    const watchdog = new AbortController()
    const stopping = this.#stopping.signal
    const signal = AbortSignal.any([watchdog.signal, stopping, ...(callerSignal === undefined ? [] : [callerSignal])])
    let timer: NodeJS.Timeout | undefined
    const disarm = () => clearTimeout(timer)
    return {
      signal,
      arm(ms: number) {
        disarm()
        timer = setTimeout(() => watchdog.abort(), ms)
      },
      disarm,
      done: disarm,
      /** What to throw for `err`, given which of the signals (if any) ended the call. */
      failure(err: unknown, who: string, timeoutText: string): P2pdsError {
        if (callerSignal?.aborted === true) return new AbortError()
        if (stopping.aborted) return new PeerUnreachableError(who, 'the network service stopped', { cause: err })
        if (watchdog.signal.aborted) return new PeerUnreachableError(who, timeoutText, { cause: err })
        if (err instanceof P2pdsError && !['ERR_FETCH_FAILED', 'ERR_FETCH_TIMEOUT', 'ERR_ABORTED'].includes(err.code)) return err
        return new PeerUnreachableError(who, errorText(err), { cause: err })
      },
    }
  }

  /** Sends a signed request to the first address that answers; checks who answers. */
  async #open(target: PeerTarget, route: HttpNetRoute, protocol: string, body: Uint8Array, signal: AbortSignal): Promise<Opened> {
    if (!/^\/[\x21-\x7e]{1,255}$/.test(protocol)) throw new PeerProtocolError(targetLabel(target), `${JSON.stringify(protocol)} is not a protocol id`)
    const candidates = this.#dialables(target)
    let lastErr: unknown
    for (const [i, c] of candidates.entries()) {
      const last = i === candidates.length - 1
      try {
        const expected = target.peerId ?? c.peerId ?? (await this.#identify(c, signal))
        const time = this.#now()
        const headers = await signedRequestHeaders({ sign: (d) => this.sign(d), route, protocol, from: this.peerId, to: expected, body, time })
        const res = await this.#fetch(`${c.origin}${HTTP_NET_PATH}/${route}`, { method: 'POST', headers, body: body as Uint8Array<ArrayBuffer>, signal, redirect: 'error' })
        const claimed = res.headers.get(HEADER.peer)
        if (!(res.headers.get('content-type') ?? '').startsWith(FRAMES_TYPE) || res.body === null) {
          await res.body?.cancel().catch(() => undefined)
          throw new PeerProtocolError(expected, `${c.addr} answered HTTP ${res.status} without a signed answer (is it a P2PDS node?)`)
        }
        if (claimed !== expected) {
          await res.body.cancel().catch(() => undefined)
          throw new PeerProtocolError(expected, `the address ${c.addr} answered as ${claimed ?? '(nobody)'}, not ${expected}`)
        }
        return new Opened(res.body, expected, this.peerId, headers[HEADER.nonce]!, () => this.#touch(expected, c.addr))
      } catch (err) {
        // Only a failed connection moves on to the next address; anything the peer said is final.
        lastErr = err
        if (last || signal.aborted || !(err instanceof P2pdsError && err.code === 'ERR_FETCH_FAILED')) throw err
      }
    }
    throw lastErr
  }

  /** The addresses of a target this transport can dial, most promising first. */
  #dialables(target: PeerTarget): Dialable[] {
    const label = targetLabel(target)
    const given = target.multiaddrs ?? []
    let addrs = given
    if (addrs.length === 0 && target.peerId != null) {
      const known = this.#seen.get(target.peerId)?.addr
      if (known == null) throw new PeerUnreachableError(label, 'no multiaddr to dial, and no HTTP address known for this PeerID')
      addrs = [known]
    }
    if (addrs.length === 0) throw new PeerUnreachableError(label, 'no multiaddr or PeerID to dial')
    const out: Dialable[] = []
    let refused: UnsafeUrlError | undefined
    for (const a of addrs) {
      let d: Dialable | null
      try {
        d = parseDialable(a)
      } catch (err) {
        throw new PeerUnreachableError(label, `bad multiaddr (${errorText(err)})`, { cause: err })
      }
      if (d === null) continue
      // An address that names another peer is not this target's.
      if (target.peerId != null && d.peerId !== null && d.peerId !== target.peerId) continue
      if (d.ip !== null && !(this.#init.allowPrivateNetwork ?? false)) {
        const kind = classifyAddress(d.ip)
        if (kind !== 'public') {
          refused ??= new UnsafeUrlError(d.ip, kind)
          continue
        }
      }
      out.push(d)
    }
    if (out.length === 0) {
      if (refused !== undefined) throw refused
      throw new PeerUnreachableError(label, 'none of its multiaddrs is an HTTP one (…/tcp/<port>/http/p2p/<PeerID>) naming this peer')
    }
    // The address that last answered goes first.
    const known = target.peerId == null ? undefined : this.#seen.get(target.peerId)?.addr
    return out.sort((x, y) => Number(y.addr === known) - Number(x.addr === known))
  }

  /** The PeerID an address says it has: a hint, checked against every signed frame after. */
  async #identify(c: Dialable, signal: AbortSignal): Promise<string> {
    const res = await this.#fetch(`${c.origin}${HTTP_NET_PATH}/id`, { signal, redirect: 'error' })
    if (res.body === null) throw new PeerProtocolError(c.addr, `it answered HTTP ${res.status} with no body`)
    const reader = new ByteReader(res.body)
    try {
      const text = new TextDecoder().decode(await reader.upTo(4096))
      let peerId: unknown
      try {
        peerId = (JSON.parse(text) as { peerId?: unknown }).peerId
      } catch {
        peerId = undefined
      }
      if (!res.ok || typeof peerId !== 'string' || !isPeerId(peerId)) throw new PeerProtocolError(c.addr, `it does not say which PeerID it has (HTTP ${res.status})`)
      return peerId
    } finally {
      reader.cancel()
    }
  }

  // --- Server ------------------------------------------------------------------------------------

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A reader that goes away mid-answer is expected; the writes below check `res.destroyed`.
    res.on('error', () => undefined)
    const path = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && path === `${HTTP_NET_PATH}/id`) {
      if (this.#ipLimiter.take(`ip:${req.socket.remoteAddress ?? ''}`) > 0) return plain(res, 429, { code: 'ERR_RATE_LIMITED' })
      return plain(res, 200, { peerId: this.peerId })
    }
    if (req.method === 'POST' && (path === `${HTTP_NET_PATH}/req` || path === `${HTTP_NET_PATH}/stream`)) {
      return this.#serve(path.endsWith('/req') ? 'req' : 'stream', req, res)
    }
    plain(res, 404, { code: 'ERR_NOT_FOUND', message: `no route ${req.method} ${path}` })
  }

  /** One inbound signed request: limits, authentication, handler, signed answer. */
  async #serve(route: HttpNetRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const h = (name: string) => {
      const v = req.headers[name]
      return typeof v === 'string' ? v : ''
    }
    const protocol = h(HEADER.protocol)
    const from = h(HEADER.from)
    const nonce = h(HEADER.nonce)
    // Refusals before authentication are signed too (over the claimed requester and nonce), so the
    // code reaches a genuine requester; they grant nothing to anyone else.
    const answer = new AnswerWriter(res, (d) => this.sign(d), this.peerId, isPeerId(from) ? from : '', /^[A-Za-z0-9_-]{22}$/.test(nonce) ? nonce : '')
    const refuse = (status: number, code: string, message: string) => answer.single(status, ERR, encodeRefusal(code, message), true)

    if (this.#ipLimiter.take(`ip:${req.socket.remoteAddress ?? ''}`) > 0) return refuse(429, RATE_LIMITED.code, RATE_LIMITED.message)
    const maxBytes = this.#init.maxRequestBytes ?? MAX_MESSAGE_BYTES
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > maxBytes) return refuse(413, 'ERR_REQUEST_TOO_LARGE', `the request is larger than ${maxBytes} bytes`)
    const time = Number(h(HEADER.time))
    const sig = Buffer.from(h(HEADER.sig), 'base64url')
    if (!/^\/[\x21-\x7e]{1,255}$/.test(protocol) || answer.requester === '' || answer.nonce === '' || !/^\d{1,15}$/.test(h(HEADER.time)) || sig.length === 0) {
      return refuse(400, 'ERR_PEER_PROTOCOL', 'the request lacks a well-formed protocol, from, nonce, time or signature header')
    }
    const to = h(HEADER.to)
    if (to !== this.peerId) return refuse(401, 'ERR_PEER_PROTOCOL', `the request is addressed to ${to.slice(0, 100) || '(nobody)'}, not to this node (${this.peerId})`)
    const skew = Math.abs(this.#now() - time)
    if (skew > MAX_CLOCK_SKEW_MS) return refuse(401, 'ERR_PEER_PROTOCOL', `the request's time is ${Math.round(skew / 1000)} s off this node's clock (more than ${MAX_CLOCK_SKEW_MS / 1000} s); check both clocks`)
    // The nonces seen before a restart are forgotten; refusing what was signed before it keeps a
    // request captured then from being replayed now. A requester whose clock is behind retries.
    if (time < this.#startedAt) return refuse(401, 'ERR_PEER_PROTOCOL', 'the request was signed before this node (re)started; send it again')

    const body = await readBody(req, maxBytes, INBOUND_READ_MS)
    if (body === 'too-large') return refuse(413, 'ERR_REQUEST_TOO_LARGE', `the request is larger than ${maxBytes} bytes`)
    if (body === 'timeout') return refuse(408, 'ERR_PEER_UNREACHABLE', 'the request body did not arrive in time')
    if (body === 'aborted') return
    if (!(await verifyPeerSignature(from, requestSigningBytes({ route, protocol, from, to, nonce, time, body }), sig))) {
      return refuse(401, 'ERR_PEER_PROTOCOL', `the request's signature does not verify with the key of ${from}`)
    }
    const replay = this.#rememberNonce(from, nonce)
    if (replay !== null) return refuse(replay === 'full' ? 503 : 401, replay === 'full' ? 'ERR_RATE_LIMITED' : 'ERR_PEER_PROTOCOL', replay === 'full' ? 'too many requests right now; retry later' : 'the request was already received (replayed nonce)')
    if (this.#peerLimiter.take(`peer:${from}`) > 0) return refuse(429, RATE_LIMITED.code, RATE_LIMITED.message)
    this.#touch(from, null)

    const peer = { peerId: from }
    if (route === 'req') {
      const handler = this.#handlers.get(protocol)
      if (handler === undefined) return refuse(404, UNSUPPORTED_PROTOCOL, `it does not serve ${protocol}`)
      let out: Frame
      try {
        out = { type: DATA, payload: await handler(body, peer) }
      } catch (err) {
        out = { type: ERR, payload: refusalOf(err) }
      }
      return answer.single(200, out.type, out.payload, false)
    }
    const handler = this.#streamHandlers.get(protocol)
    if (handler === undefined) return refuse(404, UNSUPPORTED_PROTOCOL, `it does not serve ${protocol}`)
    let chunks: AsyncIterable<Uint8Array>
    try {
      chunks = await handler(body, peer)
    } catch (err) {
      return answer.single(200, ERR, refusalOf(err), false)
    }
    await answer.stream(chunks)
  }

  /** Records a nonce; null when new, else why it is refused. */
  #rememberNonce(from: string, nonce: string): 'replayed' | 'full' | null {
    const now = this.#now()
    const key = `${from} ${nonce}`
    const until = this.#nonces.get(key)
    if (until !== undefined && until >= now) return 'replayed'
    if (this.#nonces.size >= MAX_NONCES) {
      for (const [k, t] of this.#nonces) {
        if (t >= now) break
        this.#nonces.delete(k)
      }
      // Forgetting a live nonce would open a replay window: refuse instead.
      if (this.#nonces.size >= MAX_NONCES) return 'full'
    }
    this.#nonces.set(key, now + 2 * MAX_CLOCK_SKEW_MS)
    return null
  }
}

// --- Answer frames -------------------------------------------------------------------------------

/** Writes one answer's signed frames. */
class AnswerWriter {
  #index = 0
  constructor(
    readonly res: ServerResponse,
    readonly sign: (data: Uint8Array) => Promise<Uint8Array>,
    readonly responder: string,
    readonly requester: string,
    readonly nonce: string,
  ) {}

  async #frame(type: number, payload: Uint8Array): Promise<Uint8Array> {
    const index = this.#index++
    const sig = await this.sign(frameSigningBytes({ responder: this.responder, requester: this.requester, nonce: this.nonce, index, type, payload }))
    const out = new Uint8Array(FRAME_HEAD_BYTES + payload.length + sig.length)
    const view = new DataView(out.buffer)
    view.setUint8(0, type)
    view.setUint32(1, payload.length)
    view.setUint8(5, sig.length)
    out.set(payload, FRAME_HEAD_BYTES)
    out.set(sig, FRAME_HEAD_BYTES + payload.length)
    return out
  }

  #head(status: number, close: boolean): void {
    this.res.writeHead(status, { 'content-type': FRAMES_TYPE, [HEADER.peer]: this.responder, ...(close ? { connection: 'close' } : {}) })
  }

  /** One frame as the whole answer; `close` when the request body may be unread. */
  async single(status: number, type: number, payload: Uint8Array, close: boolean): Promise<void> {
    const frame = await this.#frame(type, payload)
    this.#head(status, close)
    this.res.end(frame)
  }

  /** DATA frames of up to STREAM_FRAME_BYTES, then END, or ERR if the chunks fail. Stops when the reader goes. */
  async stream(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.#head(200, false)
    try {
      for await (const body of gatherFrames(chunks)) await write(this.res, await this.#frame(DATA, body))
      this.res.end(await this.#frame(END, new Uint8Array(0)))
    } catch (err) {
      if (err instanceof ReaderGoneError || this.res.destroyed) {
        this.res.destroy()
        return
      }
      this.res.end(await this.#frame(ERR, refusalOf(err)))
    }
  }
}

class ReaderGoneError extends Error {}

/** Writes, waiting (at most INBOUND_READ_MS) for the reader when the socket's buffer is full. */
async function write(res: ServerResponse, bytes: Uint8Array): Promise<void> {
  if (res.destroyed) throw new ReaderGoneError('the reader went away')
  if (res.write(bytes)) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new ReaderGoneError('the reader stopped reading')), INBOUND_READ_MS)
    const onDrain = () => finish()
    const onClose = () => finish(new ReaderGoneError('the reader went away'))
    const finish = (err?: Error) => {
      clearTimeout(timer)
      res.off('drain', onDrain)
      res.off('close', onClose)
      if (err === undefined) resolve()
      else reject(err)
    }
    res.on('drain', onDrain)
    res.on('close', onClose)
  })
}

/** The reading side of one answer: frames checked against the responder's key, in order. */
class Opened {
  #index = 0
  #touched = false
  readonly #reader: ByteReader
  constructor(
    body: ReadableStream<Uint8Array>,
    readonly peerId: string,
    readonly requester: string,
    readonly nonce: string,
    readonly onAuthenticated: () => void,
  ) {
    this.#reader = new ByteReader(body)
  }

  /** The next frame, verified; null at a clean end of the body before any byte of a frame. */
  async next(maxDataBytes: number): Promise<Frame | null> {
    const head = await this.#reader.exactly(FRAME_HEAD_BYTES, true)
    if (head === null) return null
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
    const type = view.getUint8(0)
    const length = view.getUint32(1)
    const sigLength = view.getUint8(5)
    const limit = type === ERR ? MAX_ERROR_BYTES : type === DATA ? maxDataBytes : 0
    if (length > limit) {
      if (type === DATA) throw new ResponseTooLargeError(this.peerId, maxDataBytes, length)
      throw new PeerProtocolError(this.peerId, `a frame of type ${type} with ${length} bytes`)
    }
    const rest = (await this.#reader.exactly(length + sigLength, false))!
    const payload = rest.subarray(0, length)
    const sig = rest.subarray(length)
    const index = this.#index++
    const signed = frameSigningBytes({ responder: this.peerId, requester: this.requester, nonce: this.nonce, index, type, payload })
    if (!(await verifyPeerSignature(this.peerId, signed, sig))) throw new PeerProtocolError(this.peerId, `frame ${index} of the answer is not signed by ${this.peerId}`)
    if (!this.#touched) {
      this.#touched = true
      this.onAuthenticated()
    }
    return { type, payload }
  }

  close(): void {
    this.#reader.cancel()
  }
}

/** Exact-length reads over a web stream. */
class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>
  #chunks: Uint8Array[] = []
  #buffered = 0
  #ended = false

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader()
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffered < n && !this.#ended) {
      const { done, value } = await this.#reader.read()
      if (done) this.#ended = true
      else if (value.length > 0) {
        this.#chunks.push(value)
        this.#buffered += value.length
      }
    }
  }

  #take(n: number): Uint8Array {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered)
    const out = all.subarray(0, n)
    const rest = all.subarray(n)
    this.#chunks = rest.length > 0 ? [rest] : []
    this.#buffered = rest.length
    return out
  }

  /** Exactly `n` bytes; at the end of the stream null when `endOk` and nothing was buffered, else a protocol error. */
  async exactly(n: number, endOk: boolean): Promise<Uint8Array | null> {
    await this.#fill(n)
    if (this.#buffered < n) {
      if (endOk && this.#buffered === 0) return null
      throw new Error('the answer broke off mid-frame')
    }
    return this.#take(n)
  }

  /** Everything up to `max` bytes (more is an error). */
  async upTo(max: number): Promise<Uint8Array> {
    await this.#fill(max + 1)
    if (this.#buffered > max) throw new Error(`more than ${max} bytes`)
    return this.#take(this.#buffered)
  }

  cancel(): void {
    this.#reader.cancel().catch(() => undefined)
  }
}

// --- Helpers -------------------------------------------------------------------------------------

/**
 * The dialable form of a multiaddr, null when it is not an HTTP one this transport dials
 * (`/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>/<http|https|tls/http>[/p2p/<id>]`).
 * @throws when the multiaddr does not parse
 */
function parseDialable(addr: string): Dialable | null {
  const parts = multiaddr(addr).getComponents()
  const names = parts.map((p) => p.name)
  const [host, tcp] = parts
  if (host?.value === undefined || !['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(host.name) || tcp?.name !== 'tcp') return null
  const rest = names.slice(2)
  if (rest.at(-1) === 'p2p') rest.pop()
  const scheme = rest.join('/') === 'http' ? 'http' : rest.join('/') === 'https' || rest.join('/') === 'tls/http' ? 'https' : null
  if (scheme === null) return null
  const p2p = parts.at(-1)?.name === 'p2p' ? (parts.at(-1)!.value ?? null) : null
  const ip = host.name === 'ip4' || host.name === 'ip6' ? host.value : null
  return { addr, origin: `${scheme}://${host.name === 'ip6' ? `[${host.value}]` : host.value}:${tcp.value}`, peerId: p2p, ip }
}

function targetLabel(target: PeerTarget): string {
  return target.peerId ?? target.multiaddrs?.[0] ?? '(no address)'
}

/** Reads a body up to `max` bytes within `ms`; never throws. */
function readBody(req: IncomingMessage, max: number, ms: number): Promise<Uint8Array | 'too-large' | 'timeout' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (result: Uint8Array | 'too-large' | 'timeout' | 'aborted') => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      if (typeof result === 'string') req.pause()
      resolve(result)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > max) finish('too-large')
      else chunks.push(chunk)
    }
    const onEnd = () => finish(new Uint8Array(Buffer.concat(chunks, size)))
    const onError = () => finish('aborted')
    const onClose = () => {
      if (!req.complete) finish('aborted')
    }
    const timer = setTimeout(() => finish('timeout'), ms)
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

function plain(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

/** The error an ERR frame stands for. */
function remoteError(who: string, protocol: string, payload: Uint8Array): P2pdsError {
  const refusal = decodeRefusal(who, payload)
  // libp2p reports a protocol the peer does not serve as a failed dial; so does this transport.
  if (refusal.code === UNSUPPORTED_PROTOCOL) return new PeerUnreachableError(who, `it does not serve ${protocol}`)
  return refusal
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    // Keep-alive and in-flight connections too: a stopped service answers nothing more.
    server.closeAllConnections()
  })
}

function sha256Sync(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts)
}


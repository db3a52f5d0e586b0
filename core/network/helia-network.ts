/**
 * `HeliaNetworkService`: the {@link NetworkService} over a minimal libp2p (TCP, noise, yamux,
 * identify, ping, kad-dht in client mode, autoNAT) and Helia's bitswap (`@helia/bitswap`). Bitswap's
 * blockstore is {@link HeliaBlockstore} over the node's own `BlockStore`, so it serves the blocks of
 * `pds.db` and nothing is stored twice. No delegated HTTP routers, gateways, mDNS or bootstrap
 * list: peers come from the {@link PeerDirectory} (agreements, `peers.add`).
 *
 * Messages on the p2pds protocols are one length-prefixed request and one length-prefixed answer
 * per stream; the answer's first byte says ok (0) or error (1, then `{code, message}` JSON).
 * Inbound streams are rate-limited per remote peer and bounded in size and time.
 */
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { AbortError, errorText, NetworkDisabledError, P2pdsError, PeerProtocolError, PeerUnreachableError, throwIfAborted } from '../errors.js'
import { createRateLimiter, type RateLimitInit } from '../server/rate-limit.js'
import type { BlockStore } from '../storage/types.js'
import { decodeRefusal, encodeRefusal, gatherFrames, RATE_LIMITED, refusalOf, STREAM_FRAME_BYTES } from './frames.js'
import { HeliaBlockstore } from './helia-blockstore.js'
import { encodeHeadNotice, headNoticeHandler } from './notify.js'
import { peerIdOf } from './peer-key.js'
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
  type StreamHandler,
  type RequestOptions,
} from './types.js'


/** Largest request or answer on a p2pds protocol, in bytes. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/** Time allowed for a request, dial included, in ms. */
const DEFAULT_TIMEOUT_MS = 10_000
/** Time an inbound stream may take to send its request, in ms. */
const INBOUND_READ_MS = 10_000
/** Time allowed to announce one batch of CIDs, in ms. */
const PROVIDE_TIMEOUT_MS = 5_000

/** What a {@link HeliaNetworkService} is made from. */
export interface HeliaNetworkServiceInit {
  /** The node's block store (Helia reads and writes it through {@link HeliaBlockstore}). */
  blocks: BlockStore
  /** The node's libp2p key (see `loadOrCreatePeerKey`). */
  privateKey: PrivateKey
  /** Helia on (`IPFS_ENABLED`). Off: nothing listens; `sign` still works. @default true */
  enabled?: boolean
  /** libp2p networking on (`IPFS_NETWORKING`). @default true */
  networking?: boolean
  /** Listen multiaddrs (`LISTEN_ADDRS`). @default ['/ip4/0.0.0.0/tcp/0'] */
  listenAddrs?: string[]
  /** Per-peer limit on inbound p2pds requests. @default { capacity: 60, refillPerSec: 10 } */
  rateLimit?: RateLimitInit
  /** Largest inbound request, in bytes. @default MAX_MESSAGE_BYTES */
  maxRequestBytes?: number
  /** @default Date.now */
  now?: () => number
}

const OK = 0
const ERR = 1
/** Streamed answers: data frames, then END (or ERR). */
const END = 2


export class HeliaNetworkService implements NetworkService {
  readonly peerId: string
  readonly #init: HeliaNetworkServiceInit
  readonly #handlers = new Map<string, ProtocolHandler>()
  readonly #streamHandlers = new Map<string, StreamHandler>()
  readonly #headListeners = new Set<(notice: HeadNotice, from: { peerId: string }) => void>()
  readonly #limiter
  #libp2pNode: Libp2p | undefined
  #bitswap: BitswapLike | undefined

  constructor(init: HeliaNetworkServiceInit) {
    this.#init = init
    this.peerId = peerIdOf(init.privateKey)
    this.#limiter = createRateLimiter(init.rateLimit ?? { capacity: 60, refillPerSec: 10 }, init.now)
    this.#handlers.set(PROTOCOLS.notify, headNoticeHandler(this.#headListeners))
  }

  get #networking(): boolean {
    return (this.#init.enabled ?? true) && (this.#init.networking ?? true)
  }

  #libp2p(what: string): Libp2p {
    if (!this.#networking) throw new NetworkDisabledError(what)
    if (this.#libp2pNode === undefined) throw new PeerUnreachableError('(any)', 'the network service is not started')
    return this.#libp2pNode
  }

  async start(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (!this.#networking || this.#libp2pNode !== undefined) return
    // Loaded here, not at import: libp2p and its transports take seconds to load, which every CLI
    // command opening the data dir (with networking never started) would otherwise pay.
    const [{ createLibp2p }, { noise }, { yamux }, { autoNAT }, { identify }, { kadDHT }, { ping }, { tcp }, { Bitswap }] = await Promise.all([
      import('libp2p'),
      import('@chainsafe/libp2p-noise'),
      import('@chainsafe/libp2p-yamux'),
      import('@libp2p/autonat'),
      import('@libp2p/identify'),
      import('@libp2p/kad-dht'),
      import('@libp2p/ping'),
      import('@libp2p/tcp'),
      loadBitswap(),
    ])
    throwIfAborted(options.signal)
    const libp2p = await createLibp2p({
      privateKey: this.#init.privateKey,
      addresses: { listen: this.#init.listenAddrs ?? ['/ip4/0.0.0.0/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      // An idle connection to a partner is pinged once a minute, not every few seconds.
      connectionMonitor: { pingInterval: 60_000 },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ clientMode: true }),
        autoNAT: autoNAT(),
      },
      start: false,
    })
    const blockstore = new HeliaBlockstore(this.#init.blocks)
    // Bitswap over the node's own block store: it serves the blocks of pds.db and checks what it
    // receives against the CID (sha-256 only: every atproto CID uses it).
    const bitswap = new Bitswap({
      libp2p,
      blockstore,
      logger: libp2p.logger,
      routing: { findProviders: (cid: unknown, o?: AbortOptions) => providers(libp2p, cid, o) },
      getHasher: async (code: number) => {
        if (code === sha256.code) return sha256
        throw new PeerProtocolError('(bitswap)', `unsupported multihash 0x${code.toString(16)}`)
      },
    })
    try {
      await libp2p.start()
      await bitswap.start()
      throwIfAborted(options.signal)
      for (const [protocol, handler] of this.#handlers) await this.#register(libp2p, protocol, handler)
      for (const [protocol, handler] of this.#streamHandlers) await this.#registerStream(libp2p, protocol, handler)
    } catch (err) {
      await Promise.resolve(bitswap.stop()).catch(() => undefined)
      await Promise.resolve(libp2p.stop()).catch(() => undefined)
      throw err
    }
    this.#libp2pNode = libp2p
    this.#bitswap = bitswap
  }

  async stop(): Promise<void> {
    const libp2p = this.#libp2pNode
    const bitswap = this.#bitswap
    this.#libp2pNode = undefined
    this.#bitswap = undefined
    await bitswap?.stop()
    await libp2p?.stop()
  }

  info(): NetworkInfo {
    const libp2p = this.#libp2pNode
    return {
      enabled: this.#init.enabled ?? true,
      networking: this.#networking,
      peerId: this.peerId,
      multiaddrs: libp2p === undefined ? [] : libp2p.getMultiaddrs().map((m) => m.toString()),
      connections: libp2p === undefined ? 0 : libp2p.getConnections().length,
    }
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return this.#init.privateKey.sign(data)
  }

  async provide(cids: string[], options: AbortOptions = {}): Promise<{ provided: number; failed: number }> {
    throwIfAborted(options.signal)
    const libp2p = this.#libp2pNode
    if (libp2p === undefined || cids.length === 0) return { provided: 0, failed: cids.length }
    // Client-mode DHT: with no connection there is no server to tell, so do not wait for the timeout.
    if (libp2p.getConnections().length === 0) return { provided: 0, failed: cids.length }
    const signal = anySignal(options.signal, PROVIDE_TIMEOUT_MS)
    const results = await Promise.allSettled(cids.map((c) => libp2p.contentRouting.provide(CID.parse(c) as unknown as Parameters<Libp2p['contentRouting']['provide']>[0], { signal })))
    const provided = results.filter((r) => r.status === 'fulfilled').length
    return { provided, failed: cids.length - provided }
  }

  async getBlock(cid: string, options: RequestOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal)
    if (await this.#init.blocks.hasBlock(cid, options)) return this.#init.blocks.getBlock(cid, options)
    const bitswap = this.#bitswap
    if (bitswap === undefined) throw new NetworkDisabledError('Fetching a block from peers')
    const signal = anySignal(options.signal, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    let bytes: Uint8Array
    try {
      // Bitswap checks the bytes against the CID before it resolves.
      bytes = await bitswap.want(CID.parse(cid), { signal })
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortError()
      throw new PeerUnreachableError('(bitswap)', signal.aborted ? `no peer provided block ${cid} in time` : errorText(err), { cause: err })
    }
    // The store checks them again (a CID mismatch is refused, nothing stored).
    await this.#init.blocks.putBlock(cid, bytes, { signal: options.signal })
    return bytes
  }

  async connect(target: PeerTarget, options: AbortOptions = {}): Promise<{ peerId: string }> {
    const conn = await this.#dial(target, anySignal(options.signal, DEFAULT_TIMEOUT_MS), options.signal)
    return { peerId: conn.remotePeer.toString() }
  }

  isConnected(peerId: string): boolean {
    const libp2p = this.#libp2pNode
    if (libp2p === undefined) return false
    try {
      return libp2p.getConnections(peerIdFromString(peerId)).length > 0
    } catch {
      return false
    }
  }

  async request(target: PeerTarget, protocol: string, body: Uint8Array, options: RequestOptions = {}): Promise<PeerAnswer> {
    throwIfAborted(options.signal)
    const signal = anySignal(options.signal, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    const conn = await this.#dial(target, signal, options.signal)
    const who = conn.remotePeer.toString()
    let stream: Stream | undefined
    try {
      stream = await conn.newStream(protocol, { signal })
      const lp = lpStream(stream, { maxDataLength: options.maxBytes ?? MAX_MESSAGE_BYTES })
      await lp.write(body, { signal })
      const answer = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => undefined)
      if (answer.length === 0) throw new PeerProtocolError(who, 'empty answer')
      if (answer[0] === OK) return { peerId: who, bytes: answer.subarray(1) }
      throw decodeRefusal(who, answer.subarray(1))
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (err instanceof P2pdsError) throw err
      if (options.signal?.aborted === true) throw new AbortError()
      throw new PeerUnreachableError(who, signal.aborted ? 'no answer in time' : errorText(err), { cause: err })
    }
  }

  async openStream(target: PeerTarget, protocol: string, body: Uint8Array, options: RequestOptions = {}): Promise<PeerStream> {
    throwIfAborted(options.signal)
    // The timeout covers dialling and each frame's wait, not the whole transfer.
    const idleMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const conn = await this.#dial(target, anySignal(options.signal, idleMs), options.signal)
    const who = conn.remotePeer.toString()
    let stream: Stream
    try {
      stream = await conn.newStream(protocol, { signal: anySignal(options.signal, idleMs) })
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortError()
      throw new PeerUnreachableError(who, errorText(err), { cause: err })
    }
    const lp = lpStream(stream, { maxDataLength: STREAM_FRAME_BYTES + 1024 })
    await lp.write(body, { signal: anySignal(options.signal, idleMs) })
    const callerSignal = options.signal
    async function* chunks(): AsyncGenerator<Uint8Array> {
      let ended = false
      try {
        for (;;) {
          const signal = anySignal(callerSignal, idleMs)
          let frame: Uint8Array
          try {
            frame = (await lp.read({ signal })).subarray()
          } catch (err) {
            if (callerSignal?.aborted === true) throw new AbortError()
            throw new PeerUnreachableError(who, signal.aborted ? 'the transfer stalled' : `the transfer broke off (${errorText(err)})`, { cause: err })
          }
          if (frame.length === 0) throw new PeerProtocolError(who, 'empty frame')
          if (frame[0] === END) {
            ended = true
            return
          }
          if (frame[0] === ERR) throw decodeRefusal(who, frame.subarray(1))
          yield frame.subarray(1)
        }
      } finally {
        if (ended) await stream.close().catch(() => undefined)
        else stream.abort(new Error('stream not read to its end'))
      }
    }
    return { peerId: who, chunks: chunks() }
  }

  async handleStream(protocol: string, handler: StreamHandler): Promise<void> {
    this.#streamHandlers.set(protocol, handler)
    if (this.#libp2pNode !== undefined) await this.#registerStream(this.#libp2pNode, protocol, handler)
  }

  async #registerStream(libp2p: Libp2p, protocol: string, handler: StreamHandler): Promise<void> {
    await libp2p.handle(protocol, (stream, connection) => this.#serveStream(stream, connection, handler), { force: true, maxInboundStreams: 4 })
  }

  /** One inbound streaming request: rate limit, bounded read, then the chunks as frames, then END. Never throws. */
  async #serveStream(stream: Stream, connection: Connection, handler: StreamHandler): Promise<void> {
    const from = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: this.#init.maxRequestBytes ?? MAX_MESSAGE_BYTES })
    const frame = (type: number, body: Uint8Array) => {
      const out = new Uint8Array(body.length + 1)
      out[0] = type
      out.set(body, 1)
      return out
    }
    try {
      if (this.#limiter.take(from) > 0) {
        await lp.write(errorFrame(encodeRefusal(RATE_LIMITED.code, RATE_LIMITED.message)))
        await stream.close()
        return
      }
      const request = (await lp.read({ signal: AbortSignal.timeout(INBOUND_READ_MS) })).subarray()
      let sending: Promise<unknown> | undefined
      try {
        // One frame is sent while the next is read from the handler: reading the store and
        // sending overlap. lp.write waits for the stream to drain, so a slow reader still slows
        // the reading of the store (at most one frame is buffered ahead).
        for await (const body of gatherFrames(await handler(request, { peerId: from }))) {
          await sending
          sending = lp.write(frame(OK, body), { signal: AbortSignal.timeout(INBOUND_READ_MS) })
          // Awaited at the next frame or at the end; this only keeps it from being unhandled meanwhile.
          sending.catch(() => undefined)
        }
        await sending
        await lp.write(frame(END, new Uint8Array(0)))
      } catch (err) {
        await sending?.catch(() => undefined)
        await lp.write(errorFrame(refusalOf(err)))
      }
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  async handle(protocol: string, handler: ProtocolHandler): Promise<void> {
    this.#handlers.set(protocol, handler)
    if (this.#libp2pNode !== undefined) await this.#register(this.#libp2pNode, protocol, handler)
  }

  async notifyHead(target: PeerTarget, notice: HeadNotice, options: AbortOptions = {}): Promise<void> {
    await this.request(target, PROTOCOLS.notify, encodeHeadNotice(notice), { ...options, timeoutMs: 5_000, maxBytes: 1024 })
  }

  onHead(listener: (notice: HeadNotice, from: { peerId: string }) => void): () => void {
    this.#headListeners.add(listener)
    return () => this.#headListeners.delete(listener)
  }

  async #register(libp2p: Libp2p, protocol: string, handler: ProtocolHandler): Promise<void> {
    await libp2p.handle(protocol, (stream, connection) => this.#serve(stream, connection, handler), {
      force: true,
      maxInboundStreams: 8,
    })
  }

  /** One inbound request: rate limit, bounded read, handler, one answer. Never throws. */
  async #serve(stream: Stream, connection: Connection, handler: ProtocolHandler): Promise<void> {
    const from = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: this.#init.maxRequestBytes ?? MAX_MESSAGE_BYTES })
    try {
      if (this.#limiter.take(from) > 0) {
        await lp.write(errorFrame(encodeRefusal(RATE_LIMITED.code, RATE_LIMITED.message)))
        await stream.close()
        return
      }
      const request = (await lp.read({ signal: AbortSignal.timeout(INBOUND_READ_MS) })).subarray()
      let answer: Uint8Array
      try {
        const body = await handler(request, { peerId: from })
        answer = new Uint8Array(body.length + 1)
        answer[0] = OK
        answer.set(body, 1)
      } catch (err) {
        answer = errorFrame(refusalOf(err))
      }
      await lp.write(answer, { signal: AbortSignal.timeout(INBOUND_READ_MS) })
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  async #dial(target: PeerTarget, signal: AbortSignal, callerSignal: AbortSignal | undefined): Promise<Connection> {
    const libp2p = this.#libp2p('Reaching a peer over libp2p')
    const label = target.peerId ?? target.multiaddrs?.[0] ?? '(no address)'
    let addrs: Multiaddr[]
    try {
      addrs = (target.multiaddrs ?? []).map((a) => multiaddr(a))
    } catch (err) {
      throw new PeerUnreachableError(label, `bad multiaddr (${errorText(err)})`, { cause: err })
    }
    let conn: Connection
    try {
      if (addrs.length > 0) conn = await libp2p.dial(addrs, { signal })
      else if (target.peerId != null) conn = await libp2p.dial(peerIdFromString(target.peerId), { signal })
      else throw new PeerUnreachableError(label, 'no multiaddr or PeerID to dial')
    } catch (err) {
      if (err instanceof P2pdsError) throw err
      if (callerSignal?.aborted === true) throw new AbortError()
      throw new PeerUnreachableError(label, signal.aborted ? 'no answer in time' : errorText(err), { cause: err })
    }
    const remote = conn.remotePeer.toString()
    if (target.peerId != null && remote !== target.peerId) {
      throw new PeerProtocolError(label, `the address answered as ${remote}, not ${target.peerId}`)
    }
    return conn
  }
}

/** An ERR frame carrying a refusal's payload. */
function errorFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1)
  out[0] = ERR
  out.set(payload, 1)
  return out
}


/** A signal that aborts with the caller's or after `ms`. */
function anySignal(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout])
}

/** What this service uses of `@helia/bitswap`'s `Bitswap`. */
interface BitswapLike {
  start(): Promise<void> | void
  stop(): Promise<void> | void
  want(cid: CID, options?: AbortOptions): Promise<Uint8Array>
}

/** `@helia/bitswap`'s `Bitswap` class, constructed with its components. */
type BitswapClass = new (components: Record<string, unknown>) => BitswapLike

/**
 * Loads the `Bitswap` class of `@helia/bitswap` (pinned in package.json) from its own module.
 * The package's entry point offers it only through `helia`, whose entry point loads libp2p's
 * defaults (WebRTC, websockets, TLS, UPnP, relays, delegated routing, HTTP gateways): about 40 MB
 * of resident memory for code this node never runs (measured with `npm run bench -- network`,
 * `idle_rss_mb`). The class file is imported by path; `helia-network.test.ts` exercises it.
 */
async function loadBitswap(): Promise<{ Bitswap: BitswapClass }> {
  const entry = import.meta.resolve('@helia/bitswap')
  const url = new URL('./bitswap.js', entry)
  const mod = (await import(url.href)) as { Bitswap?: BitswapClass }
  if (typeof mod.Bitswap !== 'function') throw new Error(`@helia/bitswap at ${entry} has no Bitswap class; check its pinned version`)
  return { Bitswap: mod.Bitswap }
}

/** Bitswap's routing: providers of a CID from the DHT (client mode), as `{ id, multiaddrs }`. */
async function* providers(libp2p: Libp2p, cid: unknown, options?: AbortOptions): AsyncGenerator<{ id: unknown; multiaddrs: unknown[] }> {
  try {
    for await (const p of libp2p.contentRouting.findProviders(cid as Parameters<Libp2p['contentRouting']['findProviders']>[0], options)) {
      yield { id: p.id, multiaddrs: p.multiaddrs }
    }
  } catch {
    // No DHT server reachable: bitswap still asks the peers already connected.
  }
}

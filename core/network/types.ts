/**
 * The network layer's interfaces. Replication asks a {@link NetworkService} to announce CIDs,
 * notify peers of new heads and exchange request/response messages over named protocols; it
 * never sees libp2p. Peers this node talks to are kept in a {@link PeerDirectory}.
 *
 * Everything crossing these interfaces is JSON-safe (PeerIDs, multiaddrs, CIDs and DIDs as
 * strings), so an HTTP-only or other transport can implement them without touching replication.
 */

/** Options of every async operation that can be cancelled. */
export interface AbortOptions {
  /** Aborting it rejects the operation with `AbortError` (code `ERR_ABORTED`). */
  signal?: AbortSignal
}

/** libp2p protocol ids (see PROTOCOL.md). */
export const PROTOCOLS = {
  challenge: '/p2pds/challenge/1.0.0',
  repo: '/p2pds/repo/1.0.0',
  notify: '/p2pds/notify/1.0.0',
} as const

/** What the network layer looks like right now, for node info and `org.p2pds.peer`. */
export interface NetworkInfo {
  /** Helia (IPFS) is on (`IPFS_ENABLED`). */
  enabled: boolean
  /** libp2p networking is on (`IPFS_NETWORKING`): listening, dialling, serving protocols. */
  networking: boolean
  /** This node's libp2p PeerID (stable across restarts: the key lives in the data dir). */
  peerId: string
  /** Multiaddrs peers can dial, each ending in `/p2p/<peerId>`; empty while networking is off. */
  multiaddrs: string[]
  /** Peers connected now. */
  connections: number
}

/** A peer as the network layer dials it. */
export interface PeerTarget {
  /** Its PeerID, when known (required to check who answered). */
  peerId?: string | null
  /** Multiaddrs to dial; a PeerID alone is dialled from the peer store. @default [] */
  multiaddrs?: string[]
}

/** "New head for DID X at rev R", sent over `/p2pds/notify/1.0.0`. */
export interface HeadNotice {
  did: string
  rev: string
  /** CID of the new head commit. */
  cid: string
}

/** Options of {@link NetworkService.request}. */
export interface RequestOptions extends AbortOptions {
  /** Time allowed for dialling, sending and the whole answer, in ms. @default 10000 */
  timeoutMs?: number
  /** Largest answer accepted, in bytes. @default 4 MiB */
  maxBytes?: number
}

/** An answer from a peer, with the PeerID the transport authenticated it as. */
export interface PeerAnswer {
  /** The PeerID of the connection the answer arrived on (noise-authenticated). */
  peerId: string
  /** The answer's bytes. */
  bytes: Uint8Array
}

/** Handles one request on a protocol; resolves with the answer's bytes. */
export type ProtocolHandler = (request: Uint8Array, from: { peerId: string }) => Promise<Uint8Array>

/**
 * Handles one request on a streaming protocol: resolves with the chunks to send (read lazily, so
 * the answer can be larger than memory). Rejecting, before or while the chunks are read, sends a
 * coded error instead of (or after) them.
 */
export type StreamHandler = (request: Uint8Array, from: { peerId: string }) => Promise<AsyncIterable<Uint8Array>>

/** A streamed answer. */
export interface PeerStream {
  /** The PeerID the answer arrives from (noise-authenticated). */
  peerId: string
  /** The answer's chunks; iterating rejects with a coded error if the peer fails or goes away mid-answer. */
  chunks: AsyncIterable<Uint8Array>
}

/**
 * Announcing, notifying and messaging between nodes, over whatever transport.
 *
 * Invariants every implementation keeps (checked by `describeNetworkService` in
 * `network-service.conformance.ts`):
 * - `peerId` is stable for a data dir, and `sign` signatures verify with the key it names;
 * - a request reaches the handler registered for its protocol on the target and the answer comes
 *   back whole; an unknown protocol, an unreachable peer or a handler failure rejects with a
 *   coded `P2pdsError`; an aborted signal rejects with `AbortError`;
 * - a head notice sent to a peer reaches that peer's `onHead` listeners with the sender's PeerID.
 */
export interface NetworkService {
  /** This node's PeerID. */
  readonly peerId: string
  /** Starts listening and serving; resolves when ready. */
  start(options?: AbortOptions): Promise<void>
  /** Stops; resolves when every connection is closed. Idempotent. */
  stop(): Promise<void>
  /** PeerID, multiaddrs, connections. */
  info(): NetworkInfo
  /** Signs bytes with this node's libp2p private key (Ed25519). */
  sign(data: Uint8Array): Promise<Uint8Array>
  /**
   * Announces that this node holds these CIDs (DHT provide, client mode). Best effort: resolves
   * with how many were announced; never rejects for a routing failure.
   */
  provide(cids: string[], options?: AbortOptions): Promise<{ provided: number; failed: number }>
  /**
   * A block by CID: from the block store when held, else from connected peers (bitswap), after
   * which it is in the block store (checked against its CID). Rejects with `PeerUnreachableError`
   * when no peer provides it in time.
   */
  getBlock(cid: string, options?: RequestOptions): Promise<Uint8Array>
  /** Dials a peer; resolves with its authenticated PeerID. */
  connect(target: PeerTarget, options?: AbortOptions): Promise<{ peerId: string }>
  /** Whether a connection to the peer is open now. */
  isConnected(peerId: string): boolean
  /** Sends one request on a protocol and resolves with the one answer. */
  request(target: PeerTarget, protocol: string, body: Uint8Array, options?: RequestOptions): Promise<PeerAnswer>
  /** Sends one request on a streaming protocol; the answer is read as it arrives. */
  openStream(target: PeerTarget, protocol: string, body: Uint8Array, options?: RequestOptions): Promise<PeerStream>
  /** Serves a streaming protocol (replaces an earlier handler of the same protocol). */
  handleStream(protocol: string, handler: StreamHandler): Promise<void>
  /** Serves a protocol (replaces an earlier handler of the same protocol). */
  handle(protocol: string, handler: ProtocolHandler): Promise<void>
  /** Tells a peer about a new head (one short message, no answer awaited beyond an ack). */
  notifyHead(target: PeerTarget, notice: HeadNotice, options?: AbortOptions): Promise<void>
  /** Listens for head notices from peers; returns the unsubscribe function. */
  onHead(listener: (notice: HeadNotice, from: { peerId: string }) => void): () => void
}

// --- Peers -------------------------------------------------------------------------------------

/** Where a peer entry came from. */
export type PeerSource = 'manual' | 'agreement'

/** A peer this node knows, with the DIDs it is known to hold. */
export interface PeerEntry {
  /** Local id of the entry. */
  id: number
  /** Its libp2p PeerID; null for an HTTP-only peer until its first signed answer pins it. */
  peerId: string | null
  /** libp2p multiaddrs to dial it at. */
  multiaddrs: string[]
  /** Its peer-facing XRPC URL (HTTP fallback), or null. */
  endpoint: string | null
  source: PeerSource
  /** DIDs it is known to hold (from agreements, from `peers.add`, or from its head notices). */
  dids: string[]
  /** Unix ms. */
  addedAt: number
  /** Unix ms it last answered, or null. */
  lastSeenAt: number | null
}

/** What is needed to add a peer: at least a multiaddr with `/p2p/<id>`, or an endpoint URL. */
export interface PeerInput {
  /** @default [] */
  multiaddrs?: string[]
  /** @default null */
  endpoint?: string | null
  /** @default taken from the multiaddrs' `/p2p/` part */
  peerId?: string | null
  /** @default [] */
  dids?: string[]
  /** @default 'manual' */
  source?: PeerSource
}

/**
 * The peers this node talks to. `peers.add` feeds it by hand; agreements feed the same list
 * (source `agreement`) with the DIDs each partner holds.
 */
export interface PeerDirectory {
  /** Adds a peer, or merges addresses and DIDs into the entry with the same PeerID or endpoint. */
  add(input: PeerInput): Promise<PeerEntry>
  /** Removes a peer and its challenge history. Rejects with `UnknownPeerError`. */
  remove(id: number): Promise<void>
  /** Every peer, oldest first. */
  list(): Promise<PeerEntry[]>
  /** One peer, or null. */
  get(id: number): Promise<PeerEntry | null>
  /** The entry with this PeerID, or null. */
  findByPeerId(peerId: string): Promise<PeerEntry | null>
  /** Peers known to hold the DID. */
  holding(did: string): Promise<PeerEntry[]>
  /** Records that the peer holds the DID. */
  addDid(id: number, did: string): Promise<void>
  /** Pins the PeerID of an HTTP-only peer and marks it seen. */
  seen(id: number, at: number, peerId?: string): Promise<void>
}

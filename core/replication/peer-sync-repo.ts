/**
 * Peer-first repository sync over `/p2pds/repo/1.0.0`.
 *
 * - Serving: a node streams the CAR of a held account's head, read from the store as it is sent:
 *   with `since` naming a revision it keeps, only what the head adds to it (`exportDiffCar`, as a
 *   PDS answers `getRepo?since=`); otherwise the whole repository.
 * - Fetching: {@link peerRepoFetch} is a `fetch` that answers `com.atproto.sync.getRepo` from a
 *   peer, so {@link peerFirstSync} runs the very same `syncRepo` as for a PDS: every block hashed,
 *   the commit checked against the account's key from its DID document, the MST checked, the rev
 *   moving forward, all or nothing. When no peer serves a verified repo (slow, gone, missing
 *   blocks, bad data), it falls back to the PDS. The result says which source served it.
 */
import { isValidDid, isValidTid } from '@atproto/syntax'
import { AbortError, InvalidChallengeError, P2pdsError, PeerUnreachableError } from '../errors.js'
import { PROTOCOLS, type NetworkService, type PeerEntry } from '../network/types.js'
import type { AccountIdentity, RepoStorage } from '../storage/types.js'
import { exportCar, exportDiffCar } from './export.js'
import type { FetchLike } from './pds-client.js'
import { syncRepo } from './repo-sync.js'
import type { SyncOptions, SyncSummary } from './types.js'

/** `UnknownAccountError`'s code, as it crosses the wire from a peer that does not hold the DID. */
const UNKNOWN_ACCOUNT = 'ERR_UNKNOWN_ACCOUNT'

/** What served a sync. */
export type SyncSource = { kind: 'peer'; peerId: string } | { kind: 'pds'; url: string }

/** Serves held repositories on `/p2pds/repo/1.0.0`. */
export async function serveRepos(network: NetworkService, storage: RepoStorage): Promise<void> {
  await network.handleStream(PROTOCOLS.repo, async (bytes) => {
    let req: { did?: unknown; since?: unknown }
    try {
      req = JSON.parse(new TextDecoder().decode(bytes)) as { did?: unknown; since?: unknown }
    } catch {
      throw new InvalidChallengeError('the repo request is not JSON')
    }
    if (typeof req.did !== 'string' || !isValidDid(req.did)) throw new InvalidChallengeError('the repo request has no valid DID')
    if (req.since !== undefined && (typeof req.since !== 'string' || !isValidTid(req.since))) throw new InvalidChallengeError('the repo request has an invalid since')
    // A diff since a revision this node keeps, as a PDS sends it; else the whole repository.
    const diff = typeof req.since === 'string' ? await exportDiffCar(storage, req.did, req.since) : null
    return (diff ?? (await exportCar(storage, req.did, { order: 'nodes-first' }))).car
  })
}

/**
 * A `fetch` answering `GET …/xrpc/com.atproto.sync.getRepo?did=&since=` from a peer over libp2p,
 * as a streamed response body. A peer that does not hold the DID answers 400 `RepoNotFound`; any
 * other path is 501. A transfer that breaks off errors the body (the CAR reader reports it).
 */
export function peerRepoFetch(network: NetworkService, peer: Pick<PeerEntry, 'peerId' | 'multiaddrs'>, options: { idleTimeoutMs?: number } = {}): FetchLike {
  return async (input, init) => {
    const url = new URL(input instanceof URL ? input.href : input)
    if (url.pathname !== '/xrpc/com.atproto.sync.getRepo') {
      return Response.json({ error: 'MethodNotImplemented', message: 'only getRepo is served by peers' }, { status: 501 })
    }
    const did = url.searchParams.get('did')
    const since = url.searchParams.get('since')
    const body = new TextEncoder().encode(JSON.stringify({ did, ...(since === null ? {} : { since }) }))
    const signal = init?.signal ?? undefined
    const answer = await network.openStream({ peerId: peer.peerId, multiaddrs: peer.multiaddrs }, PROTOCOLS.repo, body, { signal, timeoutMs: options.idleTimeoutMs })
    const iterator = answer.chunks[Symbol.asyncIterator]()
    // Read the first frame now, so a refusal becomes an HTTP error rather than a broken body.
    let first: IteratorResult<Uint8Array>
    try {
      first = await iterator.next()
    } catch (err) {
      if (err instanceof P2pdsError && err.code === UNKNOWN_ACCOUNT) {
        return Response.json({ error: 'RepoNotFound', message: err.message }, { status: 400 })
      }
      throw err
    }
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        if (first.done === true) controller.close()
        else controller.enqueue(first.value)
      },
      async pull(controller) {
        try {
          const next = await iterator.next()
          if (next.done === true) controller.close()
          else controller.enqueue(next.value)
        } catch (err) {
          controller.error(err)
        }
      },
      async cancel() {
        await iterator.return?.()
      },
    })
    return new Response(stream, { status: 200, headers: { 'content-type': 'application/vnd.ipld.car' } })
  }
}

/** Options of {@link peerFirstSync}. */
export interface PeerFirstSyncOptions extends Omit<SyncOptions, 'fetch'> {
  /** The node's network service. */
  network: NetworkService
  /** Peers to try first, in order (those known to hold the DID). */
  peers: Array<Pick<PeerEntry, 'peerId' | 'multiaddrs'>>
  /** The `fetch` for the PDS (the node's SSRF-safe fetch). */
  fetch: FetchLike
  /** A peer silent for this long is given up, in ms. @default 10000 */
  idleTimeoutMs?: number
  /** Called when a peer could not serve a verified repo (the next source is tried). */
  onPeerFailed?(peerId: string, err: unknown): void
  /**
   * Fall back to the PDS when no peer serves a verified repo. When false, the last peer's failure
   * is thrown instead (the caller already knows the PDS cannot be reached). @default true
   */
  fallback?: boolean
}

/**
 * Syncs an account from the first peer that serves a repository that verifies, else from its PDS.
 * Resolves with the summary and the source; rejects (storing nothing) only when the PDS fails too.
 */
export async function peerFirstSync(storage: RepoStorage, account: AccountIdentity, options: PeerFirstSyncOptions): Promise<SyncSummary & { source: SyncSource }> {
  const { network, peers, fetch, idleTimeoutMs, onPeerFailed, fallback = true, ...sync } = options
  let lastFailure: unknown = new PeerUnreachableError('(any holding the account)', 'none could be asked')
  if (network.info().networking) {
    for (const peer of peers) {
      if (peer.peerId === null) continue
      try {
        const summary = await syncRepo(storage, account, { ...sync, fetch: peerRepoFetch(network, peer, { idleTimeoutMs }) })
        return { ...summary, source: { kind: 'peer', peerId: peer.peerId } }
      } catch (err) {
        if (sync.signal?.aborted === true) throw new AbortError()
        lastFailure = err
        onPeerFailed?.(peer.peerId, err)
      }
    }
  }
  if (!fallback) throw lastFailure
  const summary = await syncRepo(storage, account, { ...sync, fetch })
  return { ...summary, source: { kind: 'pds', url: account.pdsUrl } }
}

/**
 * `SqlitePeerDirectory`: the {@link PeerDirectory} over the `peers` and `peer_dids` tables of
 * `pds.db` (migration 4). Each write is one statement or one transaction. Input is checked here
 * (multiaddrs parse and end in `/p2p/<PeerID>`, the endpoint is an http(s) origin, DIDs are
 * valid) and refused with `InvalidPeerAddressError`, changing nothing.
 */
import { isValidDid } from '@atproto/syntax'
import { multiaddr } from '@multiformats/multiaddr'
import type { Database } from 'better-sqlite3'
import { InvalidPeerAddressError, UnknownPeerError } from '../errors.js'
import { isPeerId } from './peer-key.js'
import type { PeerDirectory, PeerEntry, PeerInput, PeerSource } from './types.js'

interface PeerRow {
  id: number
  peer_id: string | null
  multiaddrs: string
  endpoint: string | null
  source: string
  added_at: number
  last_seen_at: number | null
}

/** The PeerID a multiaddr names in its last `/p2p/` part, or null. */
export function peerIdOfMultiaddr(addr: string): string | null {
  try {
    return multiaddr(addr).getComponents().findLast((c) => c.name === 'p2p')?.value ?? null
  } catch {
    return null
  }
}

/** Normalises and checks what `peers.add` was given. */
export function checkPeerInput(input: PeerInput): { peerId: string | null; multiaddrs: string[]; endpoint: string | null; dids: string[] } {
  const multiaddrs: string[] = []
  let peerId = input.peerId ?? null
  if (peerId !== null && !isPeerId(peerId)) throw new InvalidPeerAddressError(peerId, 'not a libp2p PeerID')
  for (const addr of input.multiaddrs ?? []) {
    try {
      multiaddr(addr)
    } catch {
      throw new InvalidPeerAddressError(addr, 'not a multiaddr (expected e.g. /ip4/203.0.113.5/tcp/4001/p2p/12D3Koo…)')
    }
    const id = peerIdOfMultiaddr(addr)
    if (id === null) throw new InvalidPeerAddressError(addr, 'the multiaddr must end in /p2p/<PeerID>, so the answer can be checked')
    if (peerId !== null && id !== peerId) throw new InvalidPeerAddressError(addr, `it names ${id}, not ${peerId}`)
    peerId = id
    multiaddrs.push(addr)
  }
  let endpoint: string | null = null
  if (input.endpoint != null) {
    let url: URL
    try {
      url = new URL(input.endpoint)
    } catch {
      throw new InvalidPeerAddressError(input.endpoint, 'not a URL')
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidPeerAddressError(input.endpoint, 'only http(s) endpoints are supported')
    if (url.username !== '' || url.password !== '') throw new InvalidPeerAddressError(input.endpoint, 'credentials in the URL are not accepted')
    endpoint = url.origin
  }
  if (peerId === null && endpoint === null) throw new InvalidPeerAddressError(JSON.stringify(input), 'give a multiaddr ending in /p2p/<PeerID> or an endpoint URL')
  const dids = [...new Set(input.dids ?? [])]
  for (const did of dids) if (!isValidDid(did)) throw new InvalidPeerAddressError(did, 'not a valid DID')
  return { peerId, multiaddrs, endpoint, dids }
}

export class SqlitePeerDirectory implements PeerDirectory {
  readonly #db: Database
  readonly #now: () => number

  constructor(init: { db: Database; now?: () => number }) {
    this.#db = init.db
    this.#now = init.now ?? Date.now
  }

  async add(input: PeerInput): Promise<PeerEntry> {
    const { peerId, multiaddrs, endpoint, dids } = checkPeerInput(input)
    const source: PeerSource = input.source ?? 'manual'
    const id = this.#db.transaction(() => {
      const byPeer = peerId === null ? undefined : this.#db.prepare<[string], PeerRow>('SELECT * FROM peers WHERE peer_id = ?').get(peerId)
      const byEndpoint = endpoint === null ? undefined : this.#db.prepare<[string], PeerRow>('SELECT * FROM peers WHERE endpoint = ?').get(endpoint)
      if (byPeer !== undefined && byEndpoint !== undefined && byPeer.id !== byEndpoint.id) {
        throw new InvalidPeerAddressError(endpoint!, `this endpoint already belongs to another peer (${byEndpoint.peer_id ?? byEndpoint.id})`)
      }
      const existing = byPeer ?? byEndpoint
      let rowId: number
      if (existing === undefined) {
        rowId = Number(
          this.#db
            .prepare('INSERT INTO peers (peer_id, multiaddrs, endpoint, source, added_at) VALUES (?, ?, ?, ?, ?)')
            .run(peerId, JSON.stringify(multiaddrs), endpoint, source, this.#now()).lastInsertRowid,
        )
      } else {
        if (existing.peer_id !== null && peerId !== null && existing.peer_id !== peerId) {
          throw new InvalidPeerAddressError(endpoint ?? peerId, `this endpoint belongs to ${existing.peer_id}`)
        }
        const merged = [...new Set([...(JSON.parse(existing.multiaddrs) as string[]), ...multiaddrs])]
        this.#db
          .prepare('UPDATE peers SET peer_id = COALESCE(peer_id, ?), multiaddrs = ?, endpoint = COALESCE(?, endpoint) WHERE id = ?')
          .run(peerId, JSON.stringify(merged), endpoint, existing.id)
        rowId = existing.id
      }
      const addDid = this.#db.prepare('INSERT INTO peer_dids (peer, did) VALUES (?, ?) ON CONFLICT DO NOTHING')
      for (const did of dids) addDid.run(rowId, did)
      return rowId
    })()
    return (await this.get(id))!
  }

  async remove(id: number): Promise<void> {
    const changes = this.#db.prepare('DELETE FROM peers WHERE id = ?').run(id).changes
    if (changes === 0) throw new UnknownPeerError(String(id))
  }

  async list(): Promise<PeerEntry[]> {
    return this.#db.prepare<[], PeerRow>('SELECT * FROM peers ORDER BY id').all().map((r) => this.#entry(r))
  }

  async get(id: number): Promise<PeerEntry | null> {
    const row = this.#db.prepare<[number], PeerRow>('SELECT * FROM peers WHERE id = ?').get(id)
    return row === undefined ? null : this.#entry(row)
  }

  async findByPeerId(peerId: string): Promise<PeerEntry | null> {
    const row = this.#db.prepare<[string], PeerRow>('SELECT * FROM peers WHERE peer_id = ?').get(peerId)
    return row === undefined ? null : this.#entry(row)
  }

  async holding(did: string): Promise<PeerEntry[]> {
    return this.#db
      .prepare<[string], PeerRow>('SELECT p.* FROM peers p JOIN peer_dids d ON d.peer = p.id WHERE d.did = ? ORDER BY p.id')
      .all(did)
      .map((r) => this.#entry(r))
  }

  async addDid(id: number, did: string): Promise<void> {
    if (!isValidDid(did)) throw new InvalidPeerAddressError(did, 'not a valid DID')
    this.#db.prepare('INSERT INTO peer_dids (peer, did) VALUES (?, ?) ON CONFLICT DO NOTHING').run(id, did)
  }

  async seen(id: number, at: number, peerId?: string): Promise<void> {
    this.#db.prepare('UPDATE peers SET last_seen_at = ?, peer_id = COALESCE(peer_id, ?) WHERE id = ?').run(at, peerId ?? null, id)
  }

  #entry(row: PeerRow): PeerEntry {
    const dids = this.#db
      .prepare<[number], { did: string }>('SELECT did FROM peer_dids WHERE peer = ? ORDER BY did')
      .all(row.id)
      .map((r) => r.did)
    return {
      id: row.id,
      peerId: row.peer_id,
      multiaddrs: JSON.parse(row.multiaddrs) as string[],
      endpoint: row.endpoint,
      source: row.source as PeerSource,
      dids,
      addedAt: row.added_at,
      lastSeenAt: row.last_seen_at,
    }
  }
}

/**
 * The `org.p2pds.peer/self` record: published (or refreshed) in a logged-in account's repo so
 * that other nodes find this node's libp2p PeerID, multiaddrs and peer-facing endpoint.
 */
import type { Agent } from '@atproto/api'
import { NSID, recordToJson, validateRecord, type LexiconRecords } from '../lexicons.js'

export type PeerRecord = LexiconRecords['org.p2pds.peer']

/** What this node says about itself. */
export interface PeerSelf {
  /** libp2p PeerID, or null without a libp2p network. */
  peerId: string | null
  multiaddrs: string[]
  /** Peer-facing endpoint URL, or null when peers cannot reach one. */
  endpoint: string | null
}

/**
 * The endpoint a node may publish: its public URL when it is https, or any http(s) URL when
 * private-network URLs are allowed (tests, LANs); else none.
 */
export function publishableEndpoint(publicUrl: string | null, allowPrivateNetwork: boolean): string | null {
  if (publicUrl === null) return null
  if (publicUrl.startsWith('https://')) return publicUrl
  return allowPrivateNetwork && publicUrl.startsWith('http://') ? publicUrl : null
}

/**
 * Writes `org.p2pds.peer/self` when it is missing or says something else; returns the record now
 * in the repo and whether it was written. The record is validated against its lexicon first.
 */
export async function publishPeerRecord(agent: Agent, did: string, self: PeerSelf, now: () => number = Date.now): Promise<{ record: PeerRecord; written: boolean }> {
  const record = validateRecord(NSID.peer, {
    $type: NSID.peer,
    ...(self.peerId === null ? {} : { peerId: self.peerId }),
    multiaddrs: self.multiaddrs,
    ...(self.endpoint === null ? {} : { endpoint: self.endpoint }),
    createdAt: new Date(now()).toISOString(),
  })
  const current = await agent.com.atproto.repo.getRecord({ repo: did, collection: NSID.peer, rkey: 'self' }).then(
    (r) => r.data.value as Record<string, unknown>,
    () => undefined,
  )
  if (current !== undefined && samePeer(current, record)) return { record: current as unknown as PeerRecord, written: false }
  await agent.com.atproto.repo.putRecord({ repo: did, collection: NSID.peer, rkey: 'self', record: recordToJson(record), validate: false })
  return { record, written: true }
}

function samePeer(a: Record<string, unknown>, b: PeerRecord): boolean {
  return a.peerId === b.peerId && a.endpoint === b.endpoint && JSON.stringify(a.multiaddrs) === JSON.stringify(b.multiaddrs)
}

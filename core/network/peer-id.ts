/** PeerID syntax, with no I/O (the policy engine checks preferred peers with it). */
import { peerIdFromString } from '@libp2p/peer-id'

/** Whether `s` is a libp2p PeerID (`12D3KooW…`, `Qm…` or its CID form). */
export function isPeerId(s: string): boolean {
  try {
    peerIdFromString(s)
    return true
  } catch {
    return false
  }
}

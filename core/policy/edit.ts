/**
 * A user setting a policy's fields (`policies.update`, `p2pds policy set`, the Policies panel):
 * the change checked against `POLICY_LIMITS` (pure; parsing a PeerID is the only work done).
 */
import { InvalidInputError, PolicyError } from '../errors.js'
import { isPeerId } from '../network/peer-id.js'
import { POLICY_LIMITS, type Policy } from './types.js'

/** The fields a user may set; absent leaves a field as it is, null clears a number (back to the default). */
export interface PolicyChanges {
  intervalSec?: number | null
  minCopies?: number | null
  retentionDays?: number | null
  preferredPeers?: readonly string[]
}

const WHAT: Record<'intervalSec' | 'minCopies' | 'retentionDays', { name: string; unit: string }> = {
  intervalSec: { name: 'The sync interval', unit: 'seconds' },
  minCopies: { name: 'The number of copies wanted', unit: 'copies' },
  retentionDays: { name: 'The history kept', unit: 'days' },
}


/**
 * The policy with `changes` applied and `updatedAt` moved to `now`. Throws, changing nothing:
 * {@link PolicyError} for a config policy (it comes from REPLICATE_DIDS or POLICY_FILE) or a
 * purged one; {@link InvalidInputError} for a value out of range, naming the range.
 */
export function editPolicy(current: Policy, changes: PolicyChanges, now: number): Policy {
  if (current.type === 'config') {
    throw new PolicyError(`The policy for ${current.did} comes from the node's configuration (REPLICATE_DIDS or POLICY_FILE); change it there and restart the node.`)
  }
  if (current.state === 'purged') throw new PolicyError(`The ${current.type} policy for ${current.did} has ended and its data was purged; there is nothing to change.`)
  const next: Policy = { ...current, updatedAt: now }
  for (const field of ['intervalSec', 'minCopies', 'retentionDays'] as const) {
    const value = changes[field]
    if (value === undefined) continue
    if (value !== null) checkRange(field, value)
    next[field] = value
  }
  if (changes.preferredPeers !== undefined) next.preferredPeers = checkPeers(changes.preferredPeers)
  return next
}

function checkRange(field: keyof typeof WHAT, value: number): void {
  const { min, max } = POLICY_LIMITS[field]
  if (!Number.isInteger(value) || value < min || value > max) {
    const { name, unit } = WHAT[field]
    throw new InvalidInputError(`${name} must be a whole number from ${min} to ${max} ${unit}; ${String(value)} is not.`)
  }
}

/** Trimmed, without repeats, in the order given; every one a PeerID. */
function checkPeers(peers: readonly string[]): string[] {
  const unique = [...new Set(peers.map((p) => p.trim()).filter((p) => p !== ''))]
  if (unique.length > POLICY_LIMITS.preferredPeers) {
    throw new InvalidInputError(`A policy names at most ${POLICY_LIMITS.preferredPeers} preferred peers; ${unique.length} were given.`)
  }
  const bad = unique.find((p) => !isPeerId(p))
  if (bad !== undefined) throw new InvalidInputError(`${JSON.stringify(bad.length > 80 ? `${bad.slice(0, 80)}…` : bad)} is not a libp2p PeerID (such as 12D3KooW…); copy it from p2pds peers.`)
  return unique
}

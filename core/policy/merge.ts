import type { EffectivePolicy, Policy } from './types.js'

/**
 * Merges the active policies of one DID: max(minCopies), min(intervalSec), max(retentionDays),
 * union(preferredPeers). Returns null when none is active (the DID is not to be held).
 */
export function mergePolicies(did: string, policies: readonly Policy[]): EffectivePolicy | null {
  const active = policies.filter((p) => p.did === did && p.state === 'active')
  if (active.length === 0) return null
  const pick = (values: Array<number | null>, f: (...n: number[]) => number): number | null => {
    const set = values.filter((v): v is number => v !== null)
    return set.length === 0 ? null : f(...set)
  }
  return {
    did,
    minCopies: pick(active.map((p) => p.minCopies), Math.max),
    intervalSec: pick(active.map((p) => p.intervalSec), Math.min),
    retentionDays: pick(active.map((p) => p.retentionDays), Math.max),
    preferredPeers: [...new Set(active.flatMap((p) => p.preferredPeers))],
    from: active.map((p) => p.id),
  }
}

/** Every DID some active policy holds, each with its merged policy. */
export function effectivePolicies(policies: readonly Policy[]): EffectivePolicy[] {
  const dids = [...new Set(policies.filter((p) => p.state === 'active').map((p) => p.did))]
  return dids.map((d) => mergePolicies(d, policies)!)
}

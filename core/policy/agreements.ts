import { transition } from './lifecycle.js'
import type { Policy } from './types.js'

/** What the node knows about offers between one local account and one other account. */
export interface OfferPair {
  localDid: string
  did: string
  /** The local account's offer to `did` is in its repo. */
  offered: boolean
  /** `did`'s offer to the local account is in `did`'s repo (read from there, verified). */
  offeredBack: boolean
  /** Parameters of the local offer (they shape the policy). */
  params?: { minCopies?: number; intervalSec?: number; retentionDays?: number }
}

/** The id of the reciprocal policy of a pair. */
export function reciprocalId(localDid: string, did: string): string {
  return `reciprocal:${localDid}:${did}`
}

/**
 * The reciprocal policy a pair calls for, given the one held (or undefined): mutual offers make
 * it active (created, or re-activated within the grace period); a missing offer terminates an
 * active or suspended one (purge due after `graceMs`); otherwise it is unchanged. Returns the
 * policy to store, or null when nothing changes.
 */
export function reconcilePair(pair: OfferPair, current: Policy | undefined, now: number, graceMs: number): Policy | null {
  const mutual = pair.offered && pair.offeredBack
  if (mutual) {
    if (current === undefined || current.state === 'purged') {
      return {
        id: reciprocalId(pair.localDid, pair.did),
        type: 'reciprocal',
        did: pair.did,
        localDid: pair.localDid,
        state: 'active',
        consent: 'reciprocal',
        minCopies: pair.params?.minCopies ?? null,
        intervalSec: pair.params?.intervalSec ?? null,
        retentionDays: pair.params?.retentionDays ?? null,
        preferredPeers: current?.preferredPeers ?? [],
        purgeAt: null,
        createdAt: now,
        updatedAt: now,
      }
    }
    if (current.state === 'terminated' || current.state === 'proposed') return { ...transition(current, 'active', now), consent: 'reciprocal' }
    return null
  }
  if (current !== undefined && (current.state === 'active' || current.state === 'suspended' || current.state === 'proposed')) {
    return { ...transition(current, 'terminated', now, graceMs), consent: pair.offeredBack ? current.consent : 'revoked' }
  }
  return null
}

/** Terminated policies whose grace period is over, now to be purged. */
export function duePurges(policies: readonly Policy[], now: number): Policy[] {
  return policies.filter((p) => p.state === 'terminated' && p.purgeAt !== null && p.purgeAt <= now)
}

/** Whether any policy other than `except` still holds `did` (then its data is kept). */
export function stillHeld(policies: readonly Policy[], did: string, except: string): boolean {
  return policies.some((p) => p.did === did && p.id !== except && (p.state === 'active' || p.state === 'suspended' || p.state === 'proposed'))
}

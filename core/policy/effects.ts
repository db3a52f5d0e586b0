/**
 * What the merged policies mean for the node (pure): why an account is held, which history is
 * past its retention, whether the user's data has the copies it asks for, and the order in which
 * peers are asked for blocks.
 */
import type { ConsentStatus, Policy, PolicyType } from './types.js'
import type { DataSafetyDto } from '../api.js'

/** Days in ms. */
const DAY_MS = 86_400_000

/** Copies wanted when no policy says (`minCopies`). @default 1 */
export const DEFAULT_MIN_COPIES = 1

/** States in which a policy's data is still held (terminated: during its grace period). */
const HOLDING: ReadonlySet<Policy['state']> = new Set(['proposed', 'active', 'suspended', 'terminated'])

/** Which kind of policy holds a DID, for display: reciprocal before config before archive. */
const RANK: Readonly<Record<PolicyType, number>> = { reciprocal: 0, config: 1, archive: 2 }

/** Why the node holds `did` and with what consent, or null when no policy holds it. Active policies come first. */
export function holdingOf(policies: readonly Policy[], did: string): { kind: PolicyType; consent: ConsentStatus; state: Policy['state'] } | null {
  const mine = policies
    .filter((p) => p.did === did && HOLDING.has(p.state))
    .sort((a, b) => Number(b.state === 'active') - Number(a.state === 'active') || RANK[a.type] - RANK[b.type])
  const first = mine[0]
  return first === undefined ? null : { kind: first.type, consent: first.consent, state: first.state }
}

/** The active archive policy of an account added by hand, keeping what an earlier one of the same id had. */
export function archivePolicy(did: string, now: number, consent: 'consented' | 'unconsented', existing?: Policy): Policy {
  return {
    id: `archive:${did}`,
    type: 'archive',
    did,
    localDid: null,
    state: 'active',
    consent,
    minCopies: existing?.minCopies ?? null,
    intervalSec: existing?.intervalSec ?? null,
    retentionDays: existing?.retentionDays ?? null,
    preferredPeers: existing?.preferredPeers ?? [],
    purgeAt: null,
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  }
}

/**
 * The `before` revision for pruning history under `retentionDays`: commits stored (seenAt) more
 * than that many days ago go, the head (first of `commits`, newest first) always stays. Null when
 * nothing is to go.
 */
export function retentionCutoff(commits: ReadonlyArray<{ rev: string; seenAt: number }>, now: number, retentionDays: number | null): string | null {
  if (retentionDays === null || commits.length < 2) return null
  const cutoff = now - retentionDays * DAY_MS
  const kept = commits.filter((c, i) => i === 0 || c.seenAt >= cutoff)
  if (kept.length === commits.length) return null
  return kept.reduce((min, c) => (c.rev < min ? c.rev : min), kept[0]!.rev)
}

/** "Is my data safe?": the copies of one account other nodes hold, against the copies wanted (`wanted` defaults to {@link DEFAULT_MIN_COPIES}). */
export type DataSafety = DataSafetyDto

/** The safety of `did`'s data from what the node knows. */
export function dataSafety(input: { did: string; wanted: number | null; verifiedPeers: number; challenged: boolean; agreements: number }): DataSafety {
  const wanted = input.wanted ?? DEFAULT_MIN_COPIES
  const basis = input.challenged ? 'challenges' : 'agreements'
  const copies = input.challenged ? input.verifiedPeers : input.agreements
  const safe = copies >= wanted
  const of = `${copies} of ${wanted} wanted`
  const sentence = input.challenged
    ? `${copies === 1 ? '1 peer holds' : `${copies} peers hold`} a verified copy (${of}).`
    : copies === 0
      ? `No peer holds a copy yet (${of}): make an agreement with someone.`
      : `${copies === 1 ? '1 agreement partner has' : `${copies} agreement partners have`} promised a copy, not yet verified by a challenge (${of}).`
  return { did: input.did, wanted, copies, basis, safe, sentence }
}

/** Candidates in fetch order: the preferred PeerIDs first (in their order), then the rest as given. */
export function orderByPreference<T>(candidates: readonly T[], preferred: readonly string[], peerIdOf: (c: T) => string | null): T[] {
  const rank = (c: T): number => {
    const id = peerIdOf(c)
    const i = id === null ? -1 : preferred.indexOf(id)
    return i === -1 ? preferred.length : i
  }
  return candidates
    .map((c, i) => ({ c, i, r: rank(c) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c)
}

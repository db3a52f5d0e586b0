/**
 * Replication policies: why a node holds a DID, and how (interval, copies, retention, where to
 * fetch from). Pure values; the node persists them (`policies` table).
 */

/** How a policy came to be. */
export type PolicyType =
  /** Both accounts offered each other (mutual offers): an agreement. */
  | 'reciprocal'
  /** One-way: added by hand (or with the target's consent record). */
  | 'archive'
  /** From REPLICATE_DIDS or POLICY_FILE. */
  | 'config'

/** Lifecycle: proposed → active → suspended → terminated → purged. */
export type PolicyState = 'proposed' | 'active' | 'suspended' | 'terminated' | 'purged'

/** What the replicated account agreed to. */
export type ConsentStatus =
  /** It offered back (an agreement). */
  | 'reciprocal'
  /** It published `org.p2pds.replication.consent`. */
  | 'consented'
  /** Archived without its consent (public data, an explicit user action). */
  | 'unconsented'
  /** It withdrew (deleted its offer or consent). */
  | 'revoked'

/** One policy. */
export interface Policy {
  /** Stable id: `<type>:<did>` (reciprocal: `reciprocal:<localDid>:<did>`). */
  id: string
  type: PolicyType
  /** The DID replicated. */
  did: string
  /** For reciprocal policies, the local account in the agreement; else null. */
  localDid: string | null
  state: PolicyState
  consent: ConsentStatus
  /** Copies of the data wanted. @default none (no opinion) */
  minCopies: number | null
  /** Longest time between syncs, in seconds. @default none (SYNC_INTERVAL_SEC) */
  intervalSec: number | null
  /** Days of history kept. @default none (keep all) */
  retentionDays: number | null
  /** PeerIDs to fetch blocks from first. */
  preferredPeers: string[]
  /** When a terminated policy's data is purged (ms since the epoch), or null. */
  purgeAt: number | null
  createdAt: number
  updatedAt: number
}

/** What several active policies of one DID add up to (see `mergePolicies`). */
export interface EffectivePolicy {
  did: string
  /** max over the policies; null when none says. */
  minCopies: number | null
  /** min over the policies; null when none says. */
  intervalSec: number | null
  /** max over the policies; null when none says. */
  retentionDays: number | null
  /** Union, in first-seen order. */
  preferredPeers: string[]
  /** The policies merged. */
  from: string[]
}

/**
 * What a user may set. intervalSec stops at a year (the offer lexicon's bound); retention starts
 * at one day (keeping only the head, 0, is for POLICY_FILE and offers, not a slip of the hand).
 * The renderer's form repeats these (`renderer/src/policy-view.ts`); the node
 * checks again (`./edit.ts`).
 */
export const POLICY_LIMITS = {
  intervalSec: { min: 60, max: 31_536_000 },
  minCopies: { min: 1, max: 64 },
  retentionDays: { min: 1, max: 36_500 },
  /** Most preferred peers one policy names. */
  preferredPeers: 64,
} as const

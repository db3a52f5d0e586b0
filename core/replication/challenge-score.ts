/**
 * Reliability of a peer from its challenge history, and the detection figure shown beside it.
 * Pure: history in, score and explanation out.
 */
import type { ChallengeFailure, ChallengeLevel } from './challenge.js'

/** One challenge as kept in the history. */
export interface ChallengeRecord {
  id: number
  peer: number
  did: string
  level: ChallengeLevel
  transport: 'libp2p' | 'http' | 'none'
  ok: boolean
  reason: ChallengeFailure | null
  message: string
  commit: string | null
  rev: string | null
  samples: number
  nonce: string
  durationMs: number
  /** Unix ms. */
  at: number
}

/** Where a peer stands. */
export type PeerHealth = 'unknown' | 'ok' | 'degraded' | 'failing'

/** A peer's reliability. */
export interface PeerScore {
  /** Share of the recent challenges passed, 0–1; null before any challenge. */
  score: number | null
  health: PeerHealth
  /** What failed, when and how often, in sentences a person can read. */
  explanation: string
  /** Challenges counted (the most recent {@link SCORE_WINDOW}). */
  considered: number
  passed: number
  /** Unix ms of the last challenge and of the last failure, or null. */
  lastAt: number | null
  lastFailureAt: number | null
}

/** Challenges the score looks at (most recent first). */
export const SCORE_WINDOW = 20

/**
 * Probability that at least one of `rounds` rounds of `k` samples each (with replacement, an
 * upper bound on the miss chance for sampling without replacement) hits a block the peer lost,
 * when it lost a fraction `f` of the blocks: 1 − (1 − f)^(k·rounds).
 */
export function detectionProbability(f: number, k: number, rounds = 1): number {
  if (f <= 0 || k <= 0 || rounds <= 0) return 0
  if (f >= 1) return 1
  return 1 - Math.pow(1 - f, k * rounds)
}

/**
 * The same for sampling without replacement from `n` blocks of which `lost` are gone (what a
 * round does): 1 − C(n−lost, k)/C(n, k) per round, over `rounds` independent rounds.
 */
export function detectionProbabilityExact(n: number, lost: number, k: number, rounds = 1): number {
  if (lost <= 0 || k <= 0 || n <= 0) return 0
  const kk = Math.min(k, n)
  if (lost > n - kk) return 1
  let miss = 1
  for (let i = 0; i < kk; i++) miss *= (n - lost - i) / (n - i)
  return 1 - Math.pow(miss, rounds)
}

const FAILURE_TEXT: Record<ChallengeFailure, string> = {
  unreachable: 'unreachable',
  refused: 'refused the challenge',
  late: 'answered after the deadline',
  malformed: 'sent a malformed answer',
  'wrong-challenge': 'answered another challenge (replayed answer)',
  'wrong-responder': 'sent an answer signed by another peer',
  'bad-signature': 'sent a badly signed answer',
  'missing-block': 'could not produce sampled blocks',
  'corrupt-block': 'produced blocks that do not match their CID',
  'bad-proof': 'could not prove sampled records',
}

/** Failures that say a peer was not available, not that it lost or faked data. */
const AVAILABILITY_FAILURES: ReadonlySet<ChallengeFailure> = new Set(['unreachable', 'late', 'refused'])

/** Scores a peer from its history (newest first). */
export function scorePeer(history: ChallengeRecord[], now: number): PeerScore {
  const recent = history.slice(0, SCORE_WINDOW)
  if (recent.length === 0) {
    return { score: null, health: 'unknown', explanation: 'Not challenged yet.', considered: 0, passed: 0, lastAt: null, lastFailureAt: null }
  }
  const passed = recent.filter((r) => r.ok).length
  const failures = recent.filter((r) => !r.ok)
  const score = passed / recent.length
  const last = recent[0]!
  const lastFailure = failures[0]
  // A failed proof (data lost, altered, or an answer that is not its own) does not heal by itself:
  // it keeps the peer failing for the whole window. Being unreachable, late or refusing degrades
  // it, and fails it when the last two challenges both failed.
  const proofFailures = failures.filter((r) => !AVAILABILITY_FAILURES.has(r.reason ?? 'malformed'))
  const lastTwoFailed = recent.length >= 2 && !recent[0]!.ok && !recent[1]!.ok
  const health: PeerHealth = proofFailures.length > 0 || lastTwoFailed ? 'failing' : failures.length > 0 ? 'degraded' : 'ok'
  const parts = [`Passed ${passed} of the last ${recent.length} challenges (since ${ago(recent.at(-1)!.at, now)}).`]
  if (lastFailure !== undefined) {
    const byReason = new Map<ChallengeFailure, number>()
    for (const f of failures) byReason.set(f.reason ?? 'malformed', (byReason.get(f.reason ?? 'malformed') ?? 0) + 1)
    const counts = [...byReason].map(([reason, n]) => `${FAILURE_TEXT[reason]} ${n === 1 ? 'once' : `${n} times`}`).join(', ')
    parts.push(`Failures: ${counts}.`)
    parts.push(`Last failure ${ago(lastFailure.at, now)} (${lastFailure.level}, ${lastFailure.did}): ${lastFailure.message}`)
  } else {
    parts.push(`Last challenge ${ago(last.at, now)}: ${last.message}`)
  }
  return { score, health, explanation: parts.join(' '), considered: recent.length, passed, lastAt: last.at, lastFailureAt: lastFailure?.at ?? null }
}

function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86_400)} d ago`
}

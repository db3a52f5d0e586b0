/** How policies read in the Policies panel (pure). */
import type { AgreementDto, EffectivePolicyDto, PolicyDto, PolicyUpdateDto } from '../../core/api.js'
import { formatDuration } from './format.js'

/** A merged or single interval: its period, or the node's default. */
export function intervalLabel(sec: number | null): string {
  return sec === null ? 'default (SYNC_INTERVAL_SEC)' : `every ${formatDuration(sec)}`
}

/** A retention in days, or "all history". */
export function retentionLabel(days: number | null): string {
  if (days === null) return 'all history'
  return days === 0 ? 'head only' : `${days} ${days === 1 ? 'day' : 'days'}`
}

/** minCopies, or "no opinion". */
export function copiesLabel(n: number | null): string {
  return n === null ? '-' : String(n)
}

/** Policies to show: purged ones are history and left out. */
export function shownPolicies<T extends Pick<AgreementDto, 'state'>>(policies: readonly T[]): T[] {
  return policies.filter((p) => p.state !== 'purged')
}

/** The fetch order in one line: preferred peers marked, or a plain sentence when no peer is known. */
export function fetchOrderLabel(e: Pick<EffectivePolicyDto, 'fetchOrder' | 'preferredPeers'>): string {
  if (e.fetchOrder.length === 0) return 'the PDS (no peer known)'
  return e.fetchOrder.map((id) => (e.preferredPeers.includes(id) ? `${id} (preferred)` : id)).join(', ') + ', then the PDS'
}

/** How an agreement's consent reads; one-way archives without consent say so plainly. */
export function consentLabel(a: Pick<AgreementDto, 'consent'>): string {
  switch (a.consent) {
    case 'reciprocal':
      return 'mutual offers'
    case 'consented':
      return 'consented (consent record)'
    case 'unconsented':
      return 'unconsented: public data archived without a consent record'
    case 'revoked':
      return 'withdrawn'
  }
}

// --- Editing a policy (the Edit form of the Policies panel) ------------------------------------

/**
 * What may be set, as the node checks it (`core/policy/types.ts` POLICY_LIMITS; the renderer
 * imports core only as types, so the numbers are repeated here). The node checks again.
 */
const LIMITS = {
  intervalMin: { min: 1, max: 525_600 },
  minCopies: { min: 1, max: 64 },
  retentionDays: { min: 1, max: 36_500 },
  preferredPeers: 64,
} as const

/** A policy the user may edit: config policies come from the node's configuration; purged ones are over. */
export function canEditPolicy(p: Pick<AgreementDto, 'type' | 'state'>): boolean {
  return p.type !== 'config' && p.state !== 'purged'
}

/** The Edit form's fields as typed: an empty number field means the node's default. */
export interface PolicyDraft {
  /** Minutes between syncs. */
  intervalMin: string
  minCopies: string
  retentionDays: string
  /** PeerIDs, separated by commas, spaces or new lines. */
  preferredPeers: string
}

/** The form's starting values, from the policy. */
export function policyDraft(p: Pick<PolicyDto, 'intervalSec' | 'minCopies' | 'retentionDays' | 'preferredPeers'>): PolicyDraft {
  return {
    intervalMin: p.intervalSec === null ? '' : String(Math.round((p.intervalSec / 60) * 100) / 100),
    minCopies: p.minCopies === null ? '' : String(p.minCopies),
    retentionDays: p.retentionDays === null ? '' : String(p.retentionDays),
    preferredPeers: p.preferredPeers.join(', '),
  }
}

/** Errors of the form, one sentence per field. */
export type PolicyDraftErrors = Partial<Record<keyof PolicyDraft, string>>

// base58btc (12D3KooW…, Qm…) or a CIDv1 in base32 (bafz…): the node parses it for real.
const PEER_ID_SHAPE = /^(?:[1-9A-HJ-NP-Za-km-z]{40,100}|b[a-z2-7]{50,120})$/

function parseCount(text: string, range: { min: number; max: number }, what: string, unit: string, decimals = false): { ok: true; value: number | null } | { ok: false; error: string } {
  const t = text.trim()
  if (t === '') return { ok: true, value: null }
  const value = (decimals ? /^\d+(?:\.\d+)?$/ : /^\d+$/).test(t) ? Number(t) : NaN
  if (!(value >= range.min && value <= range.max)) {
    return { ok: false, error: `${what} must be ${decimals ? 'a number' : 'a whole number'} of ${unit} from ${range.min} to ${range.max.toLocaleString('en-US')}, or empty for the default.` }
  }
  return { ok: true, value }
}

/** The PeerIDs typed, trimmed, without repeats. */
export function splitPeers(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((p) => p !== ''))]
}

/**
 * The `policies.update` input for what the form changed (only changed fields are sent, so a value
 * the form could not set itself, such as a retention of 0 from an offer, stays as it is), or the
 * errors to show beside the fields. `input` is null when nothing changed.
 */
export function policyUpdate(p: PolicyDto, draft: PolicyDraft): { input: PolicyUpdateDto | null; errors: PolicyDraftErrors } {
  const errors: PolicyDraftErrors = {}
  const input: PolicyUpdateDto = { id: p.id }
  const start = policyDraft(p)
  if (draft.intervalMin.trim() !== start.intervalMin) {
    const r = parseCount(draft.intervalMin, LIMITS.intervalMin, 'The sync interval', 'minutes', true)
    if (r.ok) input.intervalSec = r.value === null ? null : Math.round(r.value * 60)
    else errors.intervalMin = r.error
  }
  if (draft.minCopies.trim() !== start.minCopies) {
    const r = parseCount(draft.minCopies, LIMITS.minCopies, 'The copies wanted', 'copies')
    if (r.ok) input.minCopies = r.value
    else errors.minCopies = r.error
  }
  if (draft.retentionDays.trim() !== start.retentionDays) {
    const r = parseCount(draft.retentionDays, LIMITS.retentionDays, 'The history kept', 'days')
    if (r.ok) input.retentionDays = r.value
    else errors.retentionDays = r.error
  }
  const peers = splitPeers(draft.preferredPeers)
  if (peers.join(',') !== p.preferredPeers.join(',')) {
    const bad = peers.find((x) => !PEER_ID_SHAPE.test(x))
    if (peers.length > LIMITS.preferredPeers) errors.preferredPeers = `A policy names at most ${LIMITS.preferredPeers} preferred peers; ${peers.length} were given.`
    else if (bad !== undefined) errors.preferredPeers = `“${bad.length > 40 ? `${bad.slice(0, 40)}…` : bad}” does not look like a PeerID (such as 12D3KooW…); copy it from the peers on the Verification page.`
    else input.preferredPeers = peers
  }
  if (Object.keys(errors).length > 0) return { input: null, errors }
  return { input: Object.keys(input).length === 1 ? null : input, errors }
}

/** What a saved policy now sets, in one sentence. */
export function policySavedSentence(p: Pick<PolicyDto, 'did' | 'intervalSec' | 'minCopies' | 'retentionDays' | 'preferredPeers'>): string {
  const copies = p.minCopies === null ? 'no number of copies wanted' : `${p.minCopies} ${p.minCopies === 1 ? 'copy' : 'copies'} wanted`
  const peers = p.preferredPeers.length === 0 ? 'no preferred peer' : `${p.preferredPeers.length} preferred ${p.preferredPeers.length === 1 ? 'peer' : 'peers'}`
  return `Saved: syncs ${p.intervalSec === null ? 'at the default interval' : intervalLabel(p.intervalSec)}, keeps ${retentionLabel(p.retentionDays)}, ${copies}, ${peers}.`
}

/** How policies read in the Policies panel (pure). */
import type { AgreementDto, EffectivePolicyDto } from '../../core/api.js'
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

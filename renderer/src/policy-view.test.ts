import { describe, expect, it } from 'vitest'
import type { PolicyDto } from '../../core/api.js'
import { canEditPolicy, consentLabel, copiesLabel, fetchOrderLabel, intervalLabel, policyDraft, policySavedSentence, policyUpdate, retentionLabel, shownPolicies, splitPeers } from './policy-view.js'

describe('policy view', () => {
  it('labels merged fields, with the defaults spelt out', () => {
    expect(intervalLabel(null)).toBe('default (SYNC_INTERVAL_SEC)')
    expect(intervalLabel(600)).toMatch(/^every 10/)
    expect(retentionLabel(null)).toBe('all history')
    expect(retentionLabel(0)).toBe('head only')
    expect(retentionLabel(1)).toBe('1 day')
    expect(retentionLabel(30)).toBe('30 days')
    expect(copiesLabel(null)).toBe('-')
    expect(copiesLabel(3)).toBe('3')
  })

  it('leaves purged policies out and names the fetch order', () => {
    expect(shownPolicies([{ state: 'active' }, { state: 'purged' }, { state: 'terminated' }])).toEqual([{ state: 'active' }, { state: 'terminated' }])
    expect(fetchOrderLabel({ fetchOrder: [], preferredPeers: [] })).toBe('the PDS (no peer known)')
    expect(fetchOrderLabel({ fetchOrder: ['p1', 'x'], preferredPeers: ['p1'] })).toBe('p1 (preferred), x, then the PDS')
  })
})

describe('consent labels', () => {
  it('say plainly when an archive has no consent', () => {
    expect(consentLabel({ consent: 'unconsented' })).toContain('without a consent record')
    expect(consentLabel({ consent: 'reciprocal' })).toBe('mutual offers')
  })
})

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

function policy(over: Partial<PolicyDto> = {}): PolicyDto {
  return { id: 'archive:did:plc:b', type: 'archive', did: 'did:plc:b', localDid: null, state: 'active', consent: 'unconsented', intervalSec: null, minCopies: null, retentionDays: null, purgeAt: null, updatedAt: '2025-01-01T00:00:00.000Z', preferredPeers: [], ...over }
}

describe('editing a policy', () => {
  it('offers Edit for archives and agreements, not for config or purged policies', () => {
    expect(canEditPolicy({ type: 'archive', state: 'active' })).toBe(true)
    expect(canEditPolicy({ type: 'reciprocal', state: 'terminated' })).toBe(true)
    expect(canEditPolicy({ type: 'config', state: 'active' })).toBe(false)
    expect(canEditPolicy({ type: 'archive', state: 'purged' })).toBe(false)
  })

  it('starts from the policy, the interval in minutes, empty fields meaning the default', () => {
    expect(policyDraft(policy())).toEqual({ intervalMin: '', minCopies: '', retentionDays: '', preferredPeers: '' })
    expect(policyDraft(policy({ intervalSec: 600, minCopies: 2, retentionDays: 30, preferredPeers: [PEER, 'x'] }))).toEqual({ intervalMin: '10', minCopies: '2', retentionDays: '30', preferredPeers: `${PEER}, x` })
    expect(policyDraft(policy({ intervalSec: 90 })).intervalMin).toBe('1.5')
  })

  it('sends only what changed, in seconds; an emptied field clears it; nothing changed sends nothing', () => {
    const p = policy({ intervalSec: 600, retentionDays: 0 })
    expect(policyUpdate(p, policyDraft(p))).toEqual({ input: null, errors: {} })
    expect(policyUpdate(p, { ...policyDraft(p), intervalMin: ' 1.5 ' })).toEqual({ input: { id: p.id, intervalSec: 90 }, errors: {} })
    expect(policyUpdate(p, { ...policyDraft(p), intervalMin: '' }).input).toEqual({ id: p.id, intervalSec: null })
    // A retention of 0 (from an offer) cannot be typed here, but stays when another field changes.
    expect(policyUpdate(p, { ...policyDraft(p), minCopies: '3' }).input).toEqual({ id: p.id, minCopies: 3 })
    expect(policyUpdate(p, { ...policyDraft(p), preferredPeers: `${PEER},\n${PEER} ` }).input).toEqual({ id: p.id, preferredPeers: [PEER] })
    expect(policyUpdate(policy({ preferredPeers: [PEER] }), { ...policyDraft(p), intervalMin: '10', retentionDays: '0', preferredPeers: '' }).input).toBeNull()
  })

  it('says what is wrong with each field, in a sentence, and sends nothing', () => {
    const p = policy()
    const r = policyUpdate(p, { intervalMin: '0.5', minCopies: '65', retentionDays: 'ten', preferredPeers: 'not-a-peer' })
    expect(r.input).toBeNull()
    expect(r.errors.intervalMin).toBe('The sync interval must be a number of minutes from 1 to 525,600, or empty for the default.')
    expect(r.errors.minCopies).toBe('The copies wanted must be a whole number of copies from 1 to 64, or empty for the default.')
    expect(r.errors.retentionDays).toMatch(/^The history kept must be a whole number of days from 1 to 36,500/)
    expect(r.errors.preferredPeers).toMatch(/^“not-a-peer” does not look like a PeerID/)
    expect(policyUpdate(p, { ...policyDraft(p), preferredPeers: Array.from({ length: 65 }, (_, i) => `${PEER.slice(0, -2)}${String(i).padStart(2, '0')}`).join(',') }).errors.preferredPeers).toMatch(/at most 64/)
    expect(splitPeers(' a, b\nb  c ')).toEqual(['a', 'b', 'c'])
  })

  it('says what a saved policy sets', () => {
    expect(policySavedSentence(policy())).toBe('Saved: syncs at the default interval, keeps all history, no number of copies wanted, no preferred peer.')
    expect(policySavedSentence(policy({ intervalSec: 600, retentionDays: 1, minCopies: 1, preferredPeers: [PEER] }))).toMatch(/^Saved: syncs every 10 .*, keeps 1 day, 1 copy wanted, 1 preferred peer\.$/)
  })
})

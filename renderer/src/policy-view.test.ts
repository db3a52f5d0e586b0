import { describe, expect, it } from 'vitest'
import { consentLabel, copiesLabel, fetchOrderLabel, intervalLabel, retentionLabel, shownPolicies } from './policy-view.js'

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

import { describe, expect, it } from 'vitest'
import { holdingCell, parseMembers } from './group-view.js'

describe('group view', () => {
  it('splits typed members on commas, spaces and lines', () => {
    expect(parseMembers(' alice.test, bob.test\ndid:plc:x  ,, ')).toEqual(['alice.test', 'bob.test', 'did:plc:x'])
    expect(parseMembers('  ')).toEqual([])
  })

  it('fills the who-holds-whom grid from what the node knows', () => {
    const g = { holdings: [{ holder: 'a', subject: 'b', status: 'verified' as const }, { holder: 'b', subject: 'a', status: 'promised' as const }] }
    expect(holdingCell(g, 'a', 'a')).toBe('—')
    expect(holdingCell(g, 'a', 'b')).toBe('verified')
    expect(holdingCell(g, 'b', 'a')).toBe('promised (agreement)')
    expect(holdingCell(g, 'b', 'c')).toBe('?')
  })
})

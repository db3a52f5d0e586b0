import { describe, expect, it } from 'vitest'
import { actingDid, actingStore, asInput } from './acting-account.js'

const A = { did: 'did:plc:alice' }
const B = { did: 'did:plc:bob' }

describe('the acting account', () => {
  it('is the chosen one while logged in, else the first login, else none', () => {
    expect(actingDid([A, B], B.did)).toBe(B.did)
    expect(actingDid([A, B], null)).toBe(A.did)
    expect(actingDid([A], B.did)).toBe(A.did) // chosen one logged out
    expect(actingDid([], A.did)).toBeNull()
  })

  it('names itself (as) only when several accounts are logged in', () => {
    expect(asInput([A, B], B.did)).toEqual({ as: B.did })
    expect(asInput([A], A.did)).toEqual({})
    expect(asInput([], null)).toEqual({})
  })

  it('the switcher keeps the choice', () => {
    actingStore.getState().choose(B.did)
    expect(actingStore.getState().chosen).toBe(B.did)
  })
})

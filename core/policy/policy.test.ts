import { describe, expect, it } from 'vitest'
import { archivePolicy, dataSafety, duePurges, editPolicy, effectivePolicies, holdingOf, isPeerId, orderByPreference, retentionCutoff, mergePolicies, parsePolicyFile, reconcilePair, replicateDidsPolicies, stillHeld, transition, TRANSITIONS, type Policy, type PolicyState } from './index.js'

const A = 'did:plc:alice'
const B = 'did:plc:bob'

function policy(p: Partial<Policy> & Pick<Policy, 'id'>): Policy {
  return { type: 'archive', did: B, localDid: null, state: 'active', consent: 'unconsented', minCopies: null, intervalSec: null, retentionDays: null, preferredPeers: [], purgeAt: null, createdAt: 0, updatedAt: 0, ...p }
}

describe('lifecycle', () => {
  it('allows exactly the listed steps and refuses the others, leaving the policy as it was', () => {
    const states = Object.keys(TRANSITIONS) as PolicyState[]
    for (const from of states) {
      for (const to of states) {
        const p = policy({ id: 'x', state: from })
        if (TRANSITIONS[from].includes(to)) expect(transition(p, to, 5).state).toBe(to)
        else {
          expect(() => transition(p, to, 5)).toThrow(expect.objectContaining({ code: 'ERR_POLICY' }))
          expect(p.state).toBe(from)
        }
      }
    }
    expect(() => transition(policy({ id: 'x', state: 'purged' }), 'active', 1)).toThrow(/is purged; it cannot become active/)
  })

  it('sets the purge time on termination and clears it on re-activation', () => {
    const t = transition(policy({ id: 'x' }), 'terminated', 1000, 500)
    expect(t.purgeAt).toBe(1500)
    expect(transition(t, 'active', 1200).purgeAt).toBeNull()
  })
})

describe('merge rules', () => {
  it('takes max(minCopies), min(intervalSec), max(retention), union(preferredPeers) over active policies', () => {
    const ps = [
      policy({ id: 'a', minCopies: 2, intervalSec: 3600, retentionDays: 7, preferredPeers: ['p1', 'p2'] }),
      policy({ id: 'b', minCopies: 3, intervalSec: 600, retentionDays: null, preferredPeers: ['p2', 'p3'] }),
      policy({ id: 'c', minCopies: 9, intervalSec: 60, retentionDays: 999, state: 'terminated' }),
      policy({ id: 'd', did: A, intervalSec: 10 }),
    ]
    expect(mergePolicies(B, ps)).toEqual({ did: B, minCopies: 3, intervalSec: 600, retentionDays: 7, preferredPeers: ['p1', 'p2', 'p3'], from: ['a', 'b'] })
    expect(mergePolicies('did:plc:none', ps)).toBeNull()
    expect(effectivePolicies(ps).map((e) => e.did).sort()).toEqual([A, B].sort())
  })
})

describe('agreements from offers', () => {
  it('mutual offers make an active reciprocal policy; a withdrawn offer terminates it with a purge time', () => {
    const made = reconcilePair({ localDid: A, did: B, offered: true, offeredBack: true, params: { intervalSec: 900 } }, undefined, 10, 100)!
    expect(made).toMatchObject({ id: `reciprocal:${A}:${B}`, type: 'reciprocal', state: 'active', consent: 'reciprocal', intervalSec: 900 })
    expect(reconcilePair({ localDid: A, did: B, offered: true, offeredBack: true }, made, 20, 100)).toBeNull()
    const dissolved = reconcilePair({ localDid: A, did: B, offered: true, offeredBack: false }, made, 30, 100)!
    expect(dissolved).toMatchObject({ state: 'terminated', consent: 'revoked', purgeAt: 130 })
    expect(duePurges([dissolved], 129)).toEqual([])
    expect(duePurges([dissolved], 130)).toEqual([dissolved])
    // Formed again before the purge: active again, purge cancelled.
    expect(reconcilePair({ localDid: A, did: B, offered: true, offeredBack: true }, dissolved, 40, 100)).toMatchObject({ state: 'active', purgeAt: null, consent: 'reciprocal' })
    // One-sided offers make nothing.
    expect(reconcilePair({ localDid: A, did: B, offered: true, offeredBack: false }, undefined, 10, 100)).toBeNull()
  })

  it('keeps data another policy still holds', () => {
    const ps = [policy({ id: 'r', type: 'reciprocal', state: 'terminated' }), policy({ id: 'arch' })]
    expect(stillHeld(ps, B, 'r')).toBe(true)
    expect(stillHeld(ps, B, 'arch')).toBe(false)
  })
})

describe('config policies', () => {
  it('reads POLICY_FILE and REPLICATE_DIDS into active config policies', () => {
    const ps = parsePolicyFile(JSON.stringify({ policies: [{ did: B, intervalSec: 600, preferredPeers: ['p'] }] }), 'p.json', 5)
    expect(ps).toEqual([expect.objectContaining({ id: `config:${B}`, type: 'config', state: 'active', intervalSec: 600, preferredPeers: ['p'] })])
    expect(replicateDidsPolicies([A], 5)[0]).toMatchObject({ id: `config:${A}`, did: A, type: 'config' })
  })

  it('refuses a bad POLICY_FILE with one line naming the place', () => {
    expect(() => parsePolicyFile('{', 'p.json', 0)).toThrow(/^POLICY_FILE p\.json is not valid JSON/)
    expect(() => parsePolicyFile(JSON.stringify({ policies: [{ did: 'nope' }] }), 'p.json', 0)).toThrow('POLICY_FILE p.json: policies.0.did: not a valid DID.')
    expect(() => parsePolicyFile(JSON.stringify({ policies: [{ did: B, intervalSec: 5 }] }), 'p.json', 0)).toThrow(/policies\.0\.intervalSec/)
    expect(() => parsePolicyFile(JSON.stringify({ policies: [{ did: B, colour: 'red' }] }), 'p.json', 0)).toThrow(/colour/)
  })
})

describe('what merged policies mean for the node', () => {
  it('names why a DID is held: active before ended, reciprocal before config before archive', () => {
    const ps = [
      policy({ id: 'arch', consent: 'consented' }),
      policy({ id: 'cfg', type: 'config' }),
      policy({ id: 'r', type: 'reciprocal', consent: 'revoked', state: 'terminated' }),
    ]
    expect(holdingOf(ps, B)).toEqual({ kind: 'config', consent: 'unconsented', state: 'active' })
    expect(holdingOf(ps.filter((p) => p.id !== 'cfg'), B)).toEqual({ kind: 'archive', consent: 'consented', state: 'active' })
    expect(holdingOf([policy({ id: 'r', type: 'reciprocal', consent: 'reciprocal' }), ...ps], B)?.kind).toBe('reciprocal')
    expect(holdingOf([ps[2]!], B)).toEqual({ kind: 'reciprocal', consent: 'revoked', state: 'terminated' })
    expect(holdingOf([policy({ id: 'p', state: 'purged' })], B)).toBeNull()
  })

  it('an archive policy of an account added by hand keeps what the earlier one had', () => {
    const first = archivePolicy(B, 10, 'unconsented')
    expect(first).toMatchObject({ id: `archive:${B}`, type: 'archive', state: 'active', consent: 'unconsented', createdAt: 10, purgeAt: null })
    const again = archivePolicy(B, 20, 'consented', { ...first, state: 'purged', retentionDays: 3, preferredPeers: ['p'] })
    expect(again).toMatchObject({ state: 'active', consent: 'consented', createdAt: 10, updatedAt: 20, retentionDays: 3, preferredPeers: ['p'] })
  })

  it('retention: commits stored longer ago than retentionDays go, the head always stays', () => {
    const day = 86_400_000
    const now = 100 * day
    const commits = [
      { rev: 'r4', seenAt: now - day },
      { rev: 'r3', seenAt: now - 5 * day },
      { rev: 'r2', seenAt: now - 20 * day },
      { rev: 'r1', seenAt: now - 40 * day },
    ]
    expect(retentionCutoff(commits, now, null)).toBeNull()
    expect(retentionCutoff(commits, now, 60)).toBeNull()
    expect(retentionCutoff(commits, now, 30)).toBe('r2')
    expect(retentionCutoff(commits, now, 7)).toBe('r3')
    // Nothing recent: only the head stays.
    expect(retentionCutoff(commits.slice(1), now, 1)).toBe('r3')
    expect(retentionCutoff([commits[3]!], now, 1)).toBeNull()
  })

  it('"is my data safe?" counts verified peers once challenged, else agreements, and says which', () => {
    expect(dataSafety({ did: A, wanted: null, verifiedPeers: 0, challenged: false, agreements: 0 })).toMatchObject({ wanted: 1, copies: 0, basis: 'agreements', safe: false })
    const promised = dataSafety({ did: A, wanted: 2, verifiedPeers: 0, challenged: false, agreements: 2 })
    expect(promised).toMatchObject({ copies: 2, basis: 'agreements', safe: true })
    expect(promised.sentence).toContain('not yet verified')
    expect(dataSafety({ did: A, wanted: 2, verifiedPeers: 1, challenged: true, agreements: 3 })).toMatchObject({ copies: 1, basis: 'challenges', safe: false, sentence: '1 peer holds a verified copy (1 of 2 wanted).' })
  })

  it('orders peers for fetching: preferred first in their order, the rest as given', () => {
    const peers = [{ id: 'x' }, { id: 'p2' }, { id: null }, { id: 'p1' }, { id: 'y' }]
    expect(orderByPreference(peers, ['p1', 'p2', 'absent'], (p) => p.id).map((p) => p.id)).toEqual(['p1', 'p2', 'x', null, 'y'])
    expect(orderByPreference(peers, [], (p) => p.id)).toEqual(peers)
  })
})

describe('editing a policy', () => {
  const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
  const LEGACY = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'

  it('sets the fields given, clears those given as null, keeps the others, and moves updatedAt', () => {
    const p = policy({ id: 'archive:b', intervalSec: 600, minCopies: 2, retentionDays: 0, preferredPeers: [LEGACY] })
    expect(editPolicy(p, { intervalSec: 3600, minCopies: null }, 9)).toEqual({ ...p, intervalSec: 3600, minCopies: null, updatedAt: 9 })
    expect(editPolicy(p, { preferredPeers: [` ${PEER}`, PEER, LEGACY] }, 9).preferredPeers).toEqual([PEER, LEGACY])
    expect(editPolicy(p, { preferredPeers: [] }, 9).preferredPeers).toEqual([])
    expect(editPolicy(policy({ id: 'r', type: 'reciprocal', state: 'terminated' }), { retentionDays: 30 }, 9).retentionDays).toBe(30)
    expect(isPeerId(PEER)).toBe(true)
    expect(isPeerId('12D3KooWPreferred')).toBe(false)
  })

  it('refuses values out of range, a bad PeerID, config and purged policies with a sentence, leaving the policy as it was', () => {
    const p = policy({ id: 'archive:b', intervalSec: 600 })
    const refused = (changes: Parameters<typeof editPolicy>[1], code: string, message: RegExp) => expect(() => editPolicy(p, changes, 9)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }))
    refused({ intervalSec: 59 }, 'ERR_INVALID_INPUT', /^The sync interval must be a whole number from 60 to 31536000 seconds; 59 is not\.$/)
    refused({ intervalSec: 600.5 }, 'ERR_INVALID_INPUT', /from 60 to/)
    refused({ minCopies: 0 }, 'ERR_INVALID_INPUT', /copies wanted must be a whole number from 1 to 64 copies/)
    refused({ minCopies: 65 }, 'ERR_INVALID_INPUT', /from 1 to 64/)
    refused({ retentionDays: 0 }, 'ERR_INVALID_INPUT', /history kept must be a whole number from 1 to 36500 days/)
    refused({ retentionDays: 36_501 }, 'ERR_INVALID_INPUT', /36500/)
    refused({ preferredPeers: ['12D3KooWPreferred'] }, 'ERR_INVALID_INPUT', /^"12D3KooWPreferred" is not a libp2p PeerID/)
    refused({ preferredPeers: Array.from({ length: 65 }, (_, i) => `p${i}`) }, 'ERR_INVALID_INPUT', /at most 64 preferred peers; 65 were given/)
    expect(p.intervalSec).toBe(600)
    expect(() => editPolicy(policy({ id: 'config:b', type: 'config' }), { intervalSec: 600 }, 9)).toThrow(expect.objectContaining({ code: 'ERR_POLICY', message: expect.stringMatching(/comes from the node's configuration \(REPLICATE_DIDS or POLICY_FILE\); change it there/) }))
    expect(() => editPolicy(policy({ id: 'archive:b', state: 'purged' }), { intervalSec: 600 }, 9)).toThrow(expect.objectContaining({ code: 'ERR_POLICY' }))
  })
})

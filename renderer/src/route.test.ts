import { describe, expect, it } from 'vitest'
import { HOME, PAGES, accountHref, accountsView, hrefFor, hrefWithQuery, parseRoute, recordsHref } from './route.js'

describe('parseRoute', () => {
  it('reads the page from a #/ fragment', () => {
    expect(parseRoute('#/accounts')).toEqual({ page: 'accounts', params: [], query: {} })
    expect(parseRoute('#/settings/')).toEqual({ page: 'settings', params: [], query: {} })
  })

  it('decodes the segments after the page', () => {
    expect(parseRoute('#/accounts/did%3Aplc%3Aabc/blobs')).toEqual({ page: 'accounts', params: ['did:plc:abc', 'blobs'], query: {} })
  })

  it('ignores fragments that are not routes, such as the browser-mode secret', () => {
    expect(parseRoute('#secret=abc123')).toBeNull()
    expect(parseRoute('#accounts')).toBeNull()
  })

  it('treats no fragment, #/ and unknown pages as home', () => {
    expect(parseRoute('')).toEqual({ page: HOME, params: [], query: {} })
    expect(parseRoute('#')).toEqual({ page: HOME, params: [], query: {} })
    expect(parseRoute('#/')).toEqual({ page: HOME, params: [], query: {} })
    expect(parseRoute('#/no-such-page')).toEqual({ page: HOME, params: [], query: {} })
  })

  it('reads a query after the path, and drops a nested fragment', () => {
    expect(parseRoute('#/offers?x=1')).toEqual({ page: 'offers', params: [], query: { x: '1' } })
    expect(parseRoute('#/accounts/a/records?rev=3l2a&x=a%3Ab+c&rev=2&flag#frag')).toEqual({
      page: 'accounts',
      params: ['a', 'records'],
      query: { rev: '3l2a', x: 'a:b c', flag: '' },
    })
    expect(parseRoute('#/offers#x?y=1')).toEqual({ page: 'offers', params: [], query: {} })
  })

  it('keeps a malformed escape as written', () => {
    expect(parseRoute('#/accounts/%E0%A4%A')).toEqual({ page: 'accounts', params: ['%E0%A4%A'], query: {} })
  })
})

describe('hrefFor', () => {
  it('round-trips through parseRoute for every page', () => {
    for (const page of PAGES) expect(parseRoute(hrefFor(page))).toEqual({ page, params: [], query: {} })
    expect(parseRoute(hrefFor('accounts', 'did:web:a/b'))).toEqual({ page: 'accounts', params: ['did:web:a/b'], query: {} })
  })
})

describe('accountsView', () => {
  const view = (hash: string) => accountsView(parseRoute(hash)!)

  it('is the list without a DID', () => {
    expect(view('#/accounts')).toEqual({ view: 'list' })
    expect(view('#/accounts/')).toEqual({ view: 'list' })
  })

  it('reads a DID with its colons, encoded or not', () => {
    expect(view('#/accounts/did%3Aplc%3Aabc')).toEqual({ view: 'account', did: 'did:plc:abc' })
    expect(view('#/accounts/did:plc:abc')).toEqual({ view: 'account', did: 'did:plc:abc' })
    expect(view('#/accounts/did:plc:abc/unknown')).toEqual({ view: 'account', did: 'did:plc:abc' })
  })

  it('reads the record browser at the head or at a rev', () => {
    expect(view('#/accounts/did%3Aplc%3Aabc/records')).toEqual({ view: 'records', did: 'did:plc:abc', collection: null, rkey: null, rev: null })
    expect(view('#/accounts/did%3Aplc%3Aabc/records/app.bsky.feed.post?rev=3kabc')).toEqual({
      view: 'records',
      did: 'did:plc:abc',
      collection: 'app.bsky.feed.post',
      rkey: null,
      rev: '3kabc',
    })
    expect(view('#/accounts/did%3Aplc%3Aabc/records/app.bsky.actor.profile/self?rev=')).toEqual({
      view: 'records',
      did: 'did:plc:abc',
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      rev: null,
    })
  })

  it('round-trips DIDs and record keys that need escaping', () => {
    // did:web with a port keeps its own %3A; a record key may hold ':' and '~'.
    const at = { did: 'did:web:localhost%3A2583', collection: 'com.example.thing', rkey: 'a:b~c.d_e-f', rev: '3l2abcdef2222' }
    expect(view(recordsHref(at))).toEqual({ view: 'records', ...at })
    expect(view(accountHref(at.did))).toEqual({ view: 'account', did: at.did })
    expect(accountHref('did:plc:abc')).toBe('#/accounts/did%3Aplc%3Aabc')
  })

  it('builds record-browser links, leaving out what is not given', () => {
    expect(recordsHref({ did: 'did:plc:a' })).toBe('#/accounts/did%3Aplc%3Aa/records')
    expect(recordsHref({ did: 'did:plc:a', rkey: 'x' })).toBe('#/accounts/did%3Aplc%3Aa/records')
    expect(recordsHref({ did: 'did:plc:a', collection: 'app.bsky.feed.like', rev: null })).toBe('#/accounts/did%3Aplc%3Aa/records/app.bsky.feed.like')
    expect(recordsHref({ did: 'did:plc:a', collection: 'app.bsky.feed.like', rkey: '3k', rev: '3m' })).toBe(
      '#/accounts/did%3Aplc%3Aa/records/app.bsky.feed.like/3k?rev=3m',
    )
  })
})

describe('hrefWithQuery', () => {
  it('encodes values and skips missing ones', () => {
    expect(hrefWithQuery('#/x', { a: 'b c&d', b: null, c: undefined })).toBe('#/x?a=b%20c%26d')
    expect(hrefWithQuery('#/x', {})).toBe('#/x')
  })
})

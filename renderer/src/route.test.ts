import { describe, expect, it } from 'vitest'
import { HOME, PAGES, hrefFor, parseRoute } from './route.js'

describe('parseRoute', () => {
  it('reads the page from a #/ fragment', () => {
    expect(parseRoute('#/accounts')).toEqual({ page: 'accounts', params: [] })
    expect(parseRoute('#/settings/')).toEqual({ page: 'settings', params: [] })
  })

  it('decodes the segments after the page', () => {
    expect(parseRoute('#/accounts/did%3Aplc%3Aabc/blobs')).toEqual({ page: 'accounts', params: ['did:plc:abc', 'blobs'] })
  })

  it('ignores fragments that are not routes, such as the browser-mode secret', () => {
    expect(parseRoute('#secret=abc123')).toBeNull()
    expect(parseRoute('#accounts')).toBeNull()
  })

  it('treats no fragment, #/ and unknown pages as home', () => {
    expect(parseRoute('')).toEqual({ page: HOME, params: [] })
    expect(parseRoute('#')).toEqual({ page: HOME, params: [] })
    expect(parseRoute('#/')).toEqual({ page: HOME, params: [] })
    expect(parseRoute('#/no-such-page')).toEqual({ page: HOME, params: [] })
  })

  it('drops a query or nested fragment after the path', () => {
    expect(parseRoute('#/offers?x=1')).toEqual({ page: 'offers', params: [] })
  })

  it('keeps a malformed escape as written', () => {
    expect(parseRoute('#/accounts/%E0%A4%A')).toEqual({ page: 'accounts', params: ['%E0%A4%A'] })
  })
})

describe('hrefFor', () => {
  it('round-trips through parseRoute for every page', () => {
    for (const page of PAGES) expect(parseRoute(hrefFor(page))).toEqual({ page, params: [] })
    expect(parseRoute(hrefFor('accounts', 'did:web:a/b'))).toEqual({ page: 'accounts', params: ['did:web:a/b'] })
  })
})

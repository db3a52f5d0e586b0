import { describe, expect, it } from 'vitest'
import { atUriHref, isDid, parseAtUri } from './at-uri.js'

describe('parseAtUri', () => {
  it('reads a record URI', () => {
    expect(parseAtUri('at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jwdwj2ctlk26')).toEqual({
      authority: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
      collection: 'app.bsky.feed.post',
      rkey: '3jwdwj2ctlk26',
    })
  })

  it('reads shorter URIs and handle authorities', () => {
    expect(parseAtUri('at://alice.test')).toEqual({ authority: 'alice.test', collection: null, rkey: null })
    expect(parseAtUri('at://did:web:example.com%3A8080/app.bsky.actor.profile')).toEqual({
      authority: 'did:web:example.com%3A8080',
      collection: 'app.bsky.actor.profile',
      rkey: null,
    })
    expect(parseAtUri('at://did:plc:abc/app.bsky.feed.post/3k#frag')).toMatchObject({ rkey: '3k' })
  })

  it('refuses what is not an AT-URI', () => {
    expect(parseAtUri('https://bsky.app/profile/alice')).toBeNull()
    expect(parseAtUri('at://')).toBeNull()
    expect(parseAtUri('at://did:plc:abc/a/b/c')).toBeNull()
    expect(parseAtUri('at://not a host/x')).toBeNull()
    expect(parseAtUri(42 as unknown as string)).toBeNull()
  })
})

describe('isDid', () => {
  it('accepts DIDs and refuses other strings', () => {
    expect(isDid('did:plc:abc123')).toBe(true)
    expect(isDid('did:web:example.com%3A8080')).toBe(true)
    expect(isDid('alice.test')).toBe(false)
    expect(isDid('did:plc:')).toBe(false)
    expect(isDid(null)).toBe(false)
  })
})

describe('atUriHref', () => {
  const at = { did: 'did:plc:me', rev: '3lrev', holds: (d: string) => d === 'did:plc:held' }

  it('links records of the browsed account at the same rev', () => {
    expect(atUriHref('at://did:plc:me/app.bsky.feed.post/3k', at)).toBe('#/accounts/did%3Aplc%3Ame/records/app.bsky.feed.post/3k?rev=3lrev')
    expect(atUriHref('at://did:plc:me', at)).toBe('#/accounts/did%3Aplc%3Ame/records?rev=3lrev')
  })

  it('links records of other held accounts at their head', () => {
    expect(atUriHref('at://did:plc:held/app.bsky.feed.post/3k', at)).toBe('#/accounts/did%3Aplc%3Aheld/records/app.bsky.feed.post/3k')
    expect(atUriHref('at://did:plc:held', at)).toBe('#/accounts/did%3Aplc%3Aheld')
  })

  it('does not link accounts the node does not hold, handles, or non-URIs', () => {
    expect(atUriHref('at://did:plc:other/app.bsky.feed.post/3k', at)).toBeNull()
    expect(atUriHref('at://alice.test/app.bsky.feed.post/3k', at)).toBeNull()
    expect(atUriHref('https://example.com', at)).toBeNull()
  })
})

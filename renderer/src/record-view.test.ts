import { describe, expect, it } from 'vitest'
import {
  base64ToBytes,
  blobRefOf,
  collectionLabel,
  genericFields,
  isNotStored,
  postView,
  prettyJson,
  profileView,
  recordKind,
  recordNoun,
  recordSummary,
  subjectOf,
} from './record-view.js'

const CID_A = 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy'
const CID_B = 'bafkreiaqdqdzwo4vkxzwkjchsitotdyihyvuxckzcqxcmvqycpfs6ru4ki'
const DID = 'did:plc:ragtjsm2j2vknwkz3zp4oxrd'

const blob = (cid: string, mimeType = 'image/jpeg', size = 1234) => ({ $type: 'blob', ref: { $link: cid }, mimeType, size })

describe('blobRefOf', () => {
  it('reads current and legacy blob references', () => {
    expect(blobRefOf(blob(CID_A))).toEqual({ cid: CID_A, mimeType: 'image/jpeg', size: 1234 })
    expect(blobRefOf({ cid: CID_B, mimeType: 'image/png' })).toEqual({ cid: CID_B, mimeType: 'image/png', size: null })
  })

  it('returns null for anything else', () => {
    expect(blobRefOf(null)).toBeNull()
    expect(blobRefOf('x')).toBeNull()
    expect(blobRefOf({ ref: {} })).toBeNull()
    expect(blobRefOf({ ref: { $link: '' } })).toBeNull()
  })
})

describe('postView', () => {
  it('reads text, time, languages and images with alt text', () => {
    const p = postView({
      $type: 'app.bsky.feed.post',
      text: 'Sunset at the lake',
      createdAt: '2024-05-01T18:30:00.000Z',
      langs: ['en', 'de', 7],
      embed: {
        $type: 'app.bsky.embed.images',
        images: [
          { image: blob(CID_A), alt: 'Orange sky over water', aspectRatio: { width: 4, height: 3 } },
          { image: { cid: CID_B, mimeType: 'image/png' }, alt: '' },
          'garbage',
        ],
      },
    })
    expect(p).toEqual({
      text: 'Sunset at the lake',
      createdAt: '2024-05-01T18:30:00.000Z',
      langs: ['en', 'de'],
      images: [
        { blob: { cid: CID_A, mimeType: 'image/jpeg', size: 1234 }, alt: 'Orange sky over water', aspectRatio: { width: 4, height: 3 } },
        { blob: { cid: CID_B, mimeType: 'image/png', size: null }, alt: '', aspectRatio: null },
      ],
      reply: null,
      quote: null,
      external: null,
      hasVideo: false,
    })
  })

  it('reads a reply with its parent and root', () => {
    const p = postView({
      text: 'Agreed',
      reply: {
        root: { uri: `at://${DID}/app.bsky.feed.post/3kroot`, cid: CID_A },
        parent: { uri: `at://${DID}/app.bsky.feed.post/3kparent`, cid: CID_B },
      },
    })
    expect(p.reply).toEqual({ parent: `at://${DID}/app.bsky.feed.post/3kparent`, root: `at://${DID}/app.bsky.feed.post/3kroot` })
    expect(postView({ reply: { parent: { uri: 'at://x/y/z' } } }).reply).toEqual({ parent: 'at://x/y/z', root: 'at://x/y/z' })
  })

  it('reads images and the quote of a record with media, and link cards', () => {
    const p = postView({
      text: 'Look',
      embed: {
        $type: 'app.bsky.embed.recordWithMedia',
        record: { $type: 'app.bsky.embed.record', record: { uri: 'at://did:plc:other/app.bsky.feed.post/3q', cid: CID_A } },
        media: { $type: 'app.bsky.embed.images', images: [{ image: blob(CID_B), alt: 'A cat' }] },
      },
    })
    expect(p.quote).toBe('at://did:plc:other/app.bsky.feed.post/3q')
    expect(p.images.map((i) => i.alt)).toEqual(['A cat'])

    expect(postView({ embed: { $type: 'app.bsky.embed.record', record: { uri: 'at://a/b/c' } } }).quote).toBe('at://a/b/c')
    expect(postView({ embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com', title: 'Example' } } }).external).toEqual({
      uri: 'https://example.com',
      title: 'Example',
      description: '',
    })
    expect(postView({ embed: { $type: 'app.bsky.embed.video', video: blob(CID_A, 'video/mp4') } }).hasVideo).toBe(true)
  })

  it('survives missing and mistyped fields', () => {
    expect(postView({ text: 5, langs: 'en', embed: { $type: 'app.bsky.embed.images', images: 'no' }, reply: 'x' })).toEqual({
      text: '',
      createdAt: null,
      langs: [],
      images: [],
      reply: null,
      quote: null,
      external: null,
      hasVideo: false,
    })
  })
})

describe('profileView', () => {
  it('reads name, description, avatar and banner', () => {
    expect(
      profileView({
        $type: 'app.bsky.actor.profile',
        displayName: 'Alice',
        description: 'Photos and walks',
        avatar: blob(CID_A, 'image/png'),
        banner: blob(CID_B),
        pinnedPost: { uri: 'at://did:plc:a/app.bsky.feed.post/1', cid: CID_A },
      }),
    ).toEqual({
      displayName: 'Alice',
      description: 'Photos and walks',
      avatar: { cid: CID_A, mimeType: 'image/png', size: 1234 },
      banner: { cid: CID_B, mimeType: 'image/jpeg', size: 1234 },
      createdAt: null,
      pinnedPost: 'at://did:plc:a/app.bsky.feed.post/1',
    })
    expect(profileView({})).toEqual({ displayName: '', description: '', avatar: null, banner: null, createdAt: null, pinnedPost: null })
  })
})

describe('subjectOf and recordKind', () => {
  it('reads a follow subject as a DID and a like subject as a URI', () => {
    expect(subjectOf({ $type: 'app.bsky.graph.follow', subject: DID })).toEqual({ kind: 'did', did: DID })
    expect(subjectOf({ $type: 'app.bsky.feed.like', subject: { uri: 'at://did:plc:b/app.bsky.feed.post/3', cid: CID_A } })).toEqual({
      kind: 'uri',
      uri: 'at://did:plc:b/app.bsky.feed.post/3',
      cid: CID_A,
    })
    expect(subjectOf({ subject: 3 })).toBeNull()
  })

  it('names kinds from $type', () => {
    expect(recordKind({ $type: 'app.bsky.feed.post' })).toBe('post')
    expect(recordKind({ $type: 'app.bsky.actor.profile' })).toBe('profile')
    expect(recordKind({ $type: 'app.bsky.graph.follow' })).toBe('follow')
    expect(recordKind({ $type: 'app.bsky.feed.like' })).toBe('like')
    expect(recordKind({ $type: 'com.example.thing' })).toBe('other')
    expect(recordKind({})).toBe('other')
  })
})

describe('recordSummary', () => {
  const of = (value: Record<string, unknown>, collection = String(value.$type)) => recordSummary({ value, collection }, 20)

  it('summarises each kind in one line', () => {
    expect(of({ $type: 'app.bsky.feed.post', text: 'Hello\n\nworld', createdAt: '2024-01-01T00:00:00Z' })).toEqual({
      text: 'Hello world',
      createdAt: '2024-01-01T00:00:00Z',
    })
    expect(of({ $type: 'app.bsky.feed.post', text: 'A long post that goes on and on' }).text).toBe('A long post that go…')
    expect(of({ $type: 'app.bsky.feed.post', text: '', embed: { $type: 'app.bsky.embed.images', images: [{ image: blob(CID_A) }] } }).text).toBe(
      '(1 image)',
    )
    expect(of({ $type: 'app.bsky.actor.profile', displayName: 'Alice' }).text).toBe('Alice')
    expect(of({ $type: 'app.bsky.graph.follow', subject: DID }).text).toBe(DID)
    expect(of({ $type: 'app.bsky.feed.like', subject: { uri: 'at://x/y/z' } }).text).toBe('at://x/y/z')
    expect(of({ $type: 'com.example.list', name: 'Friends' }).text).toBe('Friends')
    expect(of({ $type: 'com.example.other' }).text).toBe('com.example.other')
  })
})

describe('collectionLabel', () => {
  it('names well-known collections only', () => {
    expect(collectionLabel('app.bsky.feed.post')).toBe('Posts')
    expect(collectionLabel('com.example.x')).toBeNull()
    expect(recordNoun('app.bsky.feed.post')).toBe('Post')
    expect(recordNoun('com.example.x')).toBe('Record')
  })
})

describe('genericFields', () => {
  it('lists top-level fields as short text without $type', () => {
    expect(genericFields({ $type: 'x', name: 'N', count: 3, icon: blob(CID_A, 'image/png'), nested: { a: [1] } }, 30)).toEqual([
      { key: 'name', text: 'N' },
      { key: 'count', text: '3' },
      { key: 'icon', text: `blob ${CID_A}`.slice(0, 29) + '…' },
      { key: 'nested', text: '{"a":[1]}' },
    ])
  })
})

describe('prettyJson and base64ToBytes', () => {
  it('indents JSON', () => {
    expect(prettyJson({ a: 1 })).toBe('{\n  "a": 1\n}')
  })

  it('decodes standard and URL-safe base64, with or without padding', () => {
    expect([...base64ToBytes('iVBORw0KGgo=')]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    expect([...base64ToBytes('-_8')]).toEqual([0xfb, 0xff])
    expect([...base64ToBytes('')]).toEqual([])
  })
})

describe('isNotStored', () => {
  it('recognises the codes of a blob that is not stored', () => {
    expect(isNotStored({ code: 'ERR_MISSING_BLOCK' })).toBe(true)
    expect(isNotStored(Object.assign(new Error('x'), { code: 'ERR_BLOB_NOT_FOUND' }))).toBe(true)
    expect(isNotStored({ code: 'ERR_RESPONSE_TOO_LARGE' })).toBe(false)
    expect(isNotStored(new Error('x'))).toBe(false)
  })
})

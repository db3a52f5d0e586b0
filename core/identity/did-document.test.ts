import { describe, expect, it } from 'vitest'
import { DidDocumentError } from '../errors.js'
import { parseDidDocument } from './did-document.js'
import { readJsonFixture } from '../testing/fixtures.js'

const TESTDATA = 'indigo/atproto/identity/testdata'
const ATPROTO_COM = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const ATPROTO_COM_KEY = 'did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF'

describe('parseDidDocument on the upstream documents', () => {
  it('reads did_plc_doc.json (Multikey)', () => {
    expect(parseDidDocument(ATPROTO_COM, readJsonFixture(`${TESTDATA}/did_plc_doc.json`))).toEqual({
      did: ATPROTO_COM,
      claimedHandle: 'atproto.com',
      pdsUrl: 'https://bsky.social',
      signingKey: ATPROTO_COM_KEY,
    })
  })

  it('reads did_plc_doc_legacy.json (uncompressed EcdsaSecp256k1VerificationKey2019) to the same key', () => {
    expect(parseDidDocument(ATPROTO_COM, readJsonFixture(`${TESTDATA}/did_plc_doc_legacy.json`))).toEqual({
      did: ATPROTO_COM,
      claimedHandle: 'atproto.com',
      pdsUrl: 'https://bsky.social',
      signingKey: ATPROTO_COM_KEY,
    })
  })

  it('refuses did_web_doc.json, a feed generator with no #atproto key or PDS, with a sentence', () => {
    const doc = readJsonFixture(`${TESTDATA}/did_web_doc.json`)
    const err = (() => {
      try {
        parseDidDocument('did:web:discover.bsky.social', doc)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(DidDocumentError)
    expect(err).toMatchObject({ code: 'ERR_DID_DOCUMENT', did: 'did:web:discover.bsky.social', problem: 'no-signing-key' })
    expect((err as Error).message).toBe(
      'The DID document of did:web:discover.bsky.social has no signing key (#atproto), so its repository cannot be verified. ' +
        'The account may be deactivated or being moved; try again later.',
    )
  })

  it('tolerates fields atproto does not read ("authentication": null in did_web_doc.json)', () => {
    const doc = readJsonFixture(`${TESTDATA}/did_web_doc.json`) as Record<string, unknown>
    const withAtproto = {
      ...doc,
      alsoKnownAs: ['at://discover.bsky.social'],
      verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: doc.id, publicKeyMultibase: ATPROTO_COM_KEY.slice('did:key:'.length) }],
      service: [...(doc.service as unknown[]), { id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com/' }],
    }
    expect(parseDidDocument('did:web:discover.bsky.social', withAtproto)).toEqual({
      did: 'did:web:discover.bsky.social',
      claimedHandle: 'discover.bsky.social',
      pdsUrl: 'https://pds.example.com',
      signingKey: ATPROTO_COM_KEY,
    })
  })
})

describe('parseDidDocument on broken documents', () => {
  const base = () => structuredClone(readJsonFixture(`${TESTDATA}/did_plc_doc.json`)) as Record<string, unknown> & {
    verificationMethod: Array<Record<string, unknown>>
    service: Array<Record<string, unknown>>
    alsoKnownAs: unknown[]
  }

  it('accepts ids in the full form (did#atproto, did#atproto_pds)', () => {
    const doc = base()
    doc.verificationMethod[0]!.id = `${ATPROTO_COM}#atproto`
    doc.service[0]!.id = `${ATPROTO_COM}#atproto_pds`
    expect(parseDidDocument(ATPROTO_COM, doc).signingKey).toBe(ATPROTO_COM_KEY)
  })

  it('takes the first at:// alias as the claimed handle, lower-cased, and null when none', () => {
    const doc = base()
    doc.alsoKnownAs = ['https://example.com', 'at://Alice.Example.com', 'at://bob.example.com']
    expect(parseDidDocument(ATPROTO_COM, doc).claimedHandle).toBe('alice.example.com')
    doc.alsoKnownAs = []
    expect(parseDidDocument(ATPROTO_COM, doc).claimedHandle).toBeNull()
    delete (doc as Record<string, unknown>).alsoKnownAs
    expect(parseDidDocument(ATPROTO_COM, doc).claimedHandle).toBeNull()
  })

  const cases: Array<[string, (d: ReturnType<typeof base>) => unknown, string]> = [
    ['not an object', () => ['a list'], 'malformed'],
    ['null', () => null, 'malformed'],
    ['no id', (d) => ({ ...d, id: undefined }), 'malformed'],
    ['another DID', (d) => ({ ...d, id: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 'wrong-id'],
    ['alsoKnownAs not a list', (d) => ({ ...d, alsoKnownAs: 'at://atproto.com' }), 'malformed'],
    ['alsoKnownAs with a number', (d) => ({ ...d, alsoKnownAs: [42] }), 'malformed'],
    ['verificationMethod not a list', (d) => ({ ...d, verificationMethod: {} }), 'malformed'],
    ['service holding a string', (d) => ({ ...d, service: ['#atproto_pds'] }), 'malformed'],
    ['no #atproto key', (d) => ({ ...d, verificationMethod: [{ ...d.verificationMethod[0], id: '#other' }] }), 'no-signing-key'],
    ['key without publicKeyMultibase', (d) => ({ ...d, verificationMethod: [{ ...d.verificationMethod[0], publicKeyMultibase: undefined }] }), 'bad-signing-key'],
    ['key that does not decode', (d) => ({ ...d, verificationMethod: [{ ...d.verificationMethod[0], publicKeyMultibase: 'zNotAKey' }] }), 'bad-signing-key'],
    ['key of an unknown type', (d) => ({ ...d, verificationMethod: [{ ...d.verificationMethod[0], type: 'RsaVerificationKey2018' }] }), 'bad-signing-key'],
    ['no services', (d) => ({ ...d, service: undefined }), 'no-pds'],
    ['a PDS of the wrong type', (d) => ({ ...d, service: [{ ...d.service[0], type: 'BskyFeedGenerator' }] }), 'no-pds'],
    ['a PDS endpoint that is not a URL', (d) => ({ ...d, service: [{ ...d.service[0], serviceEndpoint: 'bsky.social' }] }), 'no-pds'],
    ['a PDS endpoint that is not http(s)', (d) => ({ ...d, service: [{ ...d.service[0], serviceEndpoint: 'ftp://bsky.social' }] }), 'no-pds'],
    ['a PDS endpoint that is an object', (d) => ({ ...d, service: [{ ...d.service[0], serviceEndpoint: { uri: 'https://bsky.social' } }] }), 'no-pds'],
  ]
  it.each(cases)('%s → %s', (_name, change, problem) => {
    expect(() => parseDidDocument(ATPROTO_COM, change(base()))).toThrow(expect.objectContaining({ code: 'ERR_DID_DOCUMENT', problem }))
  })
})

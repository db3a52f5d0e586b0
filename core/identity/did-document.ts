/**
 * Reading the atproto parts of a DID document: the claimed handle (`alsoKnownAs`), the signing
 * key (`#atproto` verification method) and the PDS (`#atproto_pds` service).
 *
 * Deliberately lenient about everything else: real documents carry fields atproto does not use
 * (e.g. `"authentication": null` in did:web documents), which `@atproto/identity`'s schema check
 * rejects. Only the fields read here must be well-formed.
 */
import { didKeyFromMultibase } from './lookups.js'
import { DidDocumentError } from '../errors.js'

/** The atproto content of a DID document. */
export interface AtprotoDidDocument {
  did: string
  /** First `at://` entry of `alsoKnownAs`, lower-cased and unverified; null when there is none. */
  claimedHandle: string | null
  /** `#atproto_pds` endpoint (http or https), without a trailing slash. */
  pdsUrl: string
  /** `#atproto` key as `did:key:…`. */
  signingKey: string
}

type Entry = Record<string, unknown>

/**
 * Reads a DID document served for `did`.
 *
 * @throws DidDocumentError `malformed` (not an object, or a read field has the wrong shape),
 *   `wrong-id`, `no-signing-key`, `bad-signing-key`, `no-pds`
 */
export function parseDidDocument(did: string, doc: unknown): AtprotoDidDocument {
  if (!isObject(doc)) throw new DidDocumentError(did, 'malformed', 'it is not a JSON object')
  if (typeof doc.id !== 'string') throw new DidDocumentError(did, 'malformed', 'it has no "id"')
  if (doc.id !== did) throw new DidDocumentError(did, 'wrong-id', `it is for ${doc.id}`)
  const aliases = list(did, doc, 'alsoKnownAs')
  if (!aliases.every((a) => typeof a === 'string')) throw new DidDocumentError(did, 'malformed', '"alsoKnownAs" holds something other than text')
  const methods = entries(did, doc, 'verificationMethod')
  const services = entries(did, doc, 'service')

  const alias = (aliases as string[]).find((a) => a.startsWith('at://'))
  const claimedHandle = alias === undefined ? null : alias.slice('at://'.length).toLowerCase()

  const key = byId(did, methods, 'atproto')
  if (key === undefined) throw new DidDocumentError(did, 'no-signing-key')
  if (typeof key.type !== 'string' || typeof key.publicKeyMultibase !== 'string') {
    throw new DidDocumentError(did, 'bad-signing-key', 'it has no "type" or "publicKeyMultibase"')
  }
  let signingKey: string | undefined
  try {
    signingKey = didKeyFromMultibase(key.type, key.publicKeyMultibase)
  } catch (err) {
    throw new DidDocumentError(did, 'bad-signing-key', `the key does not decode`, { cause: err })
  }
  if (signingKey === undefined) throw new DidDocumentError(did, 'bad-signing-key', `unknown key type ${JSON.stringify(key.type)}`)

  const pds = byId(did, services, 'atproto_pds')
  if (pds === undefined) throw new DidDocumentError(did, 'no-pds')
  if (pds.type !== 'AtprotoPersonalDataServer') throw new DidDocumentError(did, 'no-pds', `the #atproto_pds service has type ${JSON.stringify(pds.type)}`)
  const pdsUrl = typeof pds.serviceEndpoint === 'string' ? httpUrl(pds.serviceEndpoint) : null
  if (pdsUrl === null) throw new DidDocumentError(did, 'no-pds', 'its endpoint is not an http(s) URL')

  return { did, claimedHandle, pdsUrl, signingKey }
}

function isObject(v: unknown): v is Entry {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function list(did: string, doc: Entry, field: string): unknown[] {
  const v = doc[field]
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new DidDocumentError(did, 'malformed', `"${field}" is not a list`)
  return v
}

function entries(did: string, doc: Entry, field: string): Entry[] {
  const items = list(did, doc, field)
  if (!items.every(isObject)) throw new DidDocumentError(did, 'malformed', `"${field}" holds something other than objects`)
  return items as Entry[]
}

/** The entry whose id is `#name` or `<did>#name` (both forms occur in the wild). */
function byId(did: string, items: Entry[], name: string): Entry | undefined {
  return items.find((i) => i.id === `#${name}` || i.id === `${did}#${name}`)
}

function httpUrl(s: string): string | null {
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return null
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
  return s.replace(/\/+$/, '')
}

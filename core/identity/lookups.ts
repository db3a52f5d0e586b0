/**
 * The three lookups identity resolution needs, done the way `@atproto/identity` does them (it is
 * the reference in `lookups.test.ts`, answer for answer):
 *
 * - a DID document: did:plc from the PLC directory (`GET <plc>/<did>`), did:web from
 *   `https://<host>/.well-known/did.json` (http for `localhost`);
 * - a handle's DID without a resolver service: DNS TXT `_atproto.<handle>` (`did=…`), else
 *   `https://<handle>/.well-known/atproto-did`;
 * - a verification method's key as `did:key:…`.
 *
 * Why not the library itself: importing `@atproto/identity` loads `@atproto-labs/fetch-node`, which
 * loads three versions of undici (6, 7 and 8) for a default fetch this node never uses (every
 * request goes through the node's safe fetch): +19 MB of resident memory for every running node
 * (measured by importing it after what the node already loads; the idle figure of
 * `npm run bench -- network`).
 */
import * as dns from 'node:dns/promises'
import { formatDidKey, multibaseToBytes, P256_JWT_ALG, parseMultikey, SECP256K1_JWT_ALG } from '@atproto/crypto'

/** What a lookup is given: the fetch to use (the node's safe fetch), a time limit and a signal. */
export interface LookupOptions {
  fetch: (input: string | URL, init?: RequestInit) => Promise<Response>
  /** Time limit of each request, in ms. */
  timeoutMs: number
  signal?: AbortSignal
}

/** The DID document as JSON, or null when the source says there is none; rejects when it cannot say. */
export async function fetchDidDocument(did: string, plcUrl: string, options: LookupOptions): Promise<unknown> {
  if (did.startsWith('did:plc:')) {
    const res = await get(new URL(`/${encodeURIComponent(did)}`, plcUrl), options)
    // Positively not found, unlike a network error or another status.
    if (res.status === 404) {
      await res.body?.cancel()
      return null
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw Object.assign(new Error(res.statusText), { status: res.status })
    }
    return res.json()
  }
  if (did.startsWith('did:web:')) {
    const parts = did.split(':').slice(2).map(decodeURIComponent)
    // atproto has no did:web with a path.
    if (parts.length !== 1 || parts[0] === '') throw new Error(`unsupported did:web: ${did}`)
    const url = new URL(`https://${parts[0]}/.well-known/did.json`)
    if (url.hostname === 'localhost') url.protocol = 'http'
    const res = await get(url, options)
    if (!res.ok) {
      await res.body?.cancel()
      return null
    }
    return res.json()
  }
  throw new Error(`unsupported DID method: ${did}`)
}

/**
 * The DID a handle names by DNS or HTTPS well-known, or undefined when neither says (failures
 * included, as the library: unreachable and non-existent look the same).
 */
export async function resolveHandleDirect(handle: string, options: LookupOptions): Promise<string | undefined> {
  const http = new AbortController()
  const byHttp = handleOverHttps(handle, options, http.signal).catch(() => undefined)
  const byDns = await handleOverDns(handle)
  if (byDns !== undefined) {
    http.abort()
    return byDns
  }
  return byHttp
}

async function handleOverDns(handle: string): Promise<string | undefined> {
  let records: string[][]
  try {
    records = await dns.resolveTxt(`_atproto.${handle}`)
  } catch {
    return undefined
  }
  const found = records.map((chunks) => chunks.join('')).filter((r) => r.startsWith('did='))
  return found.length === 1 ? found[0]!.slice('did='.length) : undefined
}

async function handleOverHttps(handle: string, options: LookupOptions, signal: AbortSignal): Promise<string | undefined> {
  const res = await get(new URL('/.well-known/atproto-did', `https://${handle}`), { ...options, signal: options.signal === undefined ? signal : AbortSignal.any([options.signal, signal]) }, 'follow')
  const did = (await res.text()).split('\n')[0]!.trim()
  return did.startsWith('did:') ? did : undefined
}

/** A verification method's key as `did:key:…`; undefined for a key type atproto does not use. */
export function didKeyFromMultibase(type: string, publicKeyMultibase: string): string | undefined {
  if (type === 'EcdsaSecp256r1VerificationKey2019') return formatDidKey(P256_JWT_ALG, multibaseToBytes(publicKeyMultibase))
  if (type === 'EcdsaSecp256k1VerificationKey2019') return formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(publicKeyMultibase))
  if (type === 'Multikey') {
    const parsed = parseMultikey(publicKeyMultibase)
    return formatDidKey(parsed.jwtAlg, parsed.keyBytes)
  }
  return undefined
}

function get(url: URL, options: LookupOptions, redirect: RequestRedirect = 'error'): Promise<Response> {
  const timeout = AbortSignal.timeout(options.timeoutMs)
  return options.fetch(url, {
    redirect,
    headers: redirect === 'error' ? { accept: 'application/did+ld+json,application/json' } : {},
    signal: options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]),
  })
}

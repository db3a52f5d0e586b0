/**
 * {@link AtprotoIdentityResolver}: handle or DID → DID document, PDS, signing key and verified
 * handle, with `@atproto/identity` doing the protocol work and every HTTP request going through
 * the safe fetch (`core/network/safe-fetch.ts`).
 *
 * Order of work for `resolve(x)`:
 * 1. syntax of `x` (no network);
 * 2. handle → DID: `com.atproto.identity.resolveHandle` on `handleResolverUrl` when set, else
 *    DNS TXT `_atproto.<handle>` and `https://<handle>/.well-known/atproto-did` (`HandleResolver`);
 * 3. DID → document: `PLC_URL/<did>` for did:plc, `https://<host>/.well-known/did.json` for
 *    did:web (`DidResolver`), then the atproto fields (`parseDidDocument`);
 * 4. the PDS endpoint is checked against the safe-fetch address rules;
 * 5. the handle the document claims must resolve back to the DID, else `handle` is null.
 *
 * The configured PLC directory and handle resolver are trusted origins of the safe fetch: the
 * operator chose them, so they may be on a private network even when `allowPrivateNetwork` is
 * false. URLs from the network (PDS endpoints, did:web hosts, handle hosts) never are.
 */
import { fetchDidDocument, resolveHandleDirect } from './lookups.js'
import { isValidDid, isValidHandle, isValidTld } from '@atproto/syntax'
import {
  AbortError,
  DidDocumentError,
  FetchFailedError,
  FetchTimeoutError,
  IdentityNotFoundError,
  IdentityUnavailableError,
  InvalidIdentifierError,
  P2pdsError,
  TooManyRedirectsError,
  UnsafeUrlError,
  throwIfAborted,
} from '../errors.js'
import type { Config } from '../config.js'
import {
  checkUrlSafety,
  createSafeFetch,
  raceAbort,
  type AddressLookup,
  type SafeFetch,
  type TransportFetch,
} from '../network/safe-fetch.js'
import { parseDidDocument, type AtprotoDidDocument } from './did-document.js'
import { assertResolvable, parseIdentifier, type ParsedIdentifier } from './identifier.js'
import type { HandleProblem, IdentityResolver, ResolvedIdentity, ResolveOptions } from './types.js'

/** Largest identity response read (DID document, handle answer), in bytes. */
export const IDENTITY_MAX_BYTES = 1024 * 1024

/** How to build an {@link AtprotoIdentityResolver}. */
export interface IdentityResolverInit {
  /** PLC directory for did:plc. Config: `PLC_URL`. */
  plcUrl: string
  /**
   * Service answering `com.atproto.identity.resolveHandle` (e.g. a PDS or AppView).
   * Config: `HANDLE_RESOLVER_URL`. @default undefined: DNS TXT, then `https://<handle>/.well-known/atproto-did`
   */
  handleResolverUrl?: string
  /** Allow PDS endpoints, did:web and handle hosts on loopback/private networks. Config: `ALLOW_PRIVATE_NETWORK`. */
  allowPrivateNetwork: boolean
  /** Transport under the safe fetch (see `TransportFetch`). @default undici's `fetch` */
  fetch?: TransportFetch
  /** Name resolution for the address checks. @default `dns.lookup` */
  lookup?: AddressLookup
  /** Time limit of each HTTP request, in ms. */
  timeoutMs: number
  /** How long an answer is reused without asking again, in ms (0: never). */
  cacheTtlMs: number
  /** Clock for the cache. @default Date.now */
  now?: () => number
}

/** Time limit of one identity request when built from config, in ms. */
export const IDENTITY_TIMEOUT_MS = 10_000

/** How long identity answers are reused when built from config, in ms. */
export const IDENTITY_CACHE_TTL_MS = 10 * 60_000

/** The resolver settings a node uses, from its configuration. */
export function identityResolverInit(config: Pick<Config, 'plcUrl' | 'handleResolverUrl' | 'allowPrivateNetwork'>): IdentityResolverInit {
  return {
    plcUrl: config.plcUrl,
    handleResolverUrl: config.handleResolverUrl,
    allowPrivateNetwork: config.allowPrivateNetwork,
    timeoutMs: IDENTITY_TIMEOUT_MS,
    cacheTtlMs: IDENTITY_CACHE_TTL_MS,
  }
}

/** Builds an {@link IdentityResolver}. */
export function createIdentityResolver(init: IdentityResolverInit): IdentityResolver {
  return new AtprotoIdentityResolver(init)
}

interface CallContext {
  signal: AbortSignal | undefined
  forceRefresh: boolean
}

/** {@link IdentityResolver} over the lookups of `./lookups.ts`, the safe fetch and a TTL cache. */
export class AtprotoIdentityResolver implements IdentityResolver {
  readonly #init: IdentityResolverInit
  readonly #fetch: SafeFetch
  readonly #now: () => number
  readonly #handles = new Map<string, { did: string; expires: number }>()
  readonly #identities = new Map<string, { identity: ResolvedIdentity; expires: number }>()

  constructor(init: IdentityResolverInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.#fetch = createSafeFetch({
      allowPrivateNetwork: init.allowPrivateNetwork,
      timeoutMs: init.timeoutMs,
      maxBytes: IDENTITY_MAX_BYTES,
      fetch: init.fetch,
      lookup: init.lookup,
      trustedOrigins: [init.plcUrl, ...(init.handleResolverUrl === undefined ? [] : [init.handleResolverUrl])],
    })
  }

  async resolve(handleOrDid: string, options: ResolveOptions = {}): Promise<ResolvedIdentity> {
    throwIfAborted(options.signal)
    // Syntax first: nothing below runs for invalid input.
    const id = parseIdentifier(handleOrDid)
    assertResolvable(id)
    const ctx = { signal: options.signal, forceRefresh: options.forceRefresh === true }
    // structuredClone: callers may change what they get without changing the cache.
    return structuredClone(await raceAbort(this.#resolve(id, ctx), options.signal))
  }

  forget(handleOrDid?: string): void {
    if (handleOrDid === undefined) {
      this.#handles.clear()
      this.#identities.clear()
      return
    }
    const key = handleOrDid.startsWith('did:') ? handleOrDid : handleOrDid.toLowerCase()
    this.#handles.delete(key)
    this.#identities.delete(key)
    for (const [did, entry] of this.#identities) if (entry.identity.handle === key) this.#identities.delete(did)
  }

  async #resolve(id: ParsedIdentifier, ctx: CallContext): Promise<ResolvedIdentity> {
    if (id.kind === 'did') return this.#identity(id.did, null, ctx)
    const did = await this.#handleToDid(id.handle, ctx)
    if (did === null) throw new IdentityNotFoundError(id.handle, this.#handleWhere(id.handle))
    return this.#identity(did, id.handle, ctx)
  }

  /** The identity of `did`; `knownHandle` is a handle already seen resolving to it. */
  async #identity(did: string, knownHandle: string | null, ctx: CallContext): Promise<ResolvedIdentity> {
    const cached = this.#identities.get(did)
    if (!ctx.forceRefresh && cached !== undefined && cached.expires > this.#now()) return cached.identity
    const didDoc = await this.#fetchDidDocument(did, ctx)
    const parsed = parseDidDocument(did, didDoc)
    await this.#checkPds(parsed, ctx)
    const { handle, handleProblem } = await this.#verifyHandle(parsed, knownHandle, ctx)
    const identity: ResolvedIdentity = { did, handle, handleProblem, pdsUrl: parsed.pdsUrl, signingKey: parsed.signingKey, didDoc }
    if (this.#init.cacheTtlMs > 0) this.#identities.set(did, { identity, expires: this.#now() + this.#init.cacheTtlMs })
    return identity
  }

  async #fetchDidDocument(did: string, ctx: CallContext): Promise<Record<string, unknown>> {
    const where = this.#didWhere(did)
    let doc: unknown
    try {
      // parseDidDocument validates, more leniently than @atproto/identity's schema.
      doc = await fetchDidDocument(did, this.#init.plcUrl, { fetch: this.#fetch, timeoutMs: this.#init.timeoutMs, signal: ctx.signal })
    } catch (err) {
      if (err instanceof SyntaxError) throw new DidDocumentError(did, 'malformed', 'it is not JSON', { cause: err })
      throw lookupError(did, where, err)
    }
    if (doc === null || doc === undefined) throw new IdentityNotFoundError(did, where)
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new DidDocumentError(did, 'malformed', 'it is not a JSON object')
    return doc as Record<string, unknown>
  }

  async #checkPds(doc: AtprotoDidDocument, ctx: CallContext): Promise<void> {
    try {
      await checkUrlSafety(doc.pdsUrl, { allowPrivateNetwork: this.#init.allowPrivateNetwork, lookup: this.#init.lookup, signal: ctx.signal })
    } catch (err) {
      if (err instanceof UnsafeUrlError) throw new DidDocumentError(doc.did, 'unsafe-pds', err.message, { cause: err })
      // A name that does not resolve now is not a property of the document; fetching from the
      // PDS will say so (and checks the address again at connect time).
      if (err instanceof FetchFailedError) return
      throw err
    }
  }

  async #verifyHandle(
    doc: AtprotoDidDocument,
    knownHandle: string | null,
    ctx: CallContext,
  ): Promise<{ handle: string | null; handleProblem: HandleProblem | null }> {
    const { did, claimedHandle: claimed } = doc
    const problem = (reason: HandleProblem['reason'], message: string) => ({ handle: null, handleProblem: { reason, claimed, message } })
    if (claimed === null) return problem('no-handle', `The DID document of ${did} claims no handle.`)
    if (!isValidHandle(claimed) || !isValidTld(claimed)) {
      return problem('invalid-handle', `${did} claims the handle ${JSON.stringify(claimed)}, which is not a valid handle.`)
    }
    if (claimed === knownHandle) return { handle: claimed, handleProblem: null }
    let other: string | null
    try {
      other = await this.#handleToDid(claimed, ctx)
    } catch (err) {
      if (err instanceof AbortError) throw err
      if (err instanceof InvalidIdentifierError) return problem('invalid-handle', `${did} claims the handle ${claimed}, which is not a valid handle.`)
      return problem('unavailable', `The handle ${claimed} of ${did} could not be checked right now; try again later.`)
    }
    if (other === null) return problem('not-found', `${did} claims the handle ${claimed}, but that handle does not point to any account.`)
    if (other !== did) return problem('mismatch', `${did} claims the handle ${claimed}, but that handle belongs to ${other}.`)
    return { handle: claimed, handleProblem: null }
  }

  /** The DID a handle points to, or null when it points nowhere. */
  async #handleToDid(handle: string, ctx: CallContext): Promise<string | null> {
    const cached = this.#handles.get(handle)
    if (!ctx.forceRefresh && cached !== undefined && cached.expires > this.#now()) return cached.did
    const did = this.#init.handleResolverUrl === undefined ? await this.#handleToDidDirect(handle, ctx) : await this.#handleToDidXrpc(handle, ctx)
    if (did !== null && this.#init.cacheTtlMs > 0) this.#handles.set(handle, { did, expires: this.#now() + this.#init.cacheTtlMs })
    return did
  }

  async #handleToDidXrpc(handle: string, ctx: CallContext): Promise<string | null> {
    const base = this.#init.handleResolverUrl!.replace(/\/+$/, '')
    const where = this.#handleWhere(handle)
    const url = `${base}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(handle)}`
    let body: unknown
    try {
      const res = await this.#fetch(url, { headers: { accept: 'application/json' }, signal: ctx.signal, redirect: 'follow' })
      if (res.ok) {
        body = await res.json()
      } else {
        const failure = (await res.json().catch(() => null)) as { error?: unknown } | null
        if (res.status === 404) return null
        // XRPC error names: `HandleNotFound` (current lexicon), `InvalidRequest` ("Unable to resolve handle", older PDSes).
        if (res.status === 400 && (failure?.error === 'HandleNotFound' || failure?.error === 'InvalidRequest')) return null
        throw new IdentityUnavailableError(handle, where, `it answered HTTP ${res.status}`)
      }
    } catch (err) {
      throw lookupError(handle, where, err)
    }
    const did = (body as { did?: unknown } | null)?.did
    if (!isValidDid(did)) throw new IdentityUnavailableError(handle, where, 'it answered with something that is not a DID')
    return did
  }

  async #handleToDidDirect(handle: string, ctx: CallContext): Promise<string | null> {
    // Failures read as "nothing found" (as @atproto/identity's HandleResolver), so unreachable
    // and non-existent handles look the same here.
    const did = await resolveHandleDirect(handle, { fetch: this.#fetch, timeoutMs: this.#init.timeoutMs, signal: ctx.signal })
    throwIfAborted(ctx.signal)
    return isValidDid(did) ? did : null
  }

  #handleWhere(handle: string): string {
    return this.#init.handleResolverUrl === undefined
      ? `DNS (_atproto.${handle}) and https://${handle}/.well-known/atproto-did`
      : `the handle resolver at ${this.#init.handleResolverUrl}`
  }

  #didWhere(did: string): string {
    if (did.startsWith('did:plc:')) return `the PLC directory at ${this.#init.plcUrl}`
    const host = decodeURIComponent(did.slice('did:web:'.length))
    return `${host.startsWith('localhost') ? 'http' : 'https'}://${host}/.well-known/did.json`
  }
}

/** Our error for a failed lookup: kept when it already says what happened, else "unavailable". */
function lookupError(identifier: string, where: string, err: unknown): P2pdsError {
  if (err instanceof IdentityUnavailableError || err instanceof AbortError || err instanceof UnsafeUrlError) return err
  if (err instanceof FetchTimeoutError) return new IdentityUnavailableError(identifier, where, `it did not answer within ${err.timeoutMs} ms`, { cause: err })
  if (err instanceof FetchFailedError) return new IdentityUnavailableError(identifier, where, err.detail, { cause: err })
  if (err instanceof TooManyRedirectsError) return new IdentityUnavailableError(identifier, where, 'it redirected too many times', { cause: err })
  if (err instanceof P2pdsError) return err
  if (err instanceof SyntaxError) return new IdentityUnavailableError(identifier, where, 'it answered with something that is not JSON', { cause: err })
  const status = (err as { status?: unknown } | null)?.status
  if (typeof status === 'number') return new IdentityUnavailableError(identifier, where, `it answered HTTP ${status}`, { cause: err })
  const message = err instanceof Error ? err.message : String(err)
  return new IdentityUnavailableError(identifier, where, `unexpected error: ${message}`, { cause: err })
}

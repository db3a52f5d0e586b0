/**
 * Identity value types: what a handle or DID resolves to. Everything here is JSON-safe.
 */

/** Why an identity has no verified handle. */
export type HandleProblemReason =
  /** The DID document claims no handle (`alsoKnownAs` has no `at://` entry). */
  | 'no-handle'
  /** The claimed handle is not valid handle syntax, or ends in a reserved TLD. */
  | 'invalid-handle'
  /** The claimed handle resolves to no DID. */
  | 'not-found'
  /** The claimed handle resolves to another DID. */
  | 'mismatch'
  /** The claimed handle could not be checked right now (network). */
  | 'unavailable'

/** Why {@link ResolvedIdentity.handle} is null. */
export interface HandleProblem {
  reason: HandleProblemReason
  /** The handle the DID document claims, lower-cased; null when it claims none. */
  claimed: string | null
  /** One sentence for a person. */
  message: string
}

/** A DID with its document, PDS and signing key; the handle only when verified both ways. */
export interface ResolvedIdentity {
  /** `did:plc:…` or `did:web:…`. */
  did: string
  /**
   * The handle, lower-cased, only if verified bidirectionally: the DID document claims it
   * (`alsoKnownAs: at://<handle>`) and the handle resolves to this DID. Otherwise null, and
   * {@link handleProblem} says why.
   */
  handle: string | null
  /** Why {@link handle} is null; null when it is set. */
  handleProblem: HandleProblem | null
  /** The `#atproto_pds` service endpoint, without a trailing slash, e.g. `https://bsky.social`. */
  pdsUrl: string
  /** The `#atproto` verification method as a `did:key:…` (commit signatures verify with it). */
  signingKey: string
  /** The DID document as served. */
  didDoc: Record<string, unknown>
}

/** Per-call options of {@link IdentityResolver.resolve}. */
export interface ResolveOptions {
  /** Aborts the lookup; the call rejects with `AbortError` (`ERR_ABORTED`). */
  signal?: AbortSignal
  /**
   * Ignore cached answers and fetch again (e.g. after a signature failed to verify, in case the
   * key rotated). The fresh answer replaces the cached one. @default false
   */
  forceRefresh?: boolean
}

/** Resolves handles and DIDs to {@link ResolvedIdentity}. */
export interface IdentityResolver {
  /**
   * Resolves a handle (`alice.bsky.social`) or DID (`did:plc:…`, `did:web:…`). The syntax is
   * checked first: invalid input rejects with `InvalidIdentifierError` and sends nothing.
   *
   * @throws InvalidIdentifierError (`ERR_INVALID_IDENTIFIER`) bad syntax, unsupported DID method, reserved TLD
   * @throws IdentityNotFoundError (`ERR_IDENTITY_NOT_FOUND`) the handle or DID does not exist
   * @throws DidDocumentError (`ERR_DID_DOCUMENT`) the document is malformed, lacks PDS or key, or names an unsafe PDS
   * @throws IdentityUnavailableError (`ERR_IDENTITY_UNAVAILABLE`) a directory or host could not be reached; try later
   * @throws UnsafeUrlError (`ERR_UNSAFE_URL`) a did:web or handle host is on a private network
   * @throws AbortError (`ERR_ABORTED`)
   */
  resolve(handleOrDid: string, options?: ResolveOptions): Promise<ResolvedIdentity>
  /** Drops cached answers for one handle or DID, or all of them when called without one. */
  forget(handleOrDid?: string): void
}

/** Identity: handle and DID resolution (see README.md for the invariants). */
export type { HandleProblem, HandleProblemReason, IdentityResolver, ResolvedIdentity, ResolveOptions } from './types.js'
export {
  AtprotoIdentityResolver,
  createIdentityResolver,
  identityResolverInit,
  IDENTITY_CACHE_TTL_MS,
  IDENTITY_MAX_BYTES,
  IDENTITY_TIMEOUT_MS,
  type IdentityResolverInit,
} from './resolver.js'
export { assertResolvable, parseIdentifier, type ParsedIdentifier } from './identifier.js'
export { parseDidDocument, type AtprotoDidDocument } from './did-document.js'

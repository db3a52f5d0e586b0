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
export { PLC_RECOVERY_WINDOW_MS, validatePlcLog, type PlcAuditEntry, type PlcDocumentState, type PlcLogSummary, type PlcService } from './plc-log.js'
export { getPlcLog, PlcMirror, PLC_GET_LOG_NSID, PLC_LOG_MAX_BYTES, type PlcMirrorInit, type StoredPlcLog } from './plc-mirror.js'

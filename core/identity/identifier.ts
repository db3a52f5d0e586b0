/**
 * Syntax of what a person types to name an account: a handle or a DID (an "at-identifier").
 * Checked with `@atproto/syntax`, before anything touches the network.
 */
import { ensureValidDid, ensureValidHandle, isValidTld } from '@atproto/syntax'
import { InvalidIdentifierError } from '../errors.js'

/** A syntactically valid at-identifier. */
export type ParsedIdentifier = { kind: 'did'; did: string } | { kind: 'handle'; handle: string }

/**
 * Parses a handle or DID. Handles are lower-cased (they are case-insensitive); DIDs are kept as
 * given (they are case-sensitive). Nothing is trimmed: ` alice.test` is invalid.
 *
 * @throws InvalidIdentifierError (`reason: 'syntax'`) when it is neither
 */
export function parseIdentifier(input: string): ParsedIdentifier {
  if (typeof input !== 'string') throw new InvalidIdentifierError(String(input), 'syntax', 'not text')
  if (input.startsWith('did:')) {
    try {
      ensureValidDid(input)
    } catch (err) {
      throw new InvalidIdentifierError(input, 'syntax', lowerFirst(err))
    }
    return { kind: 'did', did: input }
  }
  try {
    ensureValidHandle(input)
  } catch (err) {
    throw new InvalidIdentifierError(input, 'syntax', lowerFirst(err))
  }
  return { kind: 'handle', handle: input.toLowerCase() }
}

/** did:plc identifiers are 24 characters of lower-case base32 (did-method-plc spec). */
const PLC_DID = /^did:plc:[a-z2-7]{24}$/

/**
 * Checks that a parsed identifier is one this node can resolve: a did:plc or did:web (without
 * a path, which atproto does not use), or a handle outside the reserved TLDs (`.local`,
 * `.onion`, … where a lookup would leak or cannot succeed; `.test` is allowed for local networks).
 *
 * @throws InvalidIdentifierError
 */
export function assertResolvable(id: ParsedIdentifier): void {
  if (id.kind === 'handle') {
    if (!isValidTld(id.handle)) throw new InvalidIdentifierError(id.handle, 'reserved-tld')
    return
  }
  const method = id.did.slice(4, id.did.indexOf(':', 4))
  if (method === 'plc') {
    if (!PLC_DID.test(id.did)) throw new InvalidIdentifierError(id.did, 'syntax', 'a did:plc has 24 base32 characters after "did:plc:"')
    return
  }
  if (method === 'web') {
    const rest = id.did.slice('did:web:'.length)
    if (rest.includes(':')) throw new InvalidIdentifierError(id.did, 'unsupported-did-method')
    let host: string
    try {
      host = new URL(`https://${decodeURIComponent(rest)}`).hostname
    } catch {
      throw new InvalidIdentifierError(id.did, 'syntax', 'a did:web names a host name')
    }
    if (!isValidTld(host)) throw new InvalidIdentifierError(id.did, 'reserved-tld')
    return
  }
  throw new InvalidIdentifierError(id.did, 'unsupported-did-method')
}

function lowerFirst(err: unknown): string | undefined {
  const m = err instanceof Error ? err.message : undefined
  return m === undefined || m === '' ? undefined : m[0]!.toLowerCase() + m.slice(1)
}

/**
 * Checking that bytes belong under a CID. Atproto uses DASL CIDs only: CIDv1, SHA-256, codec
 * dag-cbor (0x71, records, MST nodes, commits) or raw (0x55, blobs). Hashing uses node:crypto,
 * which is several times faster than a JS SHA-256 on the block sizes repositories have.
 */
import { createHash } from 'node:crypto'
import { isDaslCid, parseCidSafe, type Cid } from '@atproto/lex-data'
import type { InvalidBlockReason } from '../errors.js'

export { isDaslCid }

/** SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** Whether `bytes` hash to the digest in `cid` (which must be a DASL CID). */
export function digestMatches(cid: Cid, bytes: Uint8Array): boolean {
  const expected = cid.multihash.digest
  const actual = sha256(bytes)
  if (expected.length !== actual.length) return false
  for (let i = 0; i < actual.length; i++) if (expected[i] !== actual[i]) return false
  return true
}

/** Why `bytes` cannot be stored under `cid`, or null when they can. */
export function checkBlock(cid: string, bytes: Uint8Array): InvalidBlockReason | null {
  const parsed = parseCidSafe(cid)
  if (parsed === null) return 'malformed-cid'
  if (!isDaslCid(parsed)) return 'unsupported-cid'
  // A CID has exactly one string form we accept (base32 lowercase): a different spelling of the
  // same CID would create a second row for the same block.
  if (parsed.toString() !== cid) return 'malformed-cid'
  return digestMatches(parsed, bytes) ? null : 'hash-mismatch'
}

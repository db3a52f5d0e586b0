/**
 * Checking a repository commit (atproto repository spec, "Commit Objects"): it decodes to a v3
 * commit `{did, version: 3, data, rev, prev, sig}`, names the expected DID, and its signature
 * over the DAG-CBOR of the commit without `sig` verifies with the account's signing key.
 */
import { parseDidKey, verifySignature } from '@atproto/crypto'
import { decode, encode } from '@atproto/lex-cbor'
import { CBOR_DATA_CODEC, isCid, type Cid, type LexMap } from '@atproto/lex-data'
import { CommitSignatureError, InvalidInputError, MalformedRepoError, WrongRepoDidError } from '../errors.js'

/** A commit that passed {@link checkCommit}. */
export interface CheckedCommit {
  cid: Cid
  did: string
  rev: string
  /** The MST root. */
  data: Cid
  prev: Cid | null
}

// A rev is a TID: 13 characters of the base32-sortable alphabet, so revs compare as strings.
const TID = /^[2-7a-z]{13}$/

/**
 * Decodes and checks the commit block `bytes` (stored under `cid`) against `did` and the did:key
 * `signingKey`. Rejects with `MalformedRepoError`, `WrongRepoDidError` or `CommitSignatureError`.
 */
export async function checkCommit(did: string, signingKey: string, cid: Cid, bytes: Uint8Array): Promise<CheckedCommit> {
  const bad = (detail: string, cause?: unknown): never => {
    throw new MalformedRepoError(did, cid.toString(), `commit: ${detail}`, cause === undefined ? undefined : { cause })
  }
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    bad('not valid DAG-CBOR', err)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || isCid(value)) bad('not a map')
  const commit = value as LexMap
  if (commit.version === 2) bad('a legacy v2 commit; only v3 repositories are supported')
  if (commit.version !== 3) bad(`unknown version ${JSON.stringify(commit.version)}`)
  if (typeof commit.did !== 'string') bad('no "did"')
  if (typeof commit.rev !== 'string' || !TID.test(commit.rev)) bad('no valid "rev"')
  if (!isCid(commit.data) || commit.data.code !== CBOR_DATA_CODEC) bad('no MST root "data"')
  const prev = commit.prev ?? null
  if (prev !== null && !isCid(prev)) bad('"prev" is not a CID or null')
  if (!(commit.sig instanceof Uint8Array)) bad('no signature "sig"')

  if (commit.did !== did) throw new WrongRepoDidError(did, commit.did as string)

  assertSigningKey(did, signingKey)
  // The signature covers every field but `sig`, as encoded (unknown fields included).
  const { sig, ...unsigned } = commit
  let valid: boolean
  try {
    valid = await verifySignature(signingKey, encode(unsigned), sig as Uint8Array)
  } catch {
    // Thrown for signatures that are not even well-formed (wrong length, r or s out of range).
    valid = false
  }
  if (!valid) throw new CommitSignatureError(did, cid.toString(), signingKey)
  return { cid, did, rev: commit.rev as string, data: commit.data as Cid, prev: prev as Cid | null }
}

/** Throws `InvalidInputError` unless `signingKey` is a did:key of a supported curve (P-256, K-256). */
export function assertSigningKey(did: string, signingKey: string): void {
  try {
    parseDidKey(signingKey)
  } catch (err) {
    throw new InvalidInputError(
      `The signing key ${JSON.stringify(signingKey.slice(0, 100))} given for ${did} is not a did:key P2PDS can use; resolve the account's identity again.`,
      { cause: err },
    )
  }
}

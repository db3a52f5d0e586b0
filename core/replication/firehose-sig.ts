/**
 * Commit signature checks for the firehose's hot path, with the node's native crypto (OpenSSL):
 * the did:key is turned into a public key once and kept, where `@atproto/crypto`'s
 * `verifySignature` decompresses the point and verifies in JavaScript on every call (about 5 ms
 * a commit here, which would bound the whole stream).
 *
 * The rules are atproto's (cryptography spec): ECDSA over SHA-256 on P-256 or secp256k1, the
 * signature in compact 64-byte `r || s` form (DER is refused), and low-S only (a high-S
 * signature is refused, not normalised). `firehose-sig.test.ts` checks them against the interop
 * signature vectors and against `@atproto/crypto`.
 */
import { createPublicKey, ECDH, verify, type KeyObject } from 'node:crypto'
import { parseDidKey } from '@atproto/crypto'

const CURVES: Record<string, { openssl: string; jwk: string; n: bigint }> = {
  ES256K: { openssl: 'secp256k1', jwk: 'secp256k1', n: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n },
  ES256: { openssl: 'prime256v1', jwk: 'P-256', n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
}

interface CachedKey {
  key: KeyObject
  halfN: bigint
}

const cache = new Map<string, CachedKey | null>()
const MAX_CACHED = 10_000

/** The did:key as a native public key; null when it is not a P-256 or secp256k1 did:key. */
function publicKey(didKey: string): CachedKey | null {
  const hit = cache.get(didKey)
  if (hit !== undefined) return hit
  let out: CachedKey | null = null
  try {
    const { jwtAlg, keyBytes } = parseDidKey(didKey)
    const curve = CURVES[jwtAlg]
    if (curve !== undefined) {
      const raw = ECDH.convertKey(keyBytes, curve.openssl, undefined, undefined, 'uncompressed') as Buffer
      const x = raw.subarray(1, 33).toString('base64url')
      const y = raw.subarray(33, 65).toString('base64url')
      out = { key: createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x, y }, format: 'jwk' }), halfN: curve.n >> 1n }
    }
  } catch {
    out = null
  }
  if (cache.size >= MAX_CACHED) cache.clear()
  cache.set(didKey, out)
  return out
}

/** Whether `sig` is a valid low-S compact signature of `data` by the did:key. Never throws. */
export function verifyCommitSignature(didKey: string, data: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false
  const k = publicKey(didKey)
  if (k === null) return false
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`)
  if (s === 0n || s > k.halfN) return false
  try {
    return verify('sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig)
  } catch {
    return false
  }
}

/**
 * The string form of DASL CIDs, fast. A full sync turns every block's CID and every MST pointer
 * into its string (the key of `blocks`, `block_refs` and `records`): hundreds of thousands per
 * large repository. `multiformats` builds each string a character at a time (one intermediate
 * string per character); here the 58 base32 characters are written into one scratch buffer and
 * read out as a single string. The result is the same string `CID.toString()` gives
 * (`cid-string.test.ts` checks both on every CID of the upstream fixtures).
 */
import type { Cid } from '@atproto/lex-data'

/** Bytes of a DASL CID: version 1, codec, SHA-256 multihash code and length, 32-byte digest. */
export const DASL_CID_BYTES = 36

const ALPHABET = new TextEncoder().encode('abcdefghijklmnopqrstuvwxyz234567')
// 'b' (the multibase prefix of base32 lowercase) + ceil(36 * 8 / 5) characters.
const scratch = Buffer.allocUnsafe(1 + Math.ceil((DASL_CID_BYTES * 8) / 5))

/**
 * Whether the 36 bytes at `offset` start a DASL CID: CIDv1, dag-cbor (0x71) or raw (0x55),
 * SHA-256 (0x12) with a 32-byte (0x20) digest.
 */
export function isDaslCidPrefix(bytes: Uint8Array, offset = 0): boolean {
  return (
    bytes.byteLength >= offset + DASL_CID_BYTES &&
    bytes[offset] === 0x01 &&
    (bytes[offset + 1] === 0x71 || bytes[offset + 1] === 0x55) &&
    bytes[offset + 2] === 0x12 &&
    bytes[offset + 3] === 0x20
  )
}

/** The base32 string of the DASL CID in the 36 bytes at `offset` (see {@link isDaslCidPrefix}). */
export function daslCidString(bytes: Uint8Array, offset = 0): string {
  scratch[0] = 0x62 // 'b'
  let out = 1
  let value = 0
  let bits = 0
  for (let i = offset; i < offset + DASL_CID_BYTES; i++) {
    value = ((value << 8) | bytes[i]!) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      scratch[out++] = ALPHABET[(value >>> bits) & 31]!
    }
  }
  if (bits > 0) scratch[out++] = ALPHABET[(value << (5 - bits)) & 31]!
  return scratch.toString('latin1', 0, out)
}

/** `cid.toString()`, the fast way for DASL CIDs. */
export function cidString(cid: Cid): string {
  const bytes = cid.bytes
  return bytes.byteLength === DASL_CID_BYTES && isDaslCidPrefix(bytes) ? daslCidString(bytes) : cid.toString()
}

/** Value of each base32 character (lowercase alphabet), -1 for anything else. */
const DECODE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET[i]!] = i
/** Length of a DASL CID's string: 'b' + 58 base32 characters. */
const DASL_CID_STRING_LENGTH = 1 + Math.ceil((DASL_CID_BYTES * 8) / 5)

/**
 * The 36 bytes of a DASL CID from its string (the inverse of {@link daslCidString}), or null when
 * the string is not one (then parse it with multiformats).
 */
export function daslCidBytes(s: string): Uint8Array | null {
  if (s.length !== DASL_CID_STRING_LENGTH || s.charCodeAt(0) !== 0x62) return null
  const out = new Uint8Array(DASL_CID_BYTES)
  let value = 0
  let bits = 0
  let o = 0
  for (let i = 1; i < s.length; i++) {
    const code = s.charCodeAt(i)
    const v = code < 128 ? DECODE[code]! : -1
    if (v < 0) return null
    value = ((value << 5) | v) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[o++] = (value >>> bits) & 0xff
    }
  }
  return isDaslCidPrefix(out) ? out : null
}

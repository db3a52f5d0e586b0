/**
 * Validating a did:plc audit log (`GET PLC_URL/<did>/log/audit`), as the did:plc specification
 * (https://web.plc.directory/spec/v0.1/did-plc) and the directory's own checks define it.
 *
 * The entries are replayed in `createdAt` order, keeping the chain of operations in force:
 * - every entry names the DID, carries its operation and the operation's CID (DAG-CBOR, SHA-256),
 *   which must match;
 * - the genesis operation (`prev: null`) is a `plc_operation` or a legacy `create`, signed by one
 *   of its own rotation keys, and `did:plc:` + base32(sha256(DAG-CBOR of the signed genesis))[:24]
 *   is the DID;
 * - a later operation's `prev` is an operation in force (not nullified, not a tombstone); it is
 *   signed by a rotation key of that `prev`;
 * - when `prev` is not the latest operation in force, the newer ones are nullified: the signer must
 *   come strictly before (higher priority than) the key that signed the first nullified operation
 *   in `prev`'s rotation keys, no later than 72 h after that operation;
 * - signatures are 64-byte compact low-S ECDSA (K-256 or P-256) in unpadded base64url, with no
 *   stray characters or non-zero padding bits (`@atproto/crypto` refuses high-S and DER);
 * - a tombstone ends the chain (only a nullification can bring it back);
 * - at the end, the entries flagged `nullified` must be exactly the ones the replay nullified.
 */
import { verifySignature } from '@atproto/crypto'
import { cidForLex, encode } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-data'
import { base32 } from 'multiformats/bases/base32'
import { PlcLogInvalidError } from '../errors.js'
import { sha256 } from '../storage/cid.js'

/** One entry of a PLC audit log, as the directory serves it. */
export interface PlcAuditEntry {
  did: string
  /** The signed operation: `plc_operation`, `plc_tombstone` or legacy `create`. */
  operation: Record<string, unknown>
  /** CID of the operation's DAG-CBOR. */
  cid: string
  /** Whether a later recovery operation nullified it. */
  nullified: boolean
  /** ISO time the directory accepted it. */
  createdAt: string
}

/** A service in a DID document, as a PLC operation lists it. */
export interface PlcService {
  type: string
  endpoint: string
}

/** The DID document data the latest operation in force sets. */
export interface PlcDocumentState {
  /** In priority order (first = highest). */
  rotationKeys: string[]
  /** e.g. `{ atproto: 'did:key:…' }`. */
  verificationMethods: Record<string, string>
  /** e.g. `['at://alice.example.com']`. */
  alsoKnownAs: string[]
  /** e.g. `{ atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://…' } }`. */
  services: Record<string, PlcService>
}

/** What a valid audit log says. */
export interface PlcLogSummary {
  did: string
  /** Entries in the log, nullified ones included. */
  operations: number
  /** Entries a recovery operation nullified. */
  nullified: number
  /** The chain in force ends with a tombstone: the DID is deactivated for good. */
  tombstoned: boolean
  /** CID of the latest operation in force. */
  lastCid: string
  /** ISO time of the latest operation in force. */
  lastCreatedAt: string
  /** The document data in force; null when tombstoned. */
  state: PlcDocumentState | null
}

/** How long after an operation a higher-priority rotation key may still nullify it. */
export const PLC_RECOVERY_WINDOW_MS = 72 * 3600_000

const BASE64URL = /^[A-Za-z0-9_-]+$/
const DID_PLC = /^did:plc:[a-z2-7]{24}$/

interface Applied {
  cid: string
  createdAtMs: number
  /** Rotation keys after this operation; empty for a tombstone. */
  rotationKeys: string[]
  tombstone: boolean
  /** Index, in its `prev`'s rotation keys, of the key that signed it (genesis: -1). */
  signerIndex: number
  state: PlcDocumentState | null
}

/**
 * Parses and validates an audit log for `did`.
 *
 * @throws PlcLogInvalidError (`ERR_PLC_LOG_INVALID`) naming the first entry that breaks a rule
 */
export async function validatePlcLog(did: string, log: unknown): Promise<PlcLogSummary> {
  const fail = (index: number | null, reason: string): never => {
    throw new PlcLogInvalidError(did, index, reason)
  }
  if (!DID_PLC.test(did)) fail(null, 'it is not a did:plc DID')
  if (!Array.isArray(log)) fail(null, 'the log is not a JSON array')
  const entries = log as unknown[]
  if (entries.length === 0) fail(null, 'the log is empty')

  const parsed = entries.map((e, i) => parseEntry(did, e, i, fail))
  // Replay in createdAt order (stable: equal times keep the directory's order).
  const order = parsed.map((e, i) => ({ e, i, t: Date.parse(e.createdAt) })).sort((a, b) => a.t - b.t || a.i - b.i)

  const chain: Applied[] = []
  const nullified = new Set<string>()
  for (const { e, i, t } of order) {
    const op = e.operation
    const cid = (await cidForLex(op as LexValue)).toString()
    if (cid !== e.cid) fail(i, `its CID is ${e.cid} but the operation hashes to ${cid}`)
    const sig = decodeSig(op.sig, (reason) => fail(i, reason))
    const { sig: _sig, ...unsigned } = op
    const signed = encode(unsigned as LexValue)
    const type = op.type
    const prev = op.prev

    if (chain.length === 0) {
      if (prev !== null) fail(i, 'the first operation has a prev')
      if (type === 'plc_tombstone') fail(i, 'the first operation is a tombstone')
      const state = stateOf(op, (reason) => fail(i, reason))!
      const expected = `did:plc:${base32.baseEncode(sha256(encode(op as LexValue))).slice(0, 24)}`
      if (expected !== did) fail(i, `the genesis operation is that of ${expected}`)
      if ((await signerIndex(state.rotationKeys, signed, sig)) < 0) fail(i, 'the genesis operation is not signed by one of its rotation keys')
      chain.push({ cid, createdAtMs: t, rotationKeys: state.rotationKeys, tombstone: false, signerIndex: -1, state })
      continue
    }

    if (prev === null) fail(i, 'a second genesis operation')
    if (type === 'create') fail(i, 'a legacy create operation that is not the first')
    const at = chain.findIndex((a) => a.cid === prev)
    if (at < 0) fail(i, nullified.has(prev as string) ? `its prev ${String(prev)} was nullified` : `its prev ${String(prev)} is not an earlier operation`)
    const base = chain[at]!
    if (base.tombstone) fail(i, 'it follows a tombstone')
    const state = type === 'plc_tombstone' ? null : stateOf(op, (reason) => fail(i, reason))
    let signer: number
    if (at === chain.length - 1) {
      signer = await signerIndex(base.rotationKeys, signed, sig)
      if (signer < 0) fail(i, 'it is not signed by a rotation key in force')
    } else {
      // A recovery: it nullifies every operation after `prev`.
      const disputed = chain[at + 1]!
      signer = await signerIndex(base.rotationKeys.slice(0, disputed.signerIndex), signed, sig)
      if (signer < 0) fail(i, 'it nullifies operations but is not signed by a rotation key of higher priority than theirs')
      if (t - disputed.createdAtMs > PLC_RECOVERY_WINDOW_MS) fail(i, 'it nullifies an operation more than 72 hours old')
      for (const gone of chain.splice(at + 1)) nullified.add(gone.cid)
    }
    chain.push({ cid, createdAtMs: t, rotationKeys: state?.rotationKeys ?? [], tombstone: state === null, signerIndex: signer, state })
  }

  for (const [i, e] of parsed.entries()) {
    if (e.nullified !== nullified.has(e.cid)) {
      fail(i, e.nullified ? 'it is marked nullified but no later operation nullifies it' : 'it is not marked nullified but a later operation nullifies it')
    }
  }
  const last = chain.at(-1)!
  const lastEntry = parsed.find((e) => e.cid === last.cid)!
  return {
    did,
    operations: parsed.length,
    nullified: nullified.size,
    tombstoned: last.tombstone,
    lastCid: last.cid,
    lastCreatedAt: lastEntry.createdAt,
    state: last.state,
  }
}

/**
 * The CIDs of a log's entries, in order. Used to check that a newer copy of a log keeps every
 * operation of an older one (a directory or peer dropping history is refused).
 */
export function plcLogCids(log: readonly PlcAuditEntry[]): string[] {
  return log.map((e) => e.cid)
}

function parseEntry(did: string, value: unknown, i: number, fail: (i: number, reason: string) => never): PlcAuditEntry {
  if (!isObject(value)) fail(i, 'the entry is not a JSON object')
  const e = value as Record<string, unknown>
  if (e.did !== did) fail(i, `the entry names ${JSON.stringify(e.did)}`)
  if (!isObject(e.operation)) fail(i, 'the entry has no operation')
  if (typeof e.cid !== 'string') fail(i, 'the entry has no CID')
  if (typeof e.nullified !== 'boolean') fail(i, 'the entry has no nullified flag')
  if (typeof e.createdAt !== 'string' || Number.isNaN(Date.parse(e.createdAt))) fail(i, 'the entry has no valid createdAt')
  const op = e.operation as Record<string, unknown>
  if (op.type !== 'plc_operation' && op.type !== 'plc_tombstone' && op.type !== 'create') fail(i, `unknown operation type ${JSON.stringify(op.type)}`)
  if (op.prev !== null && typeof op.prev !== 'string') fail(i, 'its prev is neither null nor a CID')
  if (typeof op.sig !== 'string') fail(i, 'it has no signature')
  checkLexSafe(op, (reason) => fail(i, reason))
  return { did, operation: op, cid: e.cid as string, nullified: e.nullified as boolean, createdAt: e.createdAt as string }
}

/** The document data an operation sets (legacy `create` normalised as the directory does). */
function stateOf(op: Record<string, unknown>, fail: (reason: string) => never): PlcDocumentState | null {
  if (op.type === 'plc_tombstone') return null
  if (op.type === 'create') {
    for (const f of ['signingKey', 'recoveryKey', 'handle', 'service'] as const) if (typeof op[f] !== 'string') fail(`the create operation has no ${f}`)
    const handle = (op.handle as string).replace(/^at:\/\//, '')
    return {
      rotationKeys: [op.recoveryKey as string, op.signingKey as string],
      verificationMethods: { atproto: op.signingKey as string },
      alsoKnownAs: [`at://${handle}`],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: op.service as string } },
    }
  }
  const { rotationKeys, verificationMethods, alsoKnownAs, services } = op
  if (!Array.isArray(rotationKeys) || !rotationKeys.every((k) => typeof k === 'string')) fail('its rotationKeys is not a list of keys')
  if (!isObject(verificationMethods) || !Object.values(verificationMethods).every((k) => typeof k === 'string')) fail('its verificationMethods is not a map of keys')
  if (!Array.isArray(alsoKnownAs) || !alsoKnownAs.every((k) => typeof k === 'string')) fail('its alsoKnownAs is not a list of strings')
  if (!isObject(services) || !Object.values(services).every((s) => isObject(s) && typeof s.type === 'string' && typeof s.endpoint === 'string')) {
    fail('its services is not a map of {type, endpoint}')
  }
  return {
    rotationKeys: [...(rotationKeys as string[])],
    verificationMethods: { ...(verificationMethods as Record<string, string>) },
    alsoKnownAs: [...(alsoKnownAs as string[])],
    services: structuredClone(services as Record<string, PlcService>),
  }
}

/** Strict unpadded base64url: the only spelling whose re-encoding gives the same text. */
function decodeSig(sig: unknown, fail: (reason: string) => never): Uint8Array {
  if (typeof sig !== 'string' || !BASE64URL.test(sig)) fail('its signature is not unpadded base64url')
  const bytes = Buffer.from(sig as string, 'base64url')
  if (bytes.toString('base64url') !== sig) fail('its signature is not canonical base64url (non-zero padding bits)')
  return new Uint8Array(bytes)
}

/** Index of the first key in `keys` whose signature `sig` over `data` verifies, else -1. */
async function signerIndex(keys: readonly string[], data: Uint8Array, sig: Uint8Array): Promise<number> {
  for (const [i, key] of keys.entries()) {
    try {
      // Strict: low-S compact signatures only (the default).
      if (await verifySignature(key, data, sig)) return i
    } catch {
      // Not a did:key of a supported curve, or a signature of the wrong shape: not this key.
    }
  }
  return -1
}

/** Operations hold strings, lists, maps and null only; anything else cannot be hashed as it was signed. */
function checkLexSafe(value: unknown, fail: (reason: string) => never, depth = 0): void {
  if (depth > 8) fail('the operation is nested too deeply')
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) fail('the operation holds a number that is not an integer')
    return
  }
  if (Array.isArray(value)) {
    for (const v of value) checkLexSafe(v, fail, depth + 1)
    return
  }
  if (isObject(value)) {
    for (const v of Object.values(value)) checkLexSafe(v, fail, depth + 1)
    return
  }
  fail('the operation holds a value JSON cannot carry')
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

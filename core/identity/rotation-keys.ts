/**
 * Rotation keys of a did:plc: the keys that may sign changes to the DID document (where the
 * account lives, which key signs its repository, its handle). A user who holds one can move the
 * account to a new PDS when the old one is gone; a backup without one has the data but cannot
 * take the identity along.
 *
 * This file holds the pieces every user of such keys needs:
 * - making a secp256k1 key (`@atproto/crypto`), showing it as a BIP-39 phrase of its 32 bytes
 *   (`@scure/bip39`, English list) or as the key file of CLI.md (64 hex characters + newline,
 *   mode 0600), and reading either form back;
 * - the node's own copies, sealed with the node's `SecretBox` in the `held_keys` table;
 * - reading a DID's PLC state from its audit log (validated with `validatePlcLog`), signing PLC
 *   operations and sending them to the directory;
 * - signing an inter-service auth token (`com.atproto.server.createAccount` on a new PDS) with a
 *   key we hold.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Secp256k1Keypair } from '@atproto/crypto'
import { cidForLex, encode } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-data'
import { entropyToMnemonic, mnemonicToEntropy, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import type { Database } from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { writePrivateFile, type SecretBox } from '../auth/secret-box.js'
import { InvalidRotationKeyError, PlcOperationError, throwIfAborted } from '../errors.js'
import type { SafeFetch } from '../network/safe-fetch.js'
import { validatePlcLog, type PlcAuditEntry, type PlcDocumentState, type PlcLogSummary } from './plc-log.js'

/** Bytes of a secp256k1 private key. */
export const ROTATION_KEY_BYTES = 32

/** Most rotation keys a did:plc document may list (a rule of the PLC directory). */
export const PLC_MAX_ROTATION_KEYS = 5

/** A private key we hold, ready to sign. */
export interface HeldKeypair {
  /** `did:key:z…` of the public key (what PLC documents list). */
  didKey: string
  /** The 32 private bytes. */
  privateKey: Uint8Array
  keypair: Secp256k1Keypair
}

// --- Making, showing and reading keys ----------------------------------------------------------

/** Makes a new secp256k1 key. */
export async function generateRotationKey(): Promise<HeldKeypair> {
  const keypair = await Secp256k1Keypair.create({ exportable: true })
  const privateKey = await keypair.export()
  return { didKey: keypair.did(), privateKey, keypair }
}

/** A key from its 32 private bytes. Throws {@link InvalidRotationKeyError} when they are not a valid secp256k1 key. */
export async function keypairFromBytes(privateKey: Uint8Array): Promise<HeldKeypair> {
  if (privateKey.length !== ROTATION_KEY_BYTES) throw new InvalidRotationKeyError(`it has ${privateKey.length} bytes, not ${ROTATION_KEY_BYTES}`)
  try {
    // The constructor derives the public key, which fails for 0 and values at or above the curve order.
    const keypair = await Secp256k1Keypair.import(privateKey, { exportable: true })
    return { didKey: keypair.did(), privateKey: Uint8Array.from(privateKey), keypair }
  } catch (err) {
    throw new InvalidRotationKeyError('it is not a valid secp256k1 private key', { cause: err })
  }
}

/** The 24-word recovery phrase of a key (BIP-39, English word list, the 32 bytes as entropy). */
export function rotationKeyPhrase(privateKey: Uint8Array): string {
  return entropyToMnemonic(privateKey, wordlist)
}

/** The key file text of CLI.md: 64 lowercase hexadecimal characters and a newline. */
export function rotationKeyFileText(privateKey: Uint8Array): string {
  return Buffer.from(privateKey).toString('hex') + '\n'
}

/**
 * Reads a key written as the key file's 64 hex characters (surrounding white space allowed) or as
 * its 24-word phrase. Throws {@link InvalidRotationKeyError} saying what is wrong.
 */
export async function parseRotationKey(text: string): Promise<HeldKeypair> {
  const trimmed = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return keypairFromBytes(Buffer.from(trimmed, 'hex'))
  const words = trimmed.toLowerCase().split(/\s+/).filter((w) => w !== '')
  if (words.length >= 12 && words.every((w) => /^[a-z]+$/.test(w))) {
    const phrase = words.join(' ')
    if (words.length !== 24) throw new InvalidRotationKeyError(`the phrase has ${words.length} words, not 24`)
    if (!validateMnemonic(phrase, wordlist)) throw new InvalidRotationKeyError('the phrase has a word not in the list or a wrong checksum word; check each word')
    return keypairFromBytes(mnemonicToEntropy(phrase, wordlist))
  }
  throw new InvalidRotationKeyError('expected 64 hexadecimal characters (a key file) or a 24-word recovery phrase')
}

/** Writes a key file (0600). Refuses to replace an existing file, which may hold another key. */
export function writeRotationKeyFile(path: string, privateKey: Uint8Array): void {
  if (existsSync(path)) throw new InvalidRotationKeyError(`${path} already exists; choose another file so no key is overwritten`)
  writePrivateFile(path, rotationKeyFileText(privateKey))
}

/** Reads a key file (or a file holding a phrase). */
export async function readRotationKeyFile(path: string): Promise<HeldKeypair> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new InvalidRotationKeyError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err })
  }
  return parseRotationKey(text)
}

// --- The node's copies --------------------------------------------------------------------------

/** What a held key is for. */
export type HeldKeyPurpose = 'rotation' | 'signing'

/** A held key as listed (no secret). */
export interface HeldKeyInfo {
  didKey: string
  purpose: HeldKeyPurpose
  /** The DID it was made for or added to, when known. */
  did: string | null
  /** Unix ms. */
  createdAt: number
  /** Unix ms it was seen in the DID's rotation keys after being added; null before. */
  addedAt: number | null
}

/** What a {@link HeldKeyStore} needs. */
export interface HeldKeyStoreInit {
  db: Database
  /** The node's secret box, or a function making it on first use (so a node that never holds a key makes no data key). */
  secretBox: SecretBox | (() => SecretBox)
  /** @default Date.now */
  now?: () => number
}

interface HeldKeyRow {
  did_key: string
  purpose: HeldKeyPurpose
  did: string | null
  sealed: string
  created_at: number
  added_at: number | null
}

/**
 * Private keys the node holds (`held_keys`), each sealed with the secret box under the purpose
 * `held-key:<did:key>`, so a copy of the data dir alone reveals none of them.
 */
export class HeldKeyStore {
  readonly #db: Database
  readonly #boxInit: SecretBox | (() => SecretBox)
  #boxMade: SecretBox | undefined
  readonly #now: () => number

  constructor(init: HeldKeyStoreInit) {
    this.#db = init.db
    this.#boxInit = init.secretBox
    this.#now = init.now ?? Date.now
  }

  get #box(): SecretBox {
    this.#boxMade ??= typeof this.#boxInit === 'function' ? this.#boxInit() : this.#boxInit
    return this.#boxMade
  }

  /** Keeps a key (again: the purpose and DID are updated, the sealed copy replaced). */
  save(key: HeldKeypair, purpose: HeldKeyPurpose, did: string | null = null): HeldKeyInfo {
    const sealed = this.#box.seal(key.privateKey, sealPurpose(key.didKey))
    this.#db
      .prepare(
        `INSERT INTO held_keys (did_key, purpose, did, sealed, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (did_key) DO UPDATE SET purpose = excluded.purpose, did = COALESCE(excluded.did, held_keys.did), sealed = excluded.sealed`,
      )
      .run(key.didKey, purpose, did, sealed, this.#now())
    return this.info(key.didKey)!
  }

  /** Records that the key was seen in `did`'s rotation keys. */
  markAdded(didKey: string, did: string): void {
    this.#db.prepare('UPDATE held_keys SET did = ?, added_at = ? WHERE did_key = ?').run(did, this.#now(), didKey)
  }

  info(didKey: string): HeldKeyInfo | null {
    const row = this.#db.prepare('SELECT * FROM held_keys WHERE did_key = ?').get(didKey) as HeldKeyRow | undefined
    return row === undefined ? null : infoOf(row)
  }

  list(purpose?: HeldKeyPurpose): HeldKeyInfo[] {
    const rows = (
      purpose === undefined
        ? this.#db.prepare('SELECT * FROM held_keys ORDER BY created_at, did_key').all()
        : this.#db.prepare('SELECT * FROM held_keys WHERE purpose = ? ORDER BY created_at, did_key').all(purpose)
    ) as HeldKeyRow[]
    return rows.map(infoOf)
  }

  /** The key, opened; null when not held. Throws `SecretUnreadableError` when the data key changed. */
  async get(didKey: string): Promise<HeldKeypair | null> {
    const row = this.#db.prepare('SELECT sealed FROM held_keys WHERE did_key = ?').get(didKey) as { sealed: string } | undefined
    if (row === undefined) return null
    return keypairFromBytes(this.#box.open(row.sealed, sealPurpose(didKey)))
  }
}

function sealPurpose(didKey: string): string {
  return `held-key:${didKey}`
}

function infoOf(row: HeldKeyRow): HeldKeyInfo {
  return { didKey: row.did_key, purpose: row.purpose, did: row.did, createdAt: row.created_at, addedAt: row.added_at }
}

// --- PLC -----------------------------------------------------------------------------------------

/** A DID's validated PLC log with its state in force. */
export interface PlcView {
  log: PlcAuditEntry[]
  summary: PlcLogSummary
  /** The document data in force (a tombstoned DID is refused by {@link readPlc}). */
  state: PlcDocumentState
}

/**
 * Fetches `PLC_URL/<did>/log/audit` and validates it. Throws `PlcLogInvalidError` for a log that
 * breaks a rule, {@link PlcOperationError} for a tombstoned DID or an unusable answer.
 */
export async function readPlc(plcUrl: string, did: string, fetch: SafeFetch, signal?: AbortSignal): Promise<PlcView> {
  throwIfAborted(signal)
  const url = `${plcUrl.replace(/\/+$/, '')}/${encodeURIComponent(did)}/log/audit`
  const res = await fetch(url, { signal })
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined)
    throw new PlcOperationError(did, res.status === 404 ? 'the PLC directory does not know this DID' : `the PLC directory answered HTTP ${res.status} to ${url}`)
  }
  let log: unknown
  try {
    log = await res.json()
  } catch (err) {
    throw new PlcOperationError(did, 'the PLC directory sent a log that is not JSON', { cause: err })
  }
  const summary = await validatePlcLog(did, log)
  if (summary.state === null) throw new PlcOperationError(did, 'the DID is tombstoned (deactivated for good) in the PLC directory')
  return { log: log as PlcAuditEntry[], summary, state: summary.state }
}

/** An unsigned `plc_operation`. */
export interface UnsignedPlcOperation extends PlcDocumentState {
  type: 'plc_operation'
  /** CID of the operation it follows (the latest in force). */
  prev: string
}

/** A signed operation, as the directory and `submitPlcOperation` take it. */
export type SignedPlcOperation = UnsignedPlcOperation & { sig: string }

/** Signs a PLC operation: the signature covers the DAG-CBOR of the operation without `sig`, base64url without padding. */
export async function signPlcOperation(op: UnsignedPlcOperation, key: HeldKeypair): Promise<SignedPlcOperation> {
  const sig = await key.keypair.sign(encode(op as unknown as LexValue))
  return { ...op, sig: Buffer.from(sig).toString('base64url') }
}

/** CID of a signed operation (what the next operation's `prev` names). */
export async function plcOperationCid(op: SignedPlcOperation): Promise<string> {
  return (await cidForLex(op as unknown as LexValue)).toString()
}

/** Sends a signed operation to the PLC directory (`POST PLC_URL/<did>`). */
export async function sendPlcOperation(plcUrl: string, did: string, op: SignedPlcOperation, fetch: SafeFetch, signal?: AbortSignal): Promise<void> {
  const res = await fetch(`${plcUrl.replace(/\/+$/, '')}/${encodeURIComponent(did)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(op),
    signal,
  })
  if (!res.ok) {
    let detail = ''
    try {
      const body = (await res.json()) as { message?: unknown }
      if (typeof body.message === 'string') detail = `: ${body.message}`
    } catch {
      detail = ''
    }
    throw new PlcOperationError(did, `the PLC directory refused the operation (HTTP ${res.status}${detail})`)
  }
  await res.body?.cancel().catch(() => undefined)
}

// --- Inter-service auth ---------------------------------------------------------------------------

/** What a service auth token says. */
export interface ServiceJwtInit {
  /** The account's DID (issuer). */
  iss: string
  /** The service's DID (audience), e.g. the new PDS's `did:web:…`. */
  aud: string
  /** The one XRPC method it allows, e.g. `com.atproto.server.createAccount`. */
  lxm: string
  /** The account's atproto signing key (the `#atproto` key of its DID document). */
  key: HeldKeypair
  /** Lifetime in seconds. @default 60 */
  ttlSec?: number
  /** @default Date.now */
  now?: () => number
}

/**
 * A service auth JWT (atproto "Inter-Service Authentication"): `ES256K`, signed with the account's
 * signing key, short-lived, bound to one method. Written here rather than taken from
 * `@atproto/xrpc-server`, which is not a runtime dependency of P2PDS.
 */
export async function createServiceJwt(init: ServiceJwtInit): Promise<string> {
  const iat = Math.floor((init.now ?? Date.now)() / 1000)
  const header = { typ: 'JWT', alg: init.key.keypair.jwtAlg }
  const payload = { iat, iss: init.iss, aud: init.aud, exp: iat + (init.ttlSec ?? 60), lxm: init.lxm, jti: randomBytes(16).toString('hex') }
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url')
  const signingInput = `${b64(header)}.${b64(payload)}`
  const sig = await init.key.keypair.sign(Buffer.from(signingInput, 'utf8'))
  return `${signingInput}.${Buffer.from(sig).toString('base64url')}`
}

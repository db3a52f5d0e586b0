/**
 * Secrets at rest (PROTOCOL.md): OAuth sessions, app passwords and held rotation keys are sealed
 * with a 32-byte data key before they reach `pds.db`, so a copy of the data dir alone reveals
 * nothing.
 *
 * Where the data key comes from, first match wins:
 * 1. the host's key store (Electron: `safeStorage`, the OS keychain), given as `hostKeyStore`;
 * 2. `P2PDS_SECRET` (a passphrase, stretched with scrypt and a per-data-dir salt);
 * 3. a key file outside the data dir (`SECRET_KEY_FILE`, default `<config dir>/secret.key`,
 *    created with mode 0600 on first use).
 *
 * Sealing is AES-256-GCM with a random 96-bit nonce; the purpose (e.g. `oauth-session:did:plc:…`)
 * is authenticated data, so a sealed value cannot be moved to another slot and still open.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { SecretKeyError, SecretUnreadableError } from '../errors.js'

/** Prefix of every sealed value; the version lets the format change later. */
const FORMAT = 'p2pds-sealed-v1.'
const KEY_BYTES = 32
const NONCE_BYTES = 12
const TAG_BYTES = 16

/** A host-provided place for the data key (Electron wraps it with `safeStorage`). */
export interface DataKeyStore {
  /** Where the key is kept, in words (shown in `node.info`). */
  readonly description: string
  /** The stored key, or null when none is stored yet. */
  load(): Uint8Array | null
  /** Stores a newly made key. */
  save(key: Uint8Array): void
}

/** Seals and opens secrets with the node's data key. */
export interface SecretBox {
  /** Where the data key comes from, in words. */
  readonly keySource: string
  /** Encrypts `plain` for `purpose`; the result is a printable string. */
  seal(plain: Uint8Array | string, purpose: string): string
  /** Decrypts a value sealed for `purpose`. Throws {@link SecretUnreadableError} otherwise. */
  open(sealed: string, purpose: string): Buffer
  /** {@link open} as UTF-8 text. */
  openText(sealed: string, purpose: string): string
}

export interface SecretBoxInit {
  /** `P2PDS_SECRET`, when set. */
  passphrase?: string
  /** Salt for the passphrase (stable per data dir: see {@link loadOrCreateSalt}). Required with `passphrase`. */
  salt?: Uint8Array
  /** `SECRET_KEY_FILE`. */
  keyFile: string
  /** The host's key store; wins over the others when given. */
  hostKeyStore?: DataKeyStore
}

/** Makes the secret box, creating the data key where needed. Throws {@link SecretKeyError}. */
export function createSecretBox(init: SecretBoxInit): SecretBox {
  const { key, source } = dataKey(init)
  return new AesGcmSecretBox(key, source)
}

/** A random salt kept in `file` (created 0600 when missing). */
export function loadOrCreateSalt(file: string): Buffer {
  if (existsSync(file)) {
    const salt = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex')
    if (salt.length < 16) throw new SecretKeyError(`The salt file ${file} is damaged; remove it only if no secrets are stored yet.`)
    return salt
  }
  const salt = randomBytes(16)
  writePrivateFile(file, salt.toString('hex') + '\n')
  return salt
}

function dataKey(init: SecretBoxInit): { key: Buffer; source: string } {
  if (init.hostKeyStore !== undefined) {
    const store = init.hostKeyStore
    let key = store.load()
    if (key === null) {
      key = randomBytes(KEY_BYTES)
      store.save(key)
    }
    if (key.length !== KEY_BYTES) throw new SecretKeyError(`The data key in ${store.description} has ${key.length} bytes, expected ${KEY_BYTES}.`)
    return { key: Buffer.from(key), source: store.description }
  }
  if (init.passphrase !== undefined) {
    if (init.salt === undefined) throw new SecretKeyError('P2PDS_SECRET needs a salt.')
    return { key: scryptSync(init.passphrase, init.salt, KEY_BYTES), source: 'P2PDS_SECRET' }
  }
  return { key: keyFromFile(init.keyFile), source: `key file ${init.keyFile}` }
}

function keyFromFile(file: string): Buffer {
  try {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8').trim()
      if (!/^[0-9a-f]{64}$/i.test(text)) throw new SecretKeyError(`The key file ${file} does not hold 64 hexadecimal characters.`)
      return Buffer.from(text, 'hex')
    }
    const key = randomBytes(KEY_BYTES)
    writePrivateFile(file, key.toString('hex') + '\n')
    return key
  } catch (err) {
    if (err instanceof SecretKeyError) throw err
    throw new SecretKeyError(`Cannot read or create the key file ${file}: ${(err as Error).message}`, { cause: err })
  }
}

/** Writes a file readable only by the user, atomically (temp file + rename). */
export function writePrivateFile(file: string, content: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, content, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
}

class AesGcmSecretBox implements SecretBox {
  constructor(
    readonly key: Buffer,
    readonly keySource: string,
  ) {}

  seal(plain: Uint8Array | string, purpose: string): string {
    const nonce = randomBytes(NONCE_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce)
    cipher.setAAD(Buffer.from(purpose, 'utf8'))
    const body = Buffer.concat([cipher.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), cipher.final()])
    return FORMAT + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')
  }

  open(sealed: string, purpose: string): Buffer {
    if (!sealed.startsWith(FORMAT)) throw new SecretUnreadableError(purpose)
    const raw = Buffer.from(sealed.slice(FORMAT.length), 'base64url')
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SecretUnreadableError(purpose)
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, NONCE_BYTES))
      decipher.setAAD(Buffer.from(purpose, 'utf8'))
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()])
    } catch {
      throw new SecretUnreadableError(purpose)
    }
  }

  openText(sealed: string, purpose: string): string {
    return this.open(sealed, purpose).toString('utf8')
  }
}

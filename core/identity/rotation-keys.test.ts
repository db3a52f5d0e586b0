import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifySignature } from '@atproto/crypto'
import { encode } from '@atproto/lex-cbor'
import { afterEach, describe, expect, it } from 'vitest'
import { createSecretBox } from '../auth/secret-box.js'
import { openDatabase } from '../storage/database.js'
import { migrate } from '../storage/migrations.js'
import {
  createServiceJwt,
  generateRotationKey,
  HeldKeyStore,
  parseRotationKey,
  readRotationKeyFile,
  rotationKeyFileText,
  rotationKeyPhrase,
  signPlcOperation,
  writeRotationKeyFile,
} from './rotation-keys.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pds-rotkey-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('rotation key forms', () => {
  it('a new key reads back the same from its phrase and from its key file', async () => {
    const key = await generateRotationKey()
    expect(key.didKey).toMatch(/^did:key:zQ3s/) // secp256k1 multikey prefix
    const phrase = rotationKeyPhrase(key.privateKey)
    expect(phrase.split(' ')).toHaveLength(24)
    expect((await parseRotationKey(phrase)).didKey).toBe(key.didKey)
    // Case, extra spaces and line breaks do not matter in a phrase typed back.
    expect((await parseRotationKey(`  ${phrase.toUpperCase().replace(/ /g, '\n ')} `)).didKey).toBe(key.didKey)
    const file = rotationKeyFileText(key.privateKey)
    expect(file).toMatch(/^[0-9a-f]{64}\n$/)
    expect((await parseRotationKey(file)).didKey).toBe(key.didKey)
  })

  it('refuses what is not a key, saying why', async () => {
    await expect(parseRotationKey('')).rejects.toMatchObject({ code: 'ERR_INVALID_ROTATION_KEY' })
    await expect(parseRotationKey('ab'.repeat(31))).rejects.toThrow(/64 hexadecimal characters/)
    await expect(parseRotationKey('00'.repeat(32))).rejects.toThrow(/not a valid secp256k1 private key/)
    await expect(parseRotationKey('ff'.repeat(32))).rejects.toThrow(/not a valid secp256k1 private key/)
    const phrase = rotationKeyPhrase((await generateRotationKey()).privateKey).split(' ')
    await expect(parseRotationKey(phrase.slice(0, 12).join(' '))).rejects.toThrow(/12 words, not 24/)
    // Swapping two words breaks the checksum.
    const swapped = [...phrase]
    ;[swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!]
    if (swapped.join(' ') !== phrase.join(' ')) await expect(parseRotationKey(swapped.join(' '))).rejects.toThrow(/checksum/)
    await expect(parseRotationKey([...phrase.slice(0, 23), 'notaword'].join(' '))).rejects.toThrow(/not in the list/)
  })

  it('writes the key file with mode 0600 and never over an existing file', async () => {
    const dir = tempDir()
    const key = await generateRotationKey()
    const path = join(dir, 'alice.key')
    writeRotationKeyFile(path, key.privateKey)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8')).toBe(rotationKeyFileText(key.privateKey))
    expect((await readRotationKeyFile(path)).didKey).toBe(key.didKey)
    const other = await generateRotationKey()
    expect(() => writeRotationKeyFile(path, other.privateKey)).toThrow(/already exists/)
    expect((await readRotationKeyFile(path)).didKey).toBe(key.didKey)
    await expect(readRotationKeyFile(join(dir, 'missing.key'))).rejects.toThrow(/cannot read .*ENOENT/)
    writeFileSync(join(dir, 'bad.key'), 'hello\n')
    await expect(readRotationKeyFile(join(dir, 'bad.key'))).rejects.toMatchObject({ code: 'ERR_INVALID_ROTATION_KEY' })
  })
})

describe('HeldKeyStore', () => {
  it('keeps keys sealed: the database holds no key bytes, and another data key cannot open them', async () => {
    const dir = tempDir()
    const db = openDatabase(join(dir, 'pds.db'))
    migrate(db)
    const box = createSecretBox({ keyFile: join(dir, 'secret.key') })
    let made = 0
    const store = new HeldKeyStore({ db, secretBox: () => (made++, box), now: () => 1000 })
    expect(made).toBe(0) // no data key until a key is held
    const key = await generateRotationKey()
    const info = store.save(key, 'rotation', 'did:plc:abcdefghijklmnopqrstuvwx')
    expect(info).toEqual({ didKey: key.didKey, purpose: 'rotation', did: 'did:plc:abcdefghijklmnopqrstuvwx', createdAt: 1000, addedAt: null })
    expect(made).toBe(1)
    const raw = JSON.stringify(db.prepare('SELECT * FROM held_keys').all())
    expect(raw).not.toContain(Buffer.from(key.privateKey).toString('hex'))
    expect(raw).not.toContain(Buffer.from(key.privateKey).toString('base64'))
    expect((await store.get(key.didKey))!.privateKey).toEqual(key.privateKey)
    expect(await store.get('did:key:zQ3shNotHeld')).toBeNull()

    const other = new HeldKeyStore({ db, secretBox: createSecretBox({ keyFile: join(dir, 'other.key') }) })
    await expect(other.get(key.didKey)).rejects.toMatchObject({ code: 'ERR_SECRET_UNREADABLE' })
    store.markAdded(key.didKey, 'did:plc:abcdefghijklmnopqrstuvwx')
    expect(store.list('rotation')[0]!.addedAt).toBe(1000)
    expect(store.list('signing')).toEqual([])
    db.close()
  })
})

describe('signatures', () => {
  it('a PLC operation is signed over its DAG-CBOR without sig, in unpadded base64url', async () => {
    const key = await generateRotationKey()
    const unsigned = {
      type: 'plc_operation' as const,
      rotationKeys: [key.didKey],
      verificationMethods: { atproto: key.didKey },
      alsoKnownAs: ['at://alice.test'],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example' } },
      prev: 'bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5pq2d4hqgbqlrxe',
    }
    const signed = await signPlcOperation(unsigned, key)
    expect(signed.sig).toMatch(/^[A-Za-z0-9_-]{86}$/)
    expect(await verifySignature(key.didKey, encode(unsigned), Buffer.from(signed.sig, 'base64url'))).toBe(true)
    expect(await verifySignature(key.didKey, encode({ ...unsigned, prev: null }), Buffer.from(signed.sig, 'base64url'))).toBe(false)
  })

  it('a service auth token names issuer, audience and method, expires, and verifies with the key', async () => {
    const key = await generateRotationKey()
    const jwt = await createServiceJwt({ iss: 'did:plc:abc', aud: 'did:web:pds.example', lxm: 'com.atproto.server.createAccount', key, now: () => 1_700_000_000_000 })
    const [h, p, s] = jwt.split('.')
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({ typ: 'JWT', alg: 'ES256K' })
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString())
    expect(payload).toMatchObject({ iss: 'did:plc:abc', aud: 'did:web:pds.example', lxm: 'com.atproto.server.createAccount', iat: 1_700_000_000, exp: 1_700_000_060 })
    expect(await verifySignature(key.didKey, Buffer.from(`${h}.${p}`), Buffer.from(s!, 'base64url'))).toBe(true)
  })
})

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createSecretBox, loadOrCreateSalt, type DataKeyStore } from './secret-box.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pds-secret-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('secret box', () => {
  it('creates a 0600 key file on first use and opens what it sealed after a restart', () => {
    const keyFile = join(tempDir(), 'config', 'secret.key')
    const sealed = createSecretBox({ keyFile }).seal('refresh-token-123', 'oauth-session:did:plc:a')
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    expect(sealed).not.toContain('refresh-token-123')
    const again = createSecretBox({ keyFile })
    expect(again.openText(sealed, 'oauth-session:did:plc:a')).toBe('refresh-token-123')
    expect(again.keySource).toContain(keyFile)
  })

  it('refuses a value moved to another purpose, altered, or sealed with another key', () => {
    const box = createSecretBox({ keyFile: join(tempDir(), 'k') })
    const sealed = box.seal('x', 'a')
    expect(() => box.open(sealed, 'b')).toThrow(/cannot be decrypted/)
    const flipped = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'B' : 'A') + sealed.slice(-1)
    expect(() => box.open(flipped, 'a')).toThrow(expect.objectContaining({ code: 'ERR_SECRET_UNREADABLE' }))
    expect(() => box.open('plain text', 'a')).toThrow(expect.objectContaining({ code: 'ERR_SECRET_UNREADABLE' }))
    const other = createSecretBox({ keyFile: join(tempDir(), 'k2') })
    expect(() => other.open(sealed, 'a')).toThrow(expect.objectContaining({ code: 'ERR_SECRET_UNREADABLE' }))
  })

  it('derives the key from P2PDS_SECRET with a stable per-data-dir salt', () => {
    const dir = tempDir()
    const salt = loadOrCreateSalt(join(dir, 'secret.salt'))
    expect(loadOrCreateSalt(join(dir, 'secret.salt')).equals(salt)).toBe(true)
    const a = createSecretBox({ passphrase: 'correct horse battery staple', salt, keyFile: join(dir, 'unused') })
    const sealed = a.seal(new Uint8Array([1, 2, 3]), 'rotation-key')
    const b = createSecretBox({ passphrase: 'correct horse battery staple', salt, keyFile: join(dir, 'unused') })
    expect([...b.open(sealed, 'rotation-key')]).toEqual([1, 2, 3])
    const wrong = createSecretBox({ passphrase: 'another passphrase!!', salt, keyFile: join(dir, 'unused') })
    expect(() => wrong.open(sealed, 'rotation-key')).toThrow(/cannot be decrypted/)
    expect(a.keySource).toBe('P2PDS_SECRET')
  })

  it('keeps the data key in the host key store when one is given (the keychain in Electron)', () => {
    let stored: Uint8Array | null = null
    const store: DataKeyStore = { description: 'test key store', load: () => stored, save: (k) => void (stored = k) }
    const sealed = createSecretBox({ hostKeyStore: store, keyFile: join(tempDir(), 'unused') }).seal('s', 'p')
    expect(stored).not.toBeNull()
    expect(createSecretBox({ hostKeyStore: store, keyFile: join(tempDir(), 'unused') }).openText(sealed, 'p')).toBe('s')
  })

  it('refuses a damaged key file with a sentence and leaves it untouched', () => {
    const keyFile = join(tempDir(), 'secret.key')
    writeFileSync(keyFile, 'not a key')
    expect(() => createSecretBox({ keyFile })).toThrow(/does not hold 64 hexadecimal characters/)
    expect(readFileSync(keyFile, 'utf8')).toBe('not a key')
  })
})

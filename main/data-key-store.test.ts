/**
 * Electron cannot start on these machines, so `safeStorage` is replaced by a stand-in that
 * wraps with a fixed XOR (named as such below); the file handling and fallbacks are real.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createSecretBox } from '../core/auth/secret-box.js'
import { createSafeStorageKeyStore, DATA_KEY_FILE, type KeychainApi } from './data-key-store.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function standInSafeStorage(backend: 'gnome_libsecret' | 'basic_text' = 'gnome_libsecret', available = true): KeychainApi {
  const xor = (b: Buffer) => Buffer.from(b.map((x) => x ^ 0x5a))
  return {
    isEncryptionAvailable: () => available,
    getSelectedStorageBackend: () => backend,
    encryptString: (s: string) => xor(Buffer.from(s, 'utf8')),
    decryptString: (b: Buffer) => xor(b).toString('utf8'),
  }
}

describe('data key kept with safeStorage (stand-in for Electron safeStorage)', () => {
  it('stores the key only wrapped, 0600, and gives the same key after a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-keychain-'))
    dirs.push(dir)
    const store = createSafeStorageKeyStore(standInSafeStorage(), dir, 'linux')!
    expect(store).toBeDefined()
    const sealed = createSecretBox({ hostKeyStore: store, keyFile: join(dir, 'unused') }).seal('token', 'p')
    const file = join(dir, DATA_KEY_FILE)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const key = store.load()!
    expect(key.length).toBe(32)
    expect(readFileSync(file).toString('utf8')).not.toContain(Buffer.from(key).toString('hex'))
    const again = createSafeStorageKeyStore(standInSafeStorage(), dir, 'linux')!
    expect(createSecretBox({ hostKeyStore: again, keyFile: join(dir, 'unused') }).openText(sealed, 'p')).toBe('token')
  })

  it('declines when there is no real keychain (unavailable, or Linux basic_text)', () => {
    expect(createSafeStorageKeyStore(standInSafeStorage('gnome_libsecret', false), '/nonexistent', 'linux')).toBeUndefined()
    expect(createSafeStorageKeyStore(standInSafeStorage('basic_text'), '/nonexistent', 'linux')).toBeUndefined()
    expect(createSafeStorageKeyStore(standInSafeStorage('basic_text'), '/nonexistent', 'darwin')).toBeDefined()
  })
})

/**
 * The data key of secrets at rest (core/auth/secret-box.ts), kept with Electron's `safeStorage`
 * (macOS Keychain, Windows DPAPI, libsecret/KWallet on Linux): the file in userData holds the key
 * only as `safeStorage` encrypted it, so neither it nor a copy of the data dir reveals the key.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SafeStorage } from 'electron'
import { writePrivateFile, type DataKeyStore } from '../core/auth/secret-box.js'

/** The file in userData holding the wrapped data key. */
export const DATA_KEY_FILE = 'data-key.safe'

/** The parts of Electron's `safeStorage` used here. */
export type KeychainApi = Pick<SafeStorage, 'isEncryptionAvailable' | 'encryptString' | 'decryptString'> &
  Partial<Pick<SafeStorage, 'getSelectedStorageBackend'>>

/**
 * A {@link DataKeyStore} over `safeStorage`, or undefined when the OS offers no real keychain
 * (encryption unavailable, or Linux's `basic_text` fallback, which is a fixed password): the node
 * then uses P2PDS_SECRET or the key file, as headless.
 */
export function createSafeStorageKeyStore(safeStorage: KeychainApi, userDataDir: string, platform: NodeJS.Platform = process.platform): DataKeyStore | undefined {
  if (!safeStorage.isEncryptionAvailable()) return undefined
  if (platform === 'linux' && safeStorage.getSelectedStorageBackend?.() === 'basic_text') return undefined
  const file = join(userDataDir, DATA_KEY_FILE)
  return {
    description: 'the system keychain (Electron safeStorage)',
    load() {
      if (!existsSync(file)) return null
      // The key is stored as hex text inside the safeStorage envelope.
      return Buffer.from(safeStorage.decryptString(readFileSync(file)), 'hex')
    },
    save(key) {
      writePrivateFile(file, safeStorage.encryptString(Buffer.from(key).toString('hex')))
    },
  }
}

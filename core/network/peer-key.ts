/**
 * The node's libp2p private key, kept in the data dir (`libp2p.key`, protobuf, mode 0600) so the
 * PeerID stays the same across restarts. Written atomically (temp file + rename).
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { PeerKeyError } from '../errors.js'

/** Name of the key file inside the data dir. */
export const PEER_KEY_FILE = 'libp2p.key'

/** Loads the key from `dataDir/libp2p.key`, creating an Ed25519 key the first time. */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, PEER_KEY_FILE)
  if (existsSync(file)) {
    try {
      return privateKeyFromProtobuf(readFileSync(file))
    } catch (err) {
      throw new PeerKeyError(file, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
  return key
}

/** The PeerID string of a key. */
export function peerIdOf(key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

/**
 * Checks a signature made with the key a PeerID names (Ed25519 and secp256k1 PeerIDs embed their
 * public key). False for a malformed PeerID or signature.
 */
export async function verifyPeerSignature(peerId: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    const id = peerIdFromString(peerId)
    if (id.publicKey === undefined) return false
    return await id.publicKey.verify(data, signature)
  } catch {
    return false
  }
}

export { isPeerId } from './peer-id.js'

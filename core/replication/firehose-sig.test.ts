import { P256Keypair, Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { describe, expect, it } from 'vitest'
import { readJsonFixture } from '../testing/fixtures.js'
import { verifyCommitSignature } from './firehose-sig.js'

interface SigCase {
  comment: string
  messageBase64: string
  algorithm: string
  publicKeyDid: string
  signatureBase64: string
  validSignature: boolean
  tags: string[]
}

describe('verifyCommitSignature', () => {
  const cases = readJsonFixture<SigCase[]>('interop/crypto/signature-fixtures.json')
  it.each(cases.map((c) => [`${c.algorithm} ${c.validSignature ? 'valid' : c.tags.join(',')}`, c] as const))('interop vector: %s', (_, c) => {
    const msg = Buffer.from(c.messageBase64, 'base64')
    const sig = Buffer.from(c.signatureBase64, 'base64')
    expect(verifyCommitSignature(c.publicKeyDid, msg, sig)).toBe(c.validSignature)
  })

  it('agrees with @atproto/crypto on fresh keys of both curves, and refuses another key, another message and bad keys', async () => {
    for (const kp of [await Secp256k1Keypair.create(), await P256Keypair.create()]) {
      const other = kp.jwtAlg === 'ES256K' ? await Secp256k1Keypair.create() : await P256Keypair.create()
      for (let i = 0; i < 20; i++) {
        const msg = Buffer.from(`commit ${i}`)
        const sig = await kp.sign(msg)
        expect(verifyCommitSignature(kp.did(), msg, sig)).toBe(await verifySignature(kp.did(), msg, sig))
        expect(verifyCommitSignature(kp.did(), msg, sig)).toBe(true)
        expect(verifyCommitSignature(other.did(), msg, sig)).toBe(false)
        expect(verifyCommitSignature(kp.did(), Buffer.from(`commit ${i}!`), sig)).toBe(false)
      }
    }
    const kp = await Secp256k1Keypair.create()
    const sig = await kp.sign(Buffer.from('x'))
    expect(verifyCommitSignature('did:key:zNotAKey', Buffer.from('x'), sig)).toBe(false)
    expect(verifyCommitSignature(kp.did(), Buffer.from('x'), sig.subarray(0, 63))).toBe(false)
  })
})

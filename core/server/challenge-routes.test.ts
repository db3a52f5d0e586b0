// The HTTP fallback of storage challenges on the peer-facing app: limits and refusals. (Honest and
// hostile answers over HTTP between real nodes: ../replication/challenge-nodes.test.ts.)
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { peerIdOf } from '../network/peer-key.js'
import { buildChallenge } from '../replication/challenge.js'
import { openTempStorage, type TempStorage } from '../storage/test-helpers.js'
import { MAX_CHALLENGE_BODY, mountChallengeRoutes } from './challenge-routes.js'
import { createPeerApp } from './peer-server.js'

const open: TempStorage[] = []
afterEach(() => {
  for (const s of open.splice(0)) s.close()
})

async function app(rateLimitEnabled: boolean) {
  const storage = openTempStorage()
  open.push(storage)
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdOf(key)
  const a = createPeerApp({ host: '127.0.0.1', port: 0, version: 'test', rateLimitEnabled: false })
  mountChallengeRoutes(a, { blocks: storage.blocks, peerId, sign: async (d) => key.sign(d) }, () => ['/ip4/127.0.0.1/tcp/1/p2p/' + peerId], { rateLimitEnabled, rateLimit: { capacity: 2, refillPerSec: 0.001 } })
  return { a, peerId }
}

const post = (body: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body })

describe('org.p2pds.challenge.*', () => {
  it('describe names the PeerID that signs answers', async () => {
    const { a, peerId } = await app(false)
    const res = await a.request('/xrpc/org.p2pds.challenge.describe')
    expect(await res.json()).toEqual({ peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/1/p2p/${peerId}`] })
  })

  it('refuses malformed, misaddressed and oversized challenges with a reason', async () => {
    const { a, peerId } = await app(false)
    const notJson = await a.request('/xrpc/org.p2pds.challenge.create', post('{'))
    expect(notJson.status).toBe(400)
    expect(await notJson.json()).toMatchObject({ error: 'InvalidChallenge' })
    const c = buildChallenge({ level: 'L2', challenger: 'did:plc:x', target: 'did:plc:abcdefghijklmnopqrstuvwx', responder: 'someone-else', commit: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', rev: '3ljlyqit2uk2l', candidates: ['bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'] })
    const wrong = await a.request('/xrpc/org.p2pds.challenge.create', post(JSON.stringify(c)))
    expect(wrong.status).toBe(400)
    expect(((await wrong.json()) as { message: string }).message).toMatch(/addressed to someone-else/)
    const ok = await a.request('/xrpc/org.p2pds.challenge.create', post(JSON.stringify({ ...c, responder: peerId })))
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ responder: peerId, blocks: [] })
    const big = await a.request('/xrpc/org.p2pds.challenge.create', post('x'.repeat(MAX_CHALLENGE_BODY + 1)))
    expect(big.status).toBe(413)
  })

  it('limits how often one client may challenge', async () => {
    const { a } = await app(true)
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await a.request('/xrpc/org.p2pds.challenge.create', post('{}'))).status)
    expect(statuses).toEqual([400, 400, 429])
  })
})

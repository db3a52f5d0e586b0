// Storage challenges at the protocol level: deterministic generation, and hostile responder
// stand-ins (each a real libp2p node on loopback, answering from a real copy of a real repo,
// misbehaving on purpose: replaying, forwarding, signing with another key, altering a block,
// answering late). Each must fail with its own clear reason; an honest responder passes.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HeliaNetworkService } from '../network/helia-network.js'
import { SqlitePeerDirectory } from '../network/peer-directory.js'
import { peerIdOf } from '../network/peer-key.js'
import { PROTOCOLS, type ProtocolHandler } from '../network/types.js'
import { openTempStorage, type TempStorage } from '../storage/test-helpers.js'
import { createAccount, populateAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import {
  buildChallenge,
  challengeDigest,
  checkResponse,
  responseSigningBytes,
  sampleIndices,
  type StorageChallenge,
  type StorageChallengeResponse,
} from './challenge.js'
import { ChallengeHistory } from './challenge-history.js'
import { answerChallenge } from './challenge-responder.js'
import { ChallengeService } from './challenge-service.js'
import { syncRepo } from './repo-sync.js'
import { resolveIdentity } from './test-helpers.js'
import { mulberry32 } from './verify.js'

let net: TestNetwork
let alice: TestAccount
let copyA: TempStorage
let copyB: TempStorage
const services: HeliaNetworkService[] = []

async function startService(storage: TempStorage, key?: Awaited<ReturnType<typeof generateKeyPair>>): Promise<HeliaNetworkService> {
  const s = new HeliaNetworkService({ blocks: storage.blocks, privateKey: key ?? (await generateKeyPair('Ed25519')), listenAddrs: ['/ip4/127.0.0.1/tcp/0'] })
  await s.start()
  services.push(s)
  return s
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
const parse = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as unknown

/** The honest answer of a node holding `storage`, as the node's own handler gives it. */
function honest(service: HeliaNetworkService, storage: TempStorage): ProtocolHandler {
  return async (bytes) => json(await answerChallenge({ blocks: storage.blocks, peerId: service.peerId, sign: (d) => service.sign(d) }, parse(bytes)))
}

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  await populateAccount(alice, { posts: 40 })
  const id = await resolveIdentity(net, alice.did)
  copyA = openTempStorage()
  copyB = openTempStorage()
  await syncRepo(copyA, id)
  await syncRepo(copyB, id)
}, 180_000)

afterAll(async () => {
  for (const s of services.splice(0)) await s.stop()
  copyA?.close()
  copyB?.close()
  await net?.close()
})

/** A challenger over copy A, with a seeded nonce source and its own peer list and history. */
async function challenger(opts: { deadlineMs?: number } = {}) {
  const network = await startService(copyA)
  const peers = new SqlitePeerDirectory({ db: copyA.db })
  const random = mulberry32(99)
  const service = new ChallengeService({
    storage: copyA,
    peers,
    history: new ChallengeHistory(copyA.db),
    network,
    fetch: globalThis.fetch,
    nonce: () => Buffer.from(Array.from({ length: 16 }, () => Math.floor(random() * 256))).toString('base64url'),
    deadlineMs: opts.deadlineMs,
  })
  return { network, peers, service }
}

/** Adds a responder as a peer holding alice, and challenges it once per level. */
async function challenge(c: Awaited<ReturnType<typeof challenger>>, responder: HeliaNetworkService) {
  const entry = await c.peers.add({ multiaddrs: responder.info().multiaddrs.slice(0, 1), dids: [alice.did] })
  return c.service.run(alice.did, entry.id)
}

describe('generation', () => {
  it('draws the same sample from the same (epoch, challenger, target, nonce), another from another nonce', () => {
    const candidates = Array.from({ length: 500 }, (_, i) => `c${i}`)
    const base = { level: 'L2' as const, challenger: 'did:plc:a', target: 'did:plc:b', responder: 'p', commit: 'x', rev: 'r', candidates, now: 1_700_000_000_000 }
    const one = buildChallenge({ ...base, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' })
    const two = buildChallenge({ ...base, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' })
    const other = buildChallenge({ ...base, nonce: 'BBBBBBBBBBBBBBBBBBBBBB' })
    const laterEpoch = buildChallenge({ ...base, nonce: 'AAAAAAAAAAAAAAAAAAAAAA', now: base.now + 2 * 3_600_000 })
    expect(one.cids).toEqual(two.cids)
    expect(one.cids).toHaveLength(16)
    expect(new Set(one.cids).size).toBe(16)
    expect(other.cids).not.toEqual(one.cids)
    expect(laterEpoch.cids).not.toEqual(one.cids)
    // At most k, and never more than there are.
    expect(sampleIndices(new Uint8Array(32), 5, 16).sort()).toEqual([0, 1, 2, 3, 4])
    expect(buildChallenge({ ...base, samples: 1000 }).cids).toHaveLength(64)
  })
})

describe('responders', () => {
  it('an honest responder passes L2 and L3', async () => {
    const c = await challenger()
    const b = await startService(copyB)
    await b.handle(PROTOCOLS.challenge, honest(b, copyB))
    const results = await challenge(c, b)
    expect(results.map((r) => [r.level, r.ok, r.transport])).toEqual([
      ['L2', true, 'libp2p'],
      ['L3', true, 'libp2p'],
    ])
  }, 30_000)

  it('a replayed answer (an old answer sent again) is rejected: wrong-challenge', async () => {
    const c = await challenger()
    const r = await startService(copyB)
    let first: Uint8Array | undefined
    const inner = honest(r, copyB)
    // Stand-in: answers the first challenge honestly, then replays that answer.
    await r.handle(PROTOCOLS.challenge, async (bytes, from) => {
      first ??= await inner(bytes, from)
      return first
    })
    const entry = await c.peers.add({ multiaddrs: r.info().multiaddrs.slice(0, 1), dids: [alice.did] })
    const [firstRound] = await c.service.run(alice.did, entry.id, { levels: ['L2'] })
    const [replayed] = await c.service.run(alice.did, entry.id, { levels: ['L2'] })
    expect(firstRound).toMatchObject({ ok: true })
    expect(replayed).toMatchObject({ ok: false, reason: 'wrong-challenge' })
    expect(replayed!.message).toMatch(/replayed/)
  }, 30_000)

  it('an answer for the wrong nonce, or arriving from another peer (forwarded), is rejected', async () => {
    const b = await startService(copyB)
    const head = (await copyA.repos.getAccount(alice.did))!.head!
    const c1 = buildChallenge({ level: 'L2', challenger: 'did:plc:x', target: alice.did, responder: b.peerId, commit: head.cid, rev: head.rev, candidates: [head.cid, head.dataCid] })
    const answer = await answerChallenge({ blocks: copyB.blocks, peerId: b.peerId, sign: (d) => b.sign(d) }, c1)
    const at = { transportPeerId: b.peerId, receivedAt: Date.now() }
    expect(await checkResponse(c1, answer, at)).toMatchObject({ ok: true })
    const otherNonce: StorageChallenge = { ...c1, nonce: 'ZZZZZZZZZZZZZZZZZZZZZZ' }
    expect(await checkResponse(otherNonce, answer, at)).toMatchObject({ ok: false, reason: 'wrong-challenge' })
    const forwarder = peerIdOf(await generateKeyPair('Ed25519'))
    expect(await checkResponse(c1, answer, { ...at, transportPeerId: forwarder })).toMatchObject({ ok: false, reason: 'wrong-responder' })
    expect(await checkResponse(c1, answer, { ...at, receivedAt: c1.deadline + 1 })).toMatchObject({ ok: false, reason: 'late' })
    expect(await checkResponse(c1, { nonsense: true }, at)).toMatchObject({ ok: false, reason: 'malformed' })
  }, 30_000)

  it('a forwarding peer (holding nothing, relaying to one that does) fails', async () => {
    const c = await challenger()
    const b = await startService(copyB)
    await b.handle(PROTOCOLS.challenge, honest(b, copyB))
    const empty = openTempStorage()
    try {
      const f = await startService(empty)
      // Stand-in: re-addresses the challenge to B, and returns B's answer as its own.
      await f.handle(PROTOCOLS.challenge, async (bytes) => {
        const challengeForB = { ...(parse(bytes) as StorageChallenge), responder: b.peerId }
        return (await f.request({ peerId: b.peerId, multiaddrs: b.info().multiaddrs }, PROTOCOLS.challenge, json(challengeForB))).bytes
      })
      const results = await challenge(c, f)
      expect(results.map((r) => r.reason)).toEqual(['wrong-challenge', 'wrong-challenge'])
    } finally {
      empty.close()
    }
  }, 30_000)

  it('an answer signed with another key than the responder PeerID names is rejected: bad-signature', async () => {
    const c = await challenger()
    const d = await startService(copyB)
    const otherKey = await generateKeyPair('Ed25519')
    // Stand-in: the right blocks, the right PeerID in the body, signed with some other key.
    await d.handle(PROTOCOLS.challenge, async (bytes) =>
      json(await answerChallenge({ blocks: copyB.blocks, peerId: d.peerId, sign: async (x) => otherKey.sign(x) }, parse(bytes))),
    )
    const results = await challenge(c, d)
    expect(results.map((r) => r.reason)).toEqual(['bad-signature', 'bad-signature'])
  }, 30_000)

  it('an altered block, even in a properly signed answer, is caught: corrupt-block', async () => {
    const c = await challenger()
    const e = await startService(copyB)
    await e.handle(PROTOCOLS.challenge, async (bytes) => {
      const challengeIn = parse(bytes) as StorageChallenge
      const real = await answerChallenge({ blocks: copyB.blocks, peerId: e.peerId, sign: (x) => e.sign(x) }, challengeIn)
      if (real.blocks === undefined) return json(real)
      const flipped = Buffer.from(real.blocks[0]!.bytes, 'base64')
      flipped[flipped.length - 1]! ^= 1
      const unsigned: Omit<StorageChallengeResponse, 'signature'> = { v: 1, challenge: challengeDigest(challengeIn), responder: e.peerId, blocks: [{ cid: real.blocks[0]!.cid, bytes: flipped.toString('base64') }, ...real.blocks.slice(1)] }
      return json({ ...unsigned, signature: Buffer.from(await e.sign(responseSigningBytes(unsigned))).toString('base64') })
    })
    const [l2] = await c.service.run(alice.did, (await c.peers.add({ multiaddrs: e.info().multiaddrs.slice(0, 1), dids: [alice.did] })).id, { levels: ['L2'] })
    expect(l2).toMatchObject({ ok: false, reason: 'corrupt-block' })
  }, 30_000)

  it('an answer after the deadline (a slow responder stand-in) fails: late', async () => {
    const c = await challenger({ deadlineMs: 800 })
    const s = await startService(copyB)
    const inner = honest(s, copyB)
    await s.handle(PROTOCOLS.challenge, async (bytes, from) => {
      await new Promise((r) => setTimeout(r, 1500))
      return inner(bytes, from)
    })
    const [l2] = await c.service.run(alice.did, (await c.peers.add({ multiaddrs: s.info().multiaddrs.slice(0, 1), dids: [alice.did] })).id, { levels: ['L2'] })
    expect(l2).toMatchObject({ ok: false, reason: 'late' })
  }, 30_000)

  it('a responder refuses a challenge addressed to another PeerID or past its deadline', async () => {
    const b = await startService(copyB)
    const head = (await copyA.repos.getAccount(alice.did))!.head!
    const base = { level: 'L2' as const, challenger: 'did:plc:x', target: alice.did, commit: head.cid, rev: head.rev, candidates: [head.cid] }
    const init = { blocks: copyB.blocks, peerId: b.peerId, sign: (d: Uint8Array) => b.sign(d) }
    await expect(answerChallenge(init, buildChallenge({ ...base, responder: 'someone-else' }))).rejects.toMatchObject({ code: 'ERR_INVALID_CHALLENGE' })
    await expect(answerChallenge(init, buildChallenge({ ...base, responder: b.peerId, now: Date.now() - 60_000 }))).rejects.toMatchObject({ code: 'ERR_INVALID_CHALLENGE', message: /deadline/ })
    await expect(answerChallenge(init, { ...buildChallenge({ ...base, responder: b.peerId }), cids: Array(65).fill(head.cid) })).rejects.toMatchObject({ code: 'ERR_INVALID_CHALLENGE' })
  })
})

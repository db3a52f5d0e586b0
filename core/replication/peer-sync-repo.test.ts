// Peer-first repository sync over /p2pds/repo/1.0.0 between real libp2p nodes on loopback, each
// over a real SQLite store, against the real local atproto network (PLC + PDS).
import { verifyRepoCar } from '@atproto/repo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HeliaNetworkService } from '../network/helia-network.js'
import { PROTOCOLS } from '../network/types.js'
import { openTempStorage, type TempStorage } from '../storage/test-helpers.js'
import type { AccountIdentity } from '../storage/types.js'
import { createAccount, populateAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { exportCar } from './export.js'
import { peerFirstSync, serveRepos } from './peer-sync-repo.js'
import { syncRepo } from './repo-sync.js'
import { addPosts, collectBytes, fetchRepoCar, pdsRecords, resolveIdentity } from './test-helpers.js'

let net: TestNetwork
let alice: TestAccount
let identity: AccountIdentity
let holder: TempStorage
let holderNet: HeliaNetworkService
const cleanup: Array<() => Promise<void> | void> = []

async function service(storage: TempStorage): Promise<HeliaNetworkService> {
  const s = new HeliaNetworkService({ blocks: storage.blocks, privateKey: await generateKeyPair('Ed25519'), listenAddrs: ['/ip4/127.0.0.1/tcp/0'] })
  await s.start()
  cleanup.push(() => s.stop())
  return s
}

function fresh(): TempStorage {
  const s = openTempStorage()
  cleanup.push(() => s.close())
  return s
}

const target = (s: HeliaNetworkService) => ({ peerId: s.peerId, multiaddrs: s.info().multiaddrs })

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  await populateAccount(alice, { posts: 60 })
  identity = await resolveIdentity(net, alice.did)
  holder = fresh()
  await syncRepo(holder, identity)
  holderNet = await service(holder)
  await serveRepos(holderNet, holder)
}, 180_000)

afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
  await net?.close()
})

describe('peer-first sync', () => {
  it('with the PDS unreachable, a peer serves a byte-identical repo that verifies like one from the PDS', async () => {
    const local = fresh()
    const me = await service(local)
    // The account's PDS is gone for this node: a closed port.
    const gone = { ...identity, pdsUrl: 'http://127.0.0.1:1' }
    const result = await peerFirstSync(local, gone, { network: me, peers: [target(holderNet)], fetch: globalThis.fetch })
    expect(result.source).toEqual({ kind: 'peer', peerId: holderNet.peerId })
    expect(result.mode).toBe('full')
    const mine = await collectBytes((await exportCar(local, alice.did)).car)
    const theirs = await collectBytes((await exportCar(holder, alice.did)).car)
    expect(mine.equals(theirs)).toBe(true)
    const verified = await verifyRepoCar(mine, alice.did, identity.signingKey)
    expect(verified.creates.length).toBe((await pdsRecords(net.pdsUrl, alice.did)).size)
  }, 60_000)

  it('falls back to the PDS when the peer stops mid-transfer, and says so', async () => {
    const local = fresh()
    const me = await service(local)
    // Stand-in for a peer that goes away mid-transfer: half of a real CAR, then the stream breaks.
    const quitter = await service(holder)
    const full = await collectBytes((await exportCar(holder, alice.did)).car)
    await quitter.handleStream(PROTOCOLS.repo, async () =>
      (async function* () {
        yield full.subarray(0, full.length >> 1)
        throw new Error('peer went away')
      })(),
    )
    const failures: string[] = []
    const result = await peerFirstSync(local, identity, { network: me, peers: [target(quitter)], fetch: globalThis.fetch, onPeerFailed: (id) => failures.push(id) })
    expect(failures).toEqual([quitter.peerId])
    expect(result.source).toEqual({ kind: 'pds', url: identity.pdsUrl })
    expect((await collectBytes((await exportCar(local, alice.did)).car)).equals(full)).toBe(true)
  }, 60_000)

  it('refuses a peer that serves altered data, storing nothing from it, and takes the PDS copy', async () => {
    const local = fresh()
    const me = await service(local)
    const full = await collectBytes((await exportCar(holder, alice.did)).car)
    const bad = Buffer.from(full)
    bad[bad.length - 10]! ^= 0xff
    const liar = await service(holder)
    await liar.handleStream(PROTOCOLS.repo, async () =>
      (async function* () {
        yield bad
      })(),
    )
    const gone = { ...identity, pdsUrl: 'http://127.0.0.1:1' }
    await expect(peerFirstSync(local, gone, { network: me, peers: [target(liar)], fetch: globalThis.fetch })).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) })
    expect(await local.repos.getAccount(alice.did).then((a) => a?.head ?? null)).toBeNull()
    const result = await peerFirstSync(local, identity, { network: me, peers: [target(liar)], fetch: globalThis.fetch })
    expect(result.source.kind).toBe('pds')
    expect((await collectBytes((await exportCar(local, alice.did)).car)).equals(full)).toBe(true)
  }, 60_000)

  it('an incremental sync from a peer receives only what the new head adds (a diff since the rev held), verified as from the PDS', async () => {
    const carl = await createAccount(net, { handle: `carl${net.handleDomain}` })
    await populateAccount(carl, { posts: 80 })
    const id = await resolveIdentity(net, carl.did)
    const local = fresh()
    const me = await service(local)
    await syncRepo(local, id)
    await syncRepo(holder, id)
    const held = (await local.repos.getAccount(carl.did))!.head!.rev
    await addPosts(carl, 2)
    await syncRepo(holder, id)
    const full = await collectBytes((await exportCar(holder, carl.did)).car)
    const gone = { ...id, pdsUrl: 'http://127.0.0.1:1' }
    const result = await peerFirstSync(local, gone, { network: me, peers: [target(holderNet)], fetch: globalThis.fetch })
    expect(result).toMatchObject({ source: { kind: 'peer', peerId: holderNet.peerId }, mode: 'diff', creates: 2, updates: 0, deletes: 0 })
    // No more than the PDS itself sends for the same `since` (it also sends the commit in between).
    expect(result.bytesReceived).toBeLessThanOrEqual((await fetchRepoCar(net.pdsUrl, carl.did, held)).length)
    expect(result.bytesReceived).toBeLessThan(full.length / 2)
    expect((await collectBytes((await exportCar(local, carl.did)).car)).equals(full)).toBe(true)

    // Behind by a revision the peer never kept: it sends the whole repository, applied the same way.
    const other = fresh()
    const otherNet = await service(other)
    await syncRepo(other, id)
    await addPosts(carl, 1)
    const late = fresh()
    await syncRepo(late, id)
    const lateNet = await service(late)
    await serveRepos(lateNet, late)
    const caught = await peerFirstSync(other, { ...id, pdsUrl: 'http://127.0.0.1:1' }, { network: otherNet, peers: [target(lateNet)], fetch: globalThis.fetch })
    expect(caught).toMatchObject({ source: { kind: 'peer' }, creates: 1 })
    expect(caught.bytesReceived).toBeGreaterThan(full.length / 2)
    expect((await collectBytes((await exportCar(other, carl.did)).car)).equals(await collectBytes((await exportCar(late, carl.did)).car))).toBe(true)
  }, 120_000)

  it('a peer that does not hold the DID is skipped for the PDS', async () => {
    const local = fresh()
    const me = await service(local)
    const empty = fresh()
    const emptyNet = await service(empty)
    await serveRepos(emptyNet, empty)
    const failures: unknown[] = []
    const result = await peerFirstSync(local, identity, { network: me, peers: [target(emptyNet)], fetch: globalThis.fetch, onPeerFailed: (_, err) => failures.push(err) })
    expect(result.source.kind).toBe('pds')
    expect(failures).toHaveLength(1)
    expect(String((failures[0] as Error).message)).toMatch(/RepoNotFound|not backed up/)
  }, 60_000)
})

// Storage challenges between real nodes (createNode, separate data dirs) over libp2p on loopback
// TCP and over the HTTP fallback, against the real local atproto network (PLC + PDS).
// Randomness is seeded (nonces, the blocks a hostile peer deletes), so outcomes are reproducible.
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChallengeResultDto } from '../api.js'
import { main } from '../cli.js'
import { loadConfig } from '../config.js'
import { PEER_KEY_FILE } from '../network/peer-key.js'
import { createNode, type P2pdsNode } from '../node.js'
import { createAccount, populateAccount, type TestAccount } from '../testing/builders.js'
import { startExtraPds, startTestNetwork, type TestNetwork } from '../testing/network.js'
import { tempNodes } from '../testing/temp-nodes.js'
import { mulberry32 } from './verify.js'
import { walkRepoBlocks } from './repo-walk.js'
import { SqliteBlockStore } from '../storage/sqlite-block-store.js'

let net: TestNetwork
let alice: TestAccount
const temp = tempNodes('p2pds-challenge-')
const newDir = temp.newDir

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  await populateAccount(alice, { posts: 120 })
}, 180_000)

afterAll(async () => {
  await net?.close()
})

/** A seeded nonce source: the same sequence of challenges on every run. */
function seededNonces(seed: number): () => string {
  const random = mulberry32(seed)
  return () => Buffer.from(Array.from({ length: 16 }, () => Math.floor(random() * 256))).toString('base64url')
}

async function startNode(opts: { dir?: string; env?: Record<string, string>; listen?: boolean; nonceSeed?: number } = {}): Promise<P2pdsNode> {
  const dir = opts.dir ?? newDir()
  const env = { ...net.env, DATA_DIR: dir, PORT: '0', LISTEN_ADDRS: '/ip4/127.0.0.1/tcp/0', ...opts.env }
  const config = loadConfig({ env, cwd: dir })
  const node = await createNode({
    config,
    host: 'test',
    listen: opts.listen ?? false,
    schedule: { enabled: false },
    challenges: { nonce: seededNonces(opts.nonceSeed ?? 1) },
  })
  temp.track(node)
  await node.start()
  return node
}

async function holding(node: P2pdsNode): Promise<void> {
  await node.api.accounts.add({ handleOrDid: alice.did })
  await node.api.accounts.sync({ did: alice.did })
}

async function multiaddrOf(node: P2pdsNode): Promise<string> {
  const info = await node.api.node.info()
  const addr = info.network?.multiaddrs.find((a) => a.startsWith('/ip4/127.0.0.1/'))
  if (addr === undefined) throw new Error('node has no loopback multiaddr')
  return addr
}

const summary = (rs: ChallengeResultDto[]) => rs.map((r) => `${r.level}:${r.transport}:${r.ok ? 'ok' : r.reason}`)

describe('peer network', () => {
  it('keeps its PeerID across restarts (key file in the data dir, mode 0600)', async () => {
    const dir = newDir()
    const first = await startNode({ dir })
    const id1 = (await first.api.node.info()).network?.peerId
    expect(id1).toMatch(/^12D3KooW/)
    expect(statSync(join(dir, PEER_KEY_FILE)).mode & 0o777).toBe(0o600)
    await first.stop()
    temp.release(first)
    const second = await startNode({ dir })
    expect((await second.api.node.info()).network?.peerId).toBe(id1)
    // A different data dir is a different peer.
    const other = await startNode()
    expect((await other.api.node.info()).network?.peerId).not.toBe(id1)
  }, 60_000)

  it('refuses a peer address without /p2p/<PeerID>, changing nothing', async () => {
    const a = await startNode()
    await expect(a.api.peers.add({ multiaddr: '/ip4/127.0.0.1/tcp/4001' })).rejects.toMatchObject({ code: 'ERR_INVALID_PEER_ADDRESS' })
    await expect(a.api.peers.add({ multiaddr: 'not a multiaddr' })).rejects.toMatchObject({ code: 'ERR_INVALID_PEER_ADDRESS' })
    await expect(a.api.peers.add({ endpoint: 'ftp://example.com' })).rejects.toMatchObject({ code: 'ERR_INVALID_PEER_ADDRESS' })
    expect((await a.api.peers.list()).peers).toEqual([])
  }, 30_000)
})

describe('storage challenges', () => {
  it('an honest peer passes L2 and L3 over libp2p, and its score says so', async () => {
    const [a, b] = [await startNode(), await startNode()]
    await Promise.all([holding(a), holding(b)])
    const peer = await a.api.peers.add({ multiaddr: await multiaddrOf(b), dids: [alice.did] })
    const results = await a.api.peers.challenge({ did: alice.did })
    expect(summary(results)).toEqual(['L2:libp2p:ok', 'L3:libp2p:ok'])
    expect(results[0]!.samples).toBe(16)
    expect(results[1]!.samples).toBe(4)
    const listed = (await a.api.peers.list()).peers.find((p) => p.id === peer.id)!
    expect(listed).toMatchObject({ health: 'ok', score: 1, passed: 2, connected: true })
    expect(listed.explanation).toMatch(/Passed 2 of the last 2 challenges/)
    expect((await a.api.peers.history({ did: alice.did })).map((r) => r.ok)).toEqual([true, true])
  }, 120_000)

  it('falls back to HTTP when libp2p is off, pinning the PeerID behind the endpoint', async () => {
    const b = await startNode({ listen: true })
    const a = await startNode({ env: { IPFS_NETWORKING: 'false' } })
    await Promise.all([holding(a), holding(b)])
    const endpoint = (await b.api.node.status()).listeners.peer!
    const peer = await a.api.peers.add({ endpoint, dids: [alice.did] })
    expect(peer.peerId).toBeNull()
    const results = await a.api.peers.challenge({ did: alice.did })
    expect(summary(results)).toEqual(['L2:http:ok', 'L3:http:ok'])
    const bId = (await b.api.node.info()).network?.peerId
    expect((await a.api.peers.list()).peers[0]!.peerId).toBe(bId)
  }, 120_000)

  it('catches a peer that silently deleted 5% of the blocks within 10 rounds; an honest peer never fails', async () => {
    const a = await startNode({ nonceSeed: 42 })
    const honest = await startNode()
    const dir = newDir()
    const lossy = await startNode({ dir })
    await Promise.all([holding(a), holding(honest), holding(lossy)])
    const honestPeer = await a.api.peers.add({ multiaddr: await multiaddrOf(honest), dids: [alice.did] })
    const lossyPeer = await a.api.peers.add({ multiaddr: await multiaddrOf(lossy), dids: [alice.did] })

    // The hostile peer stand-in: a real node whose store lost 5% of the repo's blocks behind its
    // back (deleted through a second connection, as a failing disk or a cheat would).
    const raw = new Database(join(dir, 'pds.db'))
    const head = (await lossy.api.accounts.get({ did: alice.did })).head!
    const cids: string[] = []
    for await (const b of walkRepoBlocks(new SqliteBlockStore({ db: raw }), head.cid)) cids.push(b.cid)
    const random = mulberry32(7)
    const doomed = new Set<string>()
    const lose = Math.ceil(cids.length * 0.05)
    while (doomed.size < lose) doomed.add(cids[Math.floor(random() * cids.length)]!)
    raw.pragma('foreign_keys = OFF')
    for (const cid of doomed) raw.prepare('DELETE FROM blocks WHERE cid = ?').run(cid)
    raw.close()

    let caughtAt: number | null = null
    for (let round = 1; round <= 10; round++) {
      const honestResults = await a.api.peers.challenge({ did: alice.did, peer: honestPeer.id })
      expect(summary(honestResults), `honest peer, round ${round}`).toEqual(['L2:libp2p:ok', 'L3:libp2p:ok'])
      const lossyResults = await a.api.peers.challenge({ did: alice.did, peer: lossyPeer.id })
      const failed = lossyResults.find((r) => !r.ok)
      if (failed !== undefined) {
        expect(['missing-block', 'bad-proof']).toContain(failed.reason)
        caughtAt ??= round
      }
    }
    expect(caughtAt).not.toBeNull()
    const peers = (await a.api.peers.list()).peers
    expect(peers.find((p) => p.id === lossyPeer.id)).toMatchObject({ health: 'failing' })
    expect(peers.find((p) => p.id === lossyPeer.id)!.explanation).toMatch(/Last failure .*(sampled blocks were not produced|record proofs|no MST proof)/)
    expect(peers.find((p) => p.id === honestPeer.id)).toMatchObject({ health: 'ok', score: 1 })
  }, 240_000)
})

describe('head notices', () => {
  it('a new head announced by a known peer starts an incremental sync; an unknown sender starts nothing', async () => {
    const [a, b, stranger] = [await startNode(), await startNode(), await startNode()]
    await Promise.all([holding(a), holding(b), holding(stranger)])
    await b.api.peers.add({ multiaddr: await multiaddrOf(a), dids: [alice.did] })
    await stranger.api.peers.add({ multiaddr: await multiaddrOf(a), dids: [alice.did] })
    await a.api.peers.add({ multiaddr: await multiaddrOf(b) })

    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'new head', createdAt: new Date().toISOString() } })
    // The stranger (not in A's peer list) syncs and notifies A: A must not react.
    const aSyncs: string[] = []
    a.on('sync:completed', (r) => aSyncs.push(r.rev))
    const fromStranger = await stranger.api.accounts.sync({ did: alice.did })
    expect(fromStranger.kind).toBe('incremental')
    await new Promise((r) => setTimeout(r, 1500))
    expect(aSyncs).toEqual([])

    // B (a known peer) syncs and notifies A: A syncs the same rev, incrementally.
    const synced = new Promise<{ rev: string; kind: string; source?: string }>((resolve) => a.on('sync:completed', (r) => resolve(r)))
    const fromB = await b.api.accounts.sync({ did: alice.did })
    const seen = await synced
    // Peer-first: B, now known to hold alice, served the repository (verified as from the PDS).
    const bId = (await b.api.node.info()).network?.peerId
    expect(seen).toMatchObject({ rev: fromB.rev, kind: 'incremental', source: `peer:${bId}` })
    expect(fromB.source).toBe('pds')
    expect((await a.api.accounts.get({ did: alice.did })).head?.rev).toBe(fromB.rev)
    // A learned that B holds alice from the notice.
    expect((await a.api.peers.list()).peers[0]!.dids).toEqual([alice.did])
  }, 120_000)

  it('with the PDS gone, the peers holding the account serve it, preferred peers first', async () => {
    const extra = await startExtraPds(net)
    try {
      const dora = await createAccount({ pdsUrl: extra.url, handleDomain: net.handleDomain }, { handle: 'dora' })
      await populateAccount(dora, { posts: 10 })
      const [b, c] = [await startNode(), await startNode()]
      const cId = (await c.api.node.info()).network!.peerId
      // A's policy for dora prefers C (POLICY_FILE); B comes first in A's peer list.
      const dir = newDir()
      const policyFile = join(dir, 'policies.json')
      writeFileSync(policyFile, JSON.stringify({ policies: [{ did: dora.did, preferredPeers: [cId] }] }))
      const a = await startNode({ dir, env: { POLICY_FILE: policyFile } })
      await a.api.accounts.add({ handleOrDid: dora.did })
      const old = await a.api.accounts.sync({ did: dora.did })
      expect(old.source).toBe('pds')
      expect((await a.api.accounts.get({ did: dora.did })).lastSyncSource).toBe('pds')

      // New posts with images after A synced: A will need their blobs too.
      await populateAccount(dora, { posts: 1, imagePosts: 2, seed: 7 })
      for (const n of [b, c]) {
        await n.api.accounts.add({ handleOrDid: dora.did })
        await n.api.accounts.sync({ did: dora.did })
      }
      const newest = (await c.api.accounts.get({ did: dora.did })).head!.rev
      expect(newest > old.rev).toBe(true)
      await a.api.peers.add({ multiaddr: await multiaddrOf(b), dids: [dora.did] })
      await a.api.peers.add({ multiaddr: await multiaddrOf(c), dids: [dora.did] })
      expect((await a.api.policies.list()).effective.find((e) => e.did === dora.did)?.fetchOrder[0]).toBe(cId)

      await extra.close()
      const healed = await a.api.accounts.sync({ did: dora.did })
      expect(healed).toMatchObject({ source: `peer:${cId}`, rev: newest, kind: 'incremental', blobsFailed: 0 })
      // The new images came from the peers (bitswap), checked against their CIDs.
      expect(healed.blobsFetched).toBe(2)
      const held = await a.api.accounts.get({ did: dora.did })
      expect(held.head?.rev).toBe(newest)
      // The account says what served its last sync (kept across restarts, in the accounts table).
      expect(held.lastSyncSource).toBe(`peer:${cId}`)
      expect((await a.api.accounts.list()).find((x) => x.did === dora.did)?.lastSyncSource).toBe(`peer:${cId}`)
      expect(held.blobs).toEqual((await c.api.accounts.get({ did: dora.did })).blobs)

      // With no peer holding it either, the PDS's failure is what the user sees, and nothing changes.
      for (const p of (await a.api.peers.list()).peers) await a.api.peers.remove({ id: p.id })
      await expect(a.api.accounts.sync({ did: dora.did })).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(PDS_REQUEST|FETCH_FAILED)$/) })
      expect((await a.api.accounts.get({ did: dora.did })).head?.rev).toBe(newest)
    } finally {
      await extra.close()
    }
  }, 180_000)
})

describe('CLI', () => {
  it('p2pds peers / peers add / challenge against a running node, with exit codes', async () => {
    const dirA = newDir()
    const a = await startNode({ dir: dirA, listen: true })
    const b = await startNode()
    await Promise.all([holding(a), holding(b)])
    const run = async (...argv: string[]) => {
      let out = ''
      let err = ''
      const code = await main([...argv, '--data-dir', dirA], { out: (t) => (out += t), err: (t) => (err += t) })
      return { code, out, err }
    }
    const empty = await run('peers', '--json')
    expect(empty.code).toBe(0)
    expect(JSON.parse(empty.out)).toMatchObject({ peers: [], self: { peerId: (await a.api.node.info()).network?.peerId } })
    const added = await run('peers', 'add', await multiaddrOf(b), alice.did)
    expect(added.code).toBe(0)
    expect(added.out).toMatch(/Added peer 1/)
    const ok = await run('challenge', alice.did, '--json')
    expect(ok.code).toBe(0)
    expect((JSON.parse(ok.out) as ChallengeResultDto[]).map((r) => r.ok)).toEqual([true, true])
    const human = await run('peers')
    expect(human.out).toMatch(/Passed 2 of the last 2 challenges/)
    expect(human.out).toMatch(/catch a 5% loss within 10 rounds with probability 99\.9/)
    expect((await run('challenge', alice.did, '99')).code).toBe(2)
    expect((await run('peers', 'add', '/ip4/127.0.0.1/tcp/1')).code).toBe(1)
  }, 120_000)
})

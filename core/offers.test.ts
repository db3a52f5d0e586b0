/**
 * Offers and agreements between two real nodes (own data dirs and ports) and real accounts on the
 * local atproto network: the push (notifyOffer to the endpoint in the peer record), accepting,
 * replication of each other's repos, revocation and purge, the periodic check without any push,
 * and spoofed pushes that must store nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { OffersDto } from './api.js'
import { main } from './cli.js'
import { loadConfig } from './config.js'
import { NSID } from './lexicons.js'
import { createNode, type P2pdsNode } from './node.js'
import { createAccount, type TestAccount } from './testing/builders.js'
import { startTestNetwork, type TestNetwork } from './testing/network.js'

let net: TestNetwork
let alice: TestAccount
let bob: TestAccount
let carol: TestAccount
let dave: TestAccount
const dirs: string[] = []
const nodes: P2pdsNode[] = []

beforeAll(async () => {
  net = await startTestNetwork()
  ;[alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((h) => createAccount(net, { handle: h })))) as [TestAccount, TestAccount, TestAccount, TestAccount]
}, 60_000)

afterAll(async () => {
  for (const n of nodes) await n.stop().catch(() => undefined)
  await net?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A started node with `account` logged in (app password); `listen: false` gives it no endpoint. */
async function nodeFor(account: TestAccount, listen = true, extraEnv: Record<string, string> = {}, checkIntervalMs?: number): Promise<P2pdsNode> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-offers-'))
  dirs.push(dir)
  const env = { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'secret.key'), PURGE_GRACE_SEC: '1', IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false', ...extraEnv }
  const node = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen, schedule: { enabled: false }, ...(checkIntervalMs === undefined ? {} : { offers: { checkIntervalMs } }) })
  nodes.push(node)
  await node.start()
  const appPassword = (await account.agent.com.atproto.server.createAppPassword({ name: `p2pds-${dir.slice(-6)}` })).data.password
  await node.api.auth.loginAppPassword({ identifier: account.handle, password: appPassword })
  // The peer record (with this node's endpoint) is published in the background after login; an
  // offer pushed before it is visible would find no endpoint to notify.
  if (listen) {
    await eventually(`${account.handle}'s peer record`, async () => {
      const r = await account.agent.com.atproto.repo.getRecord({ repo: account.did, collection: NSID.peer, rkey: 'self' }).catch(() => null)
      return (r?.data.value as { endpoint?: string } | undefined)?.endpoint === node.publicUrl
    })
  }
  return node
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}

const agreement = (o: OffersDto, did: string) => o.agreements.find((a) => a.did === did && a.type === 'reciprocal')

async function holds(node: P2pdsNode, did: string): Promise<boolean> {
  return (await node.api.accounts.list()).some((a) => a.did === did && a.head !== null)
}

async function notify(node: P2pdsNode, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node.publicUrl}/xrpc/${NSID.notifyOffer}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('offers between two nodes', () => {
  let a: P2pdsNode
  let b: P2pdsNode

  it('Alice offers, Bob is pushed and accepts; both nodes then hold each other’s repo', async () => {
    a = await nodeFor(alice)
    b = await nodeFor(bob)
    const offer = await a.api.offers.offer({ target: bob.handle, intervalSec: 600 })
    expect(offer).toMatchObject({ offerer: alice.did, subject: bob.did, direction: 'outgoing', uri: `at://${alice.did}/${NSID.offer}/${bob.did.replaceAll(':', '-')}`, intervalSec: 600 })

    const incoming = await eventually('the push on Bob’s node', async () => (await b.api.offers.list()).incoming.find((o) => o.offerer === alice.did))
    expect(incoming).toMatchObject({ subject: bob.did, decision: 'pending' })
    expect(agreement(await b.api.offers.list(), alice.did)).toBeUndefined()

    // Deny is remembered, and accepting later undoes it.
    expect((await b.api.offers.deny({ did: alice.did })).decision).toBe('denied')
    expect((await b.api.offers.accept({ did: alice.did })).decision).toBe('accepted')

    await eventually('Bob’s node to hold Alice', () => holds(b, alice.did))
    expect(agreement(await b.api.offers.list(), alice.did)).toMatchObject({ state: 'active', consent: 'reciprocal', localDid: bob.did })
    await eventually('Alice’s node to hold Bob', () => holds(a, bob.did))
    expect(agreement(await a.api.offers.list(), bob.did)).toMatchObject({ state: 'active', consent: 'reciprocal', localDid: alice.did, intervalSec: 600 })
    // The held account shows why it is held; the agreement counts as a promised copy of Alice.
    expect((await a.api.accounts.list()).find((x) => x.did === bob.did)).toMatchObject({ kind: 'reciprocal', consent: 'reciprocal' })
    const pol = await a.api.policies.list()
    expect(pol.effective.find((e) => e.did === bob.did)).toMatchObject({ intervalSec: 600, from: [`reciprocal:${alice.did}:${bob.did}`] })
    expect(pol.safety).toEqual([expect.objectContaining({ did: alice.did, wanted: 1, copies: 1, basis: 'agreements', safe: true })])
    // Bob's node (from his org.p2pds.peer record) joins Alice's peers as holding her data: it is challenged from now on.
    await eventually('Bob’s node among Alice’s peers', async () => (await a.api.peers.list()).peers.some((p) => p.source === 'agreement' && p.dids.includes(alice.did)))
  }, 90_000)

  it('refuses spoofed pushes and stores nothing', async () => {
    const before = await b.api.offers.list()
    const bobRkey = bob.did.replaceAll(':', '-')
    // No such offer in Carol's repo.
    let r = await notify(b, { offerer: carol.did, subject: bob.did, uri: `at://${carol.did}/${NSID.offer}/${bobRkey}` })
    expect(r).toMatchObject({ status: 400, body: { error: 'OfferNotFound' } })
    // Carol's real offer names Alice, not Bob.
    await carol.agent.com.atproto.repo.putRecord({ repo: carol.did, collection: NSID.offer, rkey: alice.did.replaceAll(':', '-'), record: { $type: NSID.offer, subject: alice.did, createdAt: new Date().toISOString() } })
    r = await notify(b, { offerer: carol.did, subject: bob.did, uri: `at://${carol.did}/${NSID.offer}/${alice.did.replaceAll(':', '-')}` })
    expect(r).toMatchObject({ status: 400, body: { error: 'InvalidOffer' } })
    // Claims to be Carol's offer while pointing at Alice's repo.
    r = await notify(b, { offerer: carol.did, subject: bob.did, uri: `at://${alice.did}/${NSID.offer}/${bobRkey}` })
    expect(r).toMatchObject({ status: 400, body: { error: 'InvalidOffer' } })
    // Not for an account of this node; not the lexicon's input.
    r = await notify(b, { offerer: carol.did, subject: dave.did, uri: `at://${carol.did}/${NSID.offer}/x` })
    expect(r).toMatchObject({ status: 400, body: { error: 'UnknownSubject' } })
    r = await notify(b, { offerer: 'nobody', subject: bob.did, uri: 'x' })
    expect(r).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
    expect(await b.api.offers.list()).toEqual(before)
  }, 30_000)

  it('Alice revokes: both sides dissolve, and Bob’s node purges Alice’s data after the grace period', async () => {
    await a.api.offers.revoke({ did: bob.did })
    // Alice's node: dissolved by Alice (Bob's offer still stands, so his consent is unchanged).
    expect(agreement(await a.api.offers.list(), bob.did)).toMatchObject({ state: 'terminated', consent: 'reciprocal' })
    // Bob's node, told by the push: Alice withdrew.
    const dissolved = await eventually('Bob’s node to dissolve', async () => {
      const ag = agreement(await b.api.offers.list(), alice.did)
      return ag?.state === 'terminated' ? ag : undefined
    })
    expect(dissolved).toMatchObject({ consent: 'revoked' })
    expect(dissolved.purgeAt).not.toBeNull()
    expect((await b.api.offers.list()).incoming.some((o) => o.offerer === alice.did)).toBe(false)
    expect(await holds(b, alice.did)).toBe(true) // kept during the grace period
    await new Promise((r) => setTimeout(r, 1100))
    await b.api.offers.check()
    expect(agreement(await b.api.offers.list(), alice.did)?.state).toBe('purged')
    expect((await b.api.accounts.list()).some((acc) => acc.did === alice.did)).toBe(false)
    // Alice's node purges Bob's copy the same way (cut short here).
    await a.api.offers.purgeNow({ did: bob.did })
    expect((await a.api.accounts.list()).some((acc) => acc.did === bob.did)).toBe(false)
  }, 60_000)

  it('the CLI talks to the running node: offers --json is the offers.list DTO; bad usage exits 2', async () => {
    const out: string[] = []
    const err: string[] = []
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }
    expect(await main(['offers', '--json', '--data-dir', b.config.dataDir], io)).toBe(0)
    expect(JSON.parse(out.join(''))).toEqual(await b.api.offers.list())
    expect(await main(['consent', 'maybe', '--data-dir', b.config.dataDir], io)).toBe(2)
    expect(await main(['accept', 'bob.test', '--data-dir', b.config.dataDir], io)).toBe(2)
    expect(await main(['deny', carol.did, '--data-dir', b.config.dataDir], io)).toBe(1)
    expect(err.join('')).toContain(`There is no offer from ${carol.did}`)
  }, 30_000)

  it('an offer from a trusted DID (TRUSTED_DIDS) is accepted at once', async () => {
    const d = await nodeFor(dave, true, { TRUSTED_DIDS: alice.did })
    await a.api.offers.offer({ target: dave.did })
    await eventually('Dave’s node to accept on its own', async () => agreement(await d.api.offers.list(), alice.did)?.state === 'active')
    await eventually('Alice’s node to form the agreement', async () => agreement(await a.api.offers.list(), dave.did)?.state === 'active')
    expect((await d.api.offers.list()).outgoing).toContainEqual(expect.objectContaining({ offerer: dave.did, subject: alice.did }))
    await d.stop()
  }, 60_000)
})

describe('config policies', () => {
  it('loads POLICY_FILE at start (held, listed as config), and refuses a bad one with one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-policy-'))
    dirs.push(dir)
    const file = join(dir, 'policies.json')
    writeFileSync(file, JSON.stringify({ policies: [{ did: carol.did, intervalSec: 600 }] }))
    const env = { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'secret.key'), POLICY_FILE: file, IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false' }
    const node = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen: false, schedule: { enabled: false } })
    nodes.push(node)
    await node.start()
    expect((await node.api.offers.list()).agreements).toEqual([expect.objectContaining({ id: `config:${carol.did}`, type: 'config', state: 'active', intervalSec: 600 })])
    await eventually('the node to hold Carol', () => holds(node, carol.did))
    await node.stop()

    writeFileSync(file, JSON.stringify({ policies: [{ did: 'carol' }] }))
    const bad = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen: false, schedule: { enabled: false } })
    await expect(bad.start()).rejects.toThrow(`POLICY_FILE ${file}: policies.0.did: not a valid DID.`)
    expect(bad.status).toBe('stopped')
  }, 60_000)
})

describe('agreements found by the periodic check, with no push', () => {
  it('Carol and Dave offer each other on nodes with no endpoint; the periodic check finds the agreement on both', async () => {
    const c = await nodeFor(carol, false, {}, 300)
    const d = await nodeFor(dave, false, {}, 300)
    await c.api.offers.offer({ target: dave.did })
    await d.api.offers.offer({ target: carol.did })
    // No push can be made (no endpoint in either peer record): only the timer reads the repos.
    await eventually('Carol’s node to find the agreement', async () => agreement(await c.api.offers.list(), dave.did)?.state === 'active')
    await eventually('Dave’s node to find the agreement', async () => agreement(await d.api.offers.list(), carol.did)?.state === 'active')
    expect(agreement(await c.api.offers.list(), dave.did)).toMatchObject({ consent: 'reciprocal', localDid: carol.did })
    expect((await c.api.offers.list()).incoming).toContainEqual(expect.objectContaining({ offerer: dave.did, decision: 'accepted' }))
    await eventually('Carol’s node to hold Dave', () => holds(c, dave.did))
    await eventually('Dave’s node to hold Carol', () => holds(d, carol.did))

    // Consent and one-way archives: consented when the record is there, labelled unconsented otherwise.
    expect(await d.api.offers.consent({ on: true })).toEqual({ did: dave.did, consent: true })
    expect(await c.api.offers.archive({ handleOrDid: dave.handle })).toMatchObject({ type: 'archive', did: dave.did, state: 'active', consent: 'consented' })
    await d.api.offers.consent({ on: false })
    expect(await c.api.offers.archive({ handleOrDid: dave.handle })).toMatchObject({ consent: 'unconsented' })
    expect(await c.api.offers.archive({ handleOrDid: bob.handle })).toMatchObject({ type: 'archive', did: bob.did, consent: 'unconsented' })
    await eventually('Carol’s node to hold Bob (archive)', () => holds(c, bob.did))
  }, 60_000)
})

describe('policies are the one source of truth for which DIDs a node holds', () => {
  it('an account added by hand is an archive policy (its consent shown); removing it ends the policy; old data dirs are adopted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-held-'))
    dirs.push(dir)
    const env = { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'secret.key'), IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false' }
    const make = () => createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen: false, schedule: { enabled: false } })
    let node = await make()
    nodes.push(node)
    await node.start()
    await dave.agent.com.atproto.repo.putRecord({ repo: dave.did, collection: NSID.consent, rkey: 'self', record: { $type: NSID.consent, createdAt: new Date().toISOString() } })
    expect(await node.api.accounts.add({ handleOrDid: bob.handle })).toMatchObject({ did: bob.did, kind: 'archive', consent: 'unconsented' })
    await node.api.accounts.add({ handleOrDid: dave.did })
    const policy = (did: string) => async () => (await node.api.policies.list()).policies.find((p) => p.id === `archive:${did}`)
    expect(await policy(bob.did)()).toMatchObject({ type: 'archive', state: 'active', consent: 'unconsented' })
    // Dave published his consent record: found in the background, and shown on the account.
    await eventually('Dave’s consent to be read', async () => (await policy(dave.did)())?.consent === 'consented')
    expect((await node.api.accounts.list()).find((x) => x.did === dave.did)).toMatchObject({ kind: 'archive', consent: 'consented' })
    await dave.agent.com.atproto.repo.deleteRecord({ repo: dave.did, collection: NSID.consent, rkey: 'self' })

    await node.api.accounts.remove({ did: bob.did })
    expect(await policy(bob.did)()).toMatchObject({ state: 'purged' })
    expect((await node.api.policies.list()).effective.map((e) => e.did)).toEqual([dave.did])
    await node.stop()

    // A data dir from before policies: accounts held, no policy. The next start adopts them as archives.
    const db = new Database(join(dir, 'data', 'pds.db'))
    db.prepare('DELETE FROM policies').run()
    db.close()
    node = await make()
    nodes.push(node)
    await node.start()
    expect((await node.api.policies.list()).policies).toEqual([expect.objectContaining({ id: `archive:${dave.did}`, type: 'archive', state: 'active', consent: 'unconsented' })])
    expect((await node.api.accounts.list()).map((x) => [x.did, x.kind])).toEqual([[dave.did, 'archive']])
    await node.stop()

    // An active policy whose account is not held (the node stopped before holding it) is held at start.
    const db2 = new Database(join(dir, 'data', 'pds.db'))
    db2
      .prepare("INSERT INTO policies (id, type, did, state, consent, created_at, updated_at) VALUES (?, 'archive', ?, 'active', 'unconsented', 0, 0)")
      .run(`archive:${carol.did}`, carol.did)
    db2.close()
    node = await make()
    nodes.push(node)
    await node.start()
    await eventually('the node to hold Carol', () => holds(node, carol.did))
    await node.stop()
  }, 60_000)

  it('merged policy fields take effect: intervalSec plans the next sync, retentionDays prunes kept history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-effects-'))
    dirs.push(dir)
    const file = join(dir, 'policies.json')
    writeFileSync(file, JSON.stringify({ policies: [{ did: carol.did, intervalSec: 600, retentionDays: 0, preferredPeers: ['12D3KooWPreferred'] }] }))
    const env = { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'secret.key'), POLICY_FILE: file, IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false', SYNC_INTERVAL_SEC: '3600' }
    const node = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen: false, schedule: { enabled: true, jitter: 0 }, offers: { checkIntervalMs: 0 } })
    nodes.push(node)
    await node.start()
    const synced = await eventually('Carol to be synced', async () => (await node.api.accounts.list()).find((x) => x.did === carol.did && x.head !== null && !x.syncing))
    expect(synced).toMatchObject({ kind: 'config', consent: 'unconsented' })
    // Due one policy interval (600 s) after the last sync, not SYNC_INTERVAL_SEC (3600 s).
    const gap = Date.parse(synced.nextSyncAt!) - Date.parse(synced.lastSyncAt!)
    expect(gap).toBeGreaterThanOrEqual(600_000)
    expect(gap).toBeLessThan(610_000)
    expect((await node.api.policies.list()).effective).toEqual([expect.objectContaining({ did: carol.did, intervalSec: 600, retentionDays: 0, preferredPeers: ['12D3KooWPreferred'], fetchOrder: ['12D3KooWPreferred'] })])

    // A new commit, synced: history older than 0 days is pruned, the head stays.
    await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'kept only at the head', createdAt: new Date().toISOString() } })
    await node.api.accounts.sync({ did: carol.did })
    const detail = await eventually('history to be pruned', async () => {
      const d = await node.api.accounts.get({ did: carol.did })
      return d.history.length === 1 ? d : undefined
    })
    expect(detail.history[0]!.rev).toBe(detail.head!.rev)
    await node.stop()
  }, 60_000)
})

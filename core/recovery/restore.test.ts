// The restore drill against the real local network: one PLC directory, two PDSes. Alice is backed
// up from PDS-1, a rotation key is added through the product's own email-token flow (the test
// reads the code PDS-1 issued from its account database), PDS-1 is shut down for good, and the
// account is restored to PDS-2 from the local copy alone, with an interruption after every step.
//
// The suite shares one network and one backed-up node (building them takes most of its time);
// the refusal and dry-run tests assert that they change nothing, and the drill runs last.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import BetterSqlite3 from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RestoreProgressDto, RestoreStepName } from '../api.js'
import { loadConfig } from '../config.js'
import { generateRotationKey, rotationKeyFileText } from '../identity/rotation-keys.js'
import { createNode, type P2pdsNode } from '../node.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../testing/builders.js'
import { startExtraPds, startTestNetwork, type ExtraPds, type TestNetwork } from '../testing/network.js'

let net: TestNetwork
let pds2: ExtraPds
let alice: TestAccount
let content: PopulatedAccount
let node: P2pdsNode
let dir: string
let rotationKey: string
const NEW_PASSWORD = 'alice-on-pds2-secret'

async function auditLog(did: string): Promise<unknown[]> {
  const res = await fetch(`${net.plcUrl}/${did}/log/audit`)
  expect(res.ok).toBe(true)
  return (await res.json()) as unknown[]
}

function plcToken(did: string): string {
  const db = new BetterSqlite3(net.pds.ctx.cfg.db.accountDbLoc, { readonly: true })
  try {
    const row = db.prepare("SELECT token FROM email_token WHERE did = ? AND purpose = 'plc_operation'").get(did) as { token: string } | undefined
    expect(row).toBeDefined()
    return row!.token
  } finally {
    db.close()
  }
}

async function onPds2(did: string): Promise<boolean> {
  const agent = new AtpAgent({ service: pds2.url })
  try {
    await agent.com.atproto.sync.getRepoStatus({ did })
    return true
  } catch (err) {
    expect((err as { error?: string }).error).toBe('RepoNotFound')
    return false
  }
}

function restoresRows(): number {
  const db = new BetterSqlite3(join(dir, 'pds.db'), { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM restores').get() as { n: number }).n
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-restore-'))
  net = await startTestNetwork()
  pds2 = await startExtraPds(net)
  alice = await createAccount(net, { handle: 'alice' })
  const bob = await createAccount(net, { handle: 'bob' })
  const carol = await createAccount(net, { handle: 'carol' })
  content = await populateAccount(alice, { profile: true, posts: 3, imagePosts: 3, imagesPerPost: 2, follows: [bob, carol] })

  const config = loadConfig({
    env: { ...net.env, DATA_DIR: dir, PORT: '0', P2PDS_SECRET: 'restore-drill-data-key', SECRET_KEY_FILE: join(dir, 'unused.key') },
    cwd: dir,
  })
  node = await createNode({ config, host: 'test', listen: false, schedule: { enabled: false } })
  await node.start()
  await node.api.accounts.add({ handleOrDid: alice.did })
  await node.api.accounts.sync({ did: alice.did })
  const held = (await node.api.accounts.list())[0]!
  expect(held.blobs).toEqual({ stored: content.blobs.length, missing: 0, failed: 0 })

  // The rotation key, through the email-token flow of PDS-1.
  const made = await node.api.recovery.newRotationKey({ did: alice.did })
  rotationKey = made.didKey
  expect(made.phrase.split(' ')).toHaveLength(24)
  const first = await node.api.recovery.addRotationKey({ did: alice.did, didKey: rotationKey, password: alice.password })
  expect(first.status).toBe('token-sent')
  expect(first.rotationKeys).not.toContain(rotationKey)
  const added = await node.api.recovery.addRotationKey({ did: alice.did, didKey: rotationKey, password: alice.password, token: plcToken(alice.did) })
  expect(added.status).toBe('added')
  expect(added.rotationKeys[0]).toBe(rotationKey)
  const listed = await node.api.recovery.listRotationKeys({ did: alice.did })
  expect(listed.keys.find((k) => k.didKey === rotationKey)).toEqual({ didKey: rotationKey, position: 0, heldHere: true })
}, 180_000)

afterAll(async () => {
  await node?.stop()
  await pds2?.close()
  await net?.close().catch(() => undefined) // PDS-1 was closed by the drill
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe('restore to a new PDS', () => {
  it('refuses a key that is not in the DID\'s rotation keys, or is no key at all, before any change', async () => {
    const before = await auditLog(alice.did)
    const stranger = await generateRotationKey()
    const input = { did: alice.did, to: pds2.url, email: 'alice@new.test', password: NEW_PASSWORD }
    await expect(node.api.recovery.restoreStart({ ...input, rotationKey: rotationKeyFileText(stranger.privateKey) })).rejects.toMatchObject({ code: 'ERR_ROTATION_KEY_NOT_IN_FORCE' })
    await expect(node.api.recovery.restoreStart({ ...input, rotationKey: 'zz'.repeat(32) })).rejects.toMatchObject({ code: 'ERR_INVALID_ROTATION_KEY' })
    // 32 bytes of 0xff is above the curve order: not a secp256k1 key.
    await expect(node.api.recovery.restoreStart({ ...input, rotationKey: 'ff'.repeat(32) })).rejects.toMatchObject({ code: 'ERR_INVALID_ROTATION_KEY', message: /not a valid secp256k1 private key/ })
    await expect(node.api.recovery.restoreStart({ ...input, rotationKey: stranger.didKey })).rejects.toMatchObject({ code: 'ERR_INVALID_ROTATION_KEY', message: /not held by this node/ })
    expect(await auditLog(alice.did)).toEqual(before)
    expect(await onPds2(alice.did)).toBe(false)
    expect(restoresRows()).toBe(0)
    expect(await node.api.recovery.restoreStatus({ did: alice.did })).toBeNull()
  })

  it('dry run checks everything and changes nothing', async () => {
    const before = await auditLog(alice.did)
    const plan = await node.api.recovery.restorePlan({ did: alice.did, to: pds2.url, rotationKey, email: 'alice@new.test' })
    expect(plan.checks.filter((c) => !c.ok)).toEqual([])
    expect(plan.ok).toBe(true)
    expect(plan.targetDid).toBe(pds2.pds.ctx.cfg.service.did)
    expect(plan.handle).toBe(alice.handle)
    // Without an email, and with a handle taken on PDS-2, the plan says so.
    await createAccount({ pdsUrl: pds2.url, handleDomain: '.test' }, { handle: 'taken' })
    const bad = await node.api.recovery.restorePlan({ did: alice.did, to: pds2.url, rotationKey, handle: 'taken.test' })
    expect(bad.ok).toBe(false)
    expect(bad.checks.filter((c) => !c.ok).map((c) => c.name).sort()).toEqual(['email', 'handle'])
    expect(await auditLog(alice.did)).toEqual(before)
    expect(await onPds2(alice.did)).toBe(false)
    expect(restoresRows()).toBe(0)
  })

  it('restores from the local copy with PDS-1 gone, resuming after an interruption at every step', async () => {
    const logBefore = await auditLog(alice.did)
    await net.pds.close() // PDS-1 is gone for good

    const input = { did: alice.did, to: pds2.url, rotationKey, email: 'alice@new.test', password: NEW_PASSWORD }
    const events: RestoreProgressDto[] = []
    node.on('recovery:progress', (p) => events.push(p))
    const stops: Array<{ step: RestoreStepName; when: (p: RestoreProgressDto) => boolean }> = [
      { step: 'signing-key', when: (p) => p.name === 'signing-key' && p.state === 'done' },
      { step: 'create-account', when: (p) => p.name === 'create-account' && p.state === 'done' },
      { step: 'import-repo', when: (p) => p.name === 'import-repo' && p.state === 'done' },
      // In the middle of the uploads: one blob sent.
      { step: 'upload-blobs', when: (p) => p.name === 'upload-blobs' && p.state === 'running' && p.done === 1 },
      { step: 'upload-blobs', when: (p) => p.name === 'upload-blobs' && p.state === 'done' },
      { step: 'point-did', when: (p) => p.name === 'point-did' && p.state === 'done' },
      { step: 'activate', when: (p) => p.name === 'activate' && p.state === 'done' },
    ]
    for (const stop of stops) {
      // The interruption is the node stopping (quit, crash-free restart) at that moment.
      let stopping: Promise<void> | undefined
      const off = node.on('recovery:progress', (p) => {
        if (stopping === undefined && stop.when(p)) stopping = node.stop()
      })
      await expect(node.api.recovery.restoreStart(input)).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      off()
      await stopping
      await node.start()
      const status = (await node.api.recovery.restoreStatus({ did: alice.did }))!
      expect(status.state).toBe('failed')
      expect(status.error?.code).toBe('ERR_ABORTED')
      const step = status.steps.find((s) => s.name === stop.step)!
      expect(step.state).toBe(stop.when({ ...step, did: alice.did, state: 'done' }) ? 'done' : 'failed')
    }
    const done = await node.api.recovery.restoreStart(input)
    expect(done.state).toBe('done')
    expect(done.steps.map((s) => [s.name, s.state])).toEqual([
      ['check', 'done'],
      ['signing-key', 'done'],
      ['create-account', 'done'],
      ['import-repo', 'done'],
      ['upload-blobs', 'done'],
      ['point-did', 'done'],
      ['activate', 'done'],
      ['verify', 'done'],
    ])
    // Blob uploads resumed where they stopped: each blob sent once.
    // First run: 0 on the PDS, 1 sent, interrupted; the resumed run finds 1 there and sends the rest.
    const dones = events.filter((e) => e.name === 'upload-blobs' && e.state === 'running' && e.done !== null).map((e) => e.done)
    const total = content.blobs.length
    expect(dones).toEqual([0, 1, 1, ...Array.from({ length: total - 1 }, (_, i) => i + 2)])

    // PLC: exactly two operations more (signing key, then the new PDS), no duplicate.
    const log = (await auditLog(alice.did)) as Array<{ operation: { rotationKeys: string[]; services: { atproto_pds: { endpoint: string } } } }>
    expect(log).toHaveLength(logBefore.length + 2)
    const last = log.at(-1)!.operation
    expect(last.services.atproto_pds.endpoint).toBe(pds2.url)
    expect(last.rotationKeys[0]).toBe(rotationKey)
    expect(last.rotationKeys).toContain(pds2.pds.ctx.plcRotationKey.did())

    // Every record and blob is there, identical.
    const agent = new AtpAgent({ service: pds2.url })
    const expected = [...content.posts, ...content.follows, content.profile!]
    for (const r of expected) {
      const [, , , collection, rkey] = r.uri.split('/')
      const got = await agent.com.atproto.repo.getRecord({ repo: alice.did, collection: collection!, rkey: rkey! })
      expect(got.data.cid).toBe(r.cid)
    }
    for (const b of content.blobs) {
      const got = await agent.com.atproto.sync.getBlob({ did: alice.did, cid: b.cid })
      expect(Buffer.from(got.data).equals(Buffer.from(b.bytes))).toBe(true)
    }

    // Alice signs in on PDS-2 and posts; the post is signed with PDS-2's key and readable.
    const session = new AtpAgent({ service: pds2.url })
    await session.login({ identifier: alice.handle, password: NEW_PASSWORD })
    const post = await session.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'back, on a new PDS', createdAt: new Date().toISOString() } })
    expect((await agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: post.data.uri.split('/').pop()! })).data.value).toMatchObject({ text: 'back, on a new PDS' })
    // And the node can keep backing her up, from PDS-2 now.
    const sync = await node.api.accounts.sync({ did: alice.did })
    expect(sync.creates).toBe(1)
    expect((await node.api.accounts.list())[0]!.pdsUrl).toBe(pds2.url)
  }, 180_000)
})


// The node's accounts API end to end against the real local atproto network (PLC + PDS).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyRepoCar } from '@atproto/repo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SyncProgressDto, SyncResultDto } from './api.js'
import { loadConfig } from './config.js'
import { createIdentityResolver, identityResolverInit } from './identity/index.js'
import { createNode, type P2pdsNode } from './node.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from './testing/builders.js'
import { startTestNetwork, type TestNetwork } from './testing/network.js'

let net: TestNetwork
let dir: string
let node: P2pdsNode
let alice: TestAccount
let created: PopulatedAccount

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  created = await populateAccount(alice, { profile: true, posts: 12, imagePosts: 4, imagesPerPost: 2, threadReplies: 3 })
  dir = mkdtempSync(join(tmpdir(), 'p2pds-accounts-'))
  node = await createNode({ config: loadConfig({ env: { ...net.env, DATA_DIR: dir, PORT: '0' }, cwd: dir }), host: 'test', listen: false })
  await node.start()
}, 120_000)

afterAll(async () => {
  await node?.stop()
  await net?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function pdsRecordCount(did: string): Promise<number> {
  const desc = (await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.repo.describeRepo?repo=${did}`)).json()) as { collections: string[] }
  let n = 0
  for (const c of desc.collections) {
    const r = (await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${did}&collection=${c}&limit=100`)).json()) as { records: unknown[] }
    n += r.records.length
  }
  return n
}

describe('accounts (real local network)', () => {
  it('adds an account by handle and backs up its repo and every blob, with progress', async () => {
    const progress: SyncProgressDto[] = []
    node.on('sync:progress', (p) => progress.push(p))
    const done = new Promise<SyncResultDto>((resolve, reject) => {
      node.on('sync:completed', resolve)
      node.on('sync:failed', (f) => reject(new Error(f.error.message)))
    })
    const added = await node.api.accounts.add({ handleOrDid: alice.handle })
    expect(added.did).toBe(alice.did)
    expect(added.handle).toBe(alice.handle)
    const result = await done
    expect(result.kind).toBe('full')
    expect(result.blobsFetched).toBe(created.blobs.length)
    expect(result.blobsFailed).toBe(0)
    expect(progress.map((p) => p.phase)).toContain('repo')
    expect(progress.at(-1)?.phase).toBe('done')

    const [account] = await node.api.accounts.list()
    expect(account).toMatchObject({ did: alice.did, syncing: false, lastError: null, blobs: { stored: created.blobs.length, missing: 0, failed: 0 } })
    expect(account!.records).toBe(await pdsRecordCount(alice.did))
    expect(account!.storageBytes).toBeGreaterThan(0)
    expect((await node.api.node.status()).accounts).toBe(1)
  })

  it('browses records offline: collections, posts with images, replies', async () => {
    const collections = await node.api.records.collections({ did: alice.did })
    expect(collections.find((c) => c.nsid === 'app.bsky.feed.post')?.records).toBe(created.posts.length + created.replies.length)
    const page = await node.api.records.list({ did: alice.did, collection: 'app.bsky.feed.post', limit: 5 })
    expect(page.records).toHaveLength(5)
    expect(page.cursor).not.toBeNull()
    const imagePost = created.posts.find((p) => p.images.length > 0)!
    const rkey = imagePost.uri.split('/').pop()!
    const rec = await node.api.records.get({ did: alice.did, collection: 'app.bsky.feed.post', rkey })
    expect(rec.cid).toBe(imagePost.cid)
    const embed = rec.value.embed as { images: Array<{ image: { ref: { $link: string } } }> }
    const blobCid = embed.images[0]!.image.ref.$link
    const blob = await node.api.blobs.get({ did: alice.did, cid: blobCid })
    const uploaded = created.blobs.find((b) => b.cid === blobCid)!
    expect(Buffer.from(blob.base64, 'base64').equals(Buffer.from(uploaded.bytes))).toBe(true)
    await expect(node.api.records.get({ did: alice.did, collection: 'app.bsky.feed.post', rkey: '3zzzzzzzzzzzz' })).rejects.toMatchObject({ code: 'ERR_RECORD_NOT_FOUND' })
  })

  it('exports a CAR that verifies with @atproto/repo and blobs byte for byte with a manifest', async () => {
    const carPath = join(dir, 'alice.car')
    const r = await node.api.export.car({ did: alice.did, path: carPath })
    expect(r.bytes).toBeGreaterThan(0)
    const key = (await node.api.accounts.list())[0]!
    const identity = await createIdentityResolver(identityResolverInit({ ...node.config })).resolve(alice.did)
    const verified = await verifyRepoCar(new Uint8Array(readFileSync(carPath)), alice.did, identity.signingKey)
    expect(verified.commit.rev).toBe(key.head!.rev)
    expect(verified.creates.length).toBe(key.records)

    // A PDS accepts it: import it back into the account's own repo on the real PDS.
    await alice.agent.com.atproto.repo.importRepo(new Uint8Array(readFileSync(carPath)), { encoding: 'application/vnd.ipld.car' })
    const head = (await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${alice.did}`)).json()) as { rev: string }
    expect(head.rev >= verified.commit.rev).toBe(true)

    const out = join(dir, 'blobs-out')
    const b = await node.api.export.blobs({ did: alice.did, dir: out })
    expect(b.items).toBe(created.blobs.length)
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { blobs: Array<{ cid: string; file: string }> }
    expect(manifest.blobs.map((x) => x.cid).sort()).toEqual(created.blobs.map((x) => x.cid).sort())
    for (const entry of manifest.blobs) {
      const uploaded = created.blobs.find((x) => x.cid === entry.cid)!
      expect(readFileSync(join(out, entry.file)).equals(Buffer.from(uploaded.bytes))).toBe(true)
    }
    expect(readdirSync(out).some((f) => f.endsWith('.partial'))).toBe(false)
  })

  it('verifies L0 and L1, and a second sync after new posts is incremental', async () => {
    const [l0, l1] = await node.api.accounts.verify({ did: alice.did })
    expect(l0).toMatchObject({ level: 'L0', ok: true })
    expect(l1).toMatchObject({ level: 'L1', ok: true })
    await populateAccount(alice, { posts: 2, seed: 999 })
    const again = await node.api.accounts.sync({ did: alice.did })
    expect(again.kind).toBe('incremental')
    expect(again.creates).toBe(2)
    const detail = await node.api.accounts.get({ did: alice.did })
    expect(detail.history.length).toBeGreaterThanOrEqual(2)
    expect(detail.verifications.map((v) => v.level).sort()).toEqual(['L0', 'L1'])
  })

  it('gives clear errors for bad input and unknown accounts, storing nothing', async () => {
    await expect(node.api.accounts.add({ handleOrDid: 'not a handle' })).rejects.toMatchObject({ code: 'ERR_INVALID_IDENTIFIER' })
    await expect(node.api.accounts.sync({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_ACCOUNT' })
    expect(await node.api.accounts.list()).toHaveLength(1)
  })

  it('removes an account and its data', async () => {
    await node.api.accounts.remove({ did: alice.did })
    expect(await node.api.accounts.list()).toEqual([])
    await expect(node.api.records.collections({ did: alice.did })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_ACCOUNT' })
  })
})

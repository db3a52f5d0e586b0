import { readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { syncBlobs } from '../replication/blob-sync.js'
import { exportCar } from '../replication/export.js'
import { syncRepo } from '../replication/repo-sync.js'
import { addPosts, collectBytes, fetchRepoCar, pdsRecords, resolveIdentity } from '../replication/test-helpers.js'
import { openTempStorage, type TempStorage } from '../storage/test-helpers.js'
import type { AccountIdentity } from '../storage/types.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../testing/builders.js'
import { syntaxVectors } from '../testing/fixtures.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { createPeerApp, startPeerServer, type PeerServer, type PeerServerInit } from './peer-server.js'
import { mountSyncMirror } from './sync-mirror.js'

// A node's store is filled from the real local PDS (core/testing), then served by the mirror on a
// real listener on 127.0.0.1; the mirror's answers are compared with the PDS's own.

let net: TestNetwork
let alice: TestAccount
let made: PopulatedAccount
let aliceId: AccountIdentity
let source: TempStorage
let server: PeerServer
/** A blob alice's backup tracks but has not stored (never uploaded anywhere). */
let pendingCid: string

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: 'mirrored' })
  made = await populateAccount(alice, { profile: true, posts: 20, imagePosts: 3, imagesPerPost: 2, threadReplies: 3, seed: 900 })
  aliceId = await resolveIdentity(net, alice.did)
  source = openTempStorage()
  await syncRepo(source, aliceId)
  expect(await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: source.repos })).toMatchObject({ failed: 0 })
  pendingCid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('pending'))).toString()
  await source.repos.trackBlobs(alice.did, [{ cid: pendingCid, mimeType: 'image/png' }])

  const init: PeerServerInit = { host: '127.0.0.1', port: 0, version: 'test', rateLimitEnabled: false }
  const app = createPeerApp(init)
  mountSyncMirror(app, source)
  server = await startPeerServer(init, app)
})
afterAll(async () => {
  await server?.close()
  source?.close()
  await net?.close()
})

const xrpc = (method: string, params: Record<string, string>) => {
  const url = new URL(`/xrpc/com.atproto.sync.${method}`, server.url)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  return fetch(url)
}

async function expectXrpcError(res: Response, status: number, error: string): Promise<void> {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  const body = (await res.json()) as { error: unknown; message: unknown }
  expect(body.error).toBe(error)
  expect(typeof body.message).toBe('string')
}

describe('sync mirror', () => {
  it('getRepo: a CAR of the head that verifies with the account’s key and holds exactly the PDS’s records', async () => {
    const res = await xrpc('getRepo', { did: alice.did })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/vnd.ipld.car')
    const car = Buffer.from(await res.arrayBuffer())
    const verified = await verifyRepoCar(car, alice.did, aliceId.signingKey)
    const records = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
    expect(records).toEqual(await pdsRecords(net.pdsUrl, alice.did))

    const ours = await readCarWithRoot(car)
    const theirs = await readCarWithRoot(await fetchRepoCar(net.pdsUrl, alice.did))
    expect(ours.root.toString()).toBe(theirs.root.toString())
    expect(new Set(ours.blocks.cids().map(String))).toEqual(new Set(theirs.blocks.cids().map(String)))

    // `since` is checked, then answered with the full CAR (a superset of the diff).
    const head = (await source.repos.getAccount(alice.did))!.head!
    const since = await xrpc('getRepo', { did: alice.did, since: head.rev })
    expect(Buffer.from(await since.arrayBuffer()).equals(car)).toBe(true)
    await expectXrpcError(await xrpc('getRepo', { did: alice.did, since: 'yesterday' }), 400, 'InvalidRequest')
  })

  it('getLatestCommit equals the PDS’s', async () => {
    const res = await xrpc('getLatestCommit', { did: alice.did })
    expect(res.status).toBe(200)
    const theirs = await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${alice.did}`)).json()
    expect(await res.json()).toEqual(theirs)
  })

  it('listBlobs lists exactly the stored blobs, paged by cursor; limit is 1 to 1000', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const res = await xrpc('listBlobs', { did: alice.did, limit: '3', ...(cursor === undefined ? {} : { cursor }) })
      expect(res.status).toBe(200)
      const page = (await res.json()) as { cids: string[]; cursor?: string }
      expect(page.cids.length).toBeLessThanOrEqual(3)
      seen.push(...page.cids)
      cursor = page.cursor
      pages++
    } while (cursor !== undefined)
    const stored = made.blobs.map((b) => b.cid)
    expect(seen).toHaveLength(stored.length)
    expect(new Set(seen)).toEqual(new Set(stored))
    expect(seen).not.toContain(pendingCid)
    expect(pages).toBe(Math.floor(stored.length / 3) + 1)

    const all = (await (await xrpc('listBlobs', { did: alice.did })).json()) as { cids: string[]; cursor?: string }
    expect(all.cids.sort()).toEqual([...stored].sort())
    expect(all.cursor).toBeUndefined()
    expect((await xrpc('listBlobs', { did: alice.did, limit: '1000' })).status).toBe(200)
    for (const limit of ['0', '1001', '-1', '2.5', 'ten', '']) {
      await expectXrpcError(await xrpc('listBlobs', { did: alice.did, limit }), 400, 'InvalidRequest')
    }
    await expectXrpcError(await xrpc('listBlobs', { did: alice.did, cursor: 'not-a-cid' }), 400, 'InvalidRequest')
  })

  it('getBlob: the PDS’s bytes, with the stored type, length and the headers that keep a browser from running it', async () => {
    for (const blob of made.blobs) {
      const res = await xrpc('getBlob', { did: alice.did, cid: blob.cid })
      expect(res.status).toBe(200)
      const bytes = Buffer.from(await res.arrayBuffer())
      const theirs = Buffer.from(await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${blob.cid}`)).arrayBuffer())
      expect(bytes.equals(theirs)).toBe(true)
      expect(bytes.equals(Buffer.from(blob.bytes))).toBe(true)
      expect(Object.fromEntries(['content-type', 'content-length', 'x-content-type-options', 'content-security-policy'].map((h) => [h, res.headers.get(h)]))).toEqual({
        'content-type': 'image/png',
        'content-length': String(blob.bytes.byteLength),
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      })
    }
    // Tracked but not stored; a repository block (not a blob); another account's DID.
    await expectXrpcError(await xrpc('getBlob', { did: alice.did, cid: pendingCid }), 404, 'BlobNotFound')
    await expectXrpcError(await xrpc('getBlob', { did: alice.did, cid: made.posts[0]!.cid }), 404, 'BlobNotFound')
    await expectXrpcError(await xrpc('getBlob', { did: alice.did }), 400, 'InvalidRequest')
  })

  it('an account the node does not hold: 404 RepoNotFound from every method', async () => {
    const unknown = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    await expectXrpcError(await xrpc('getRepo', { did: unknown }), 404, 'RepoNotFound')
    await expectXrpcError(await xrpc('getLatestCommit', { did: unknown }), 404, 'RepoNotFound')
    await expectXrpcError(await xrpc('listBlobs', { did: unknown }), 404, 'RepoNotFound')
    await expectXrpcError(await xrpc('getBlob', { did: unknown, cid: made.blobs[0]!.cid }), 404, 'RepoNotFound')
  })

  it('bad parameters: 400 InvalidRequest for every invalid DID and CID of the interop vectors, and a missing DID', async () => {
    for (const method of ['getRepo', 'getLatestCommit', 'listBlobs', 'getBlob']) {
      await expectXrpcError(await xrpc(method, {}), 400, 'InvalidRequest')
    }
    for (const did of syntaxVectors('did_syntax_invalid')) {
      await expectXrpcError(await xrpc('getLatestCommit', { did }), 400, 'InvalidRequest')
    }
    for (const did of syntaxVectors('did_syntax_valid')) {
      await expectXrpcError(await xrpc('getLatestCommit', { did }), 404, 'RepoNotFound')
    }
    for (const cid of syntaxVectors('cid_syntax_invalid')) {
      await expectXrpcError(await xrpc('getBlob', { did: alice.did, cid }), 400, 'InvalidRequest')
    }
    // Methods the mirror does not have are still answered as such.
    await expectXrpcError(await xrpc('getRecord', { did: alice.did }), 404, 'MethodNotImplemented')
  })

  it('a new node syncs the account FROM the mirror, repository and blobs, as it would from a PDS', async () => {
    const target = openTempStorage()
    try {
      const viaMirror = { ...aliceId, pdsUrl: server.url }
      const summary = await syncRepo(target, viaMirror)
      const head = (await source.repos.getAccount(alice.did))!.head!
      expect(summary).toMatchObject({ mode: 'full', cid: head.cid, rev: head.rev })
      const blobs = await syncBlobs({ did: alice.did, pdsUrl: server.url, repos: target.repos })
      expect(blobs).toMatchObject({ fetched: made.blobs.length, failed: 0 })

      // The copy of the copy verifies and matches the PDS.
      const car = await collectBytes((await exportCar(target, alice.did)).car)
      const verified = await verifyRepoCar(car, alice.did, aliceId.signingKey)
      expect(new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))).toEqual(await pdsRecords(net.pdsUrl, alice.did))
      for (const blob of made.blobs) expect(Buffer.from(await target.blocks.getBlock(blob.cid)).equals(Buffer.from(blob.bytes))).toBe(true)
      expect((await target.repos.listBlobs(alice.did, { state: 'stored', limit: 100 })).map((b) => b.cid).sort()).toEqual(made.blobs.map((b) => b.cid).sort())
    } finally {
      target.close()
    }
  })

  it('a later sync from the mirror picks up new commits (since a kept revision: only the diff is sent)', async () => {
    const target = openTempStorage()
    try {
      const bob = await createAccount(net, { handle: 'mirrored-bob' })
      await addPosts(bob, 60, 'first')
      const bobId = await resolveIdentity(net, bob.did)
      await syncRepo(source, bobId)
      await syncRepo(target, { ...bobId, pdsUrl: server.url })
      const held = (await target.repos.getAccount(bob.did))!.head!.rev

      await addPosts(bob, 2, 'later')
      await syncRepo(source, bobId)
      const summary = await syncRepo(target, { ...bobId, pdsUrl: server.url })
      expect(summary).toMatchObject({ mode: 'diff', fellBackToFull: false, creates: 2, updates: 0, deletes: 0 })
      // No more than the PDS itself sends for the same `since` (it also sends the commit in between).
      const pdsDiff = await fetchRepoCar(net.pdsUrl, bob.did, held)
      const full = await collectBytes((await exportCar(source, bob.did)).car)
      expect(summary.bytesReceived).toBeLessThanOrEqual(pdsDiff.length)
      expect(summary.bytesReceived).toBeLessThan(full.length / 2)
      expect((await target.repos.getAccount(bob.did))!.head).toEqual((await source.repos.getAccount(bob.did))!.head)
      expect(await target.repos.countRecords(bob.did)).toEqual({ 'app.bsky.feed.post': 62 })
      expect((await collectBytes((await exportCar(target, bob.did)).car)).equals(full)).toBe(true)
    } finally {
      target.close()
    }
  })
})

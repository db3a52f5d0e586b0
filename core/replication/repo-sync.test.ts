import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AbortError, HeadMovedError, UnknownRevError } from '../errors.js'
import { dumpTables, openTempStorage } from '../storage/test-helpers.js'
import type { AccountIdentity } from '../storage/types.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { exportCar } from './export.js'
import { getRecord, listRecords, pruneHistory } from './history.js'
import { syncRepo } from './repo-sync.js'
import { addLikes, addPosts, collectBytes, countingFetch, fetchRepoCar, pdsRecords, resolveIdentity } from './test-helpers.js'
import type { SyncProgress } from './types.js'
import { verifyBlocks, verifyHead } from './verify.js'

// Everything here runs against a real PLC + PDS on loopback (core/testing); each test uses its
// own database, and tests that change an account's content use an account of their own.

let net: TestNetwork
let alice: TestAccount
let aliceMade: PopulatedAccount
let aliceId: AccountIdentity

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: 'alice' })
  aliceMade = await populateAccount(alice, { profile: true, posts: 120, imagePosts: 12, imagesPerPost: 2, threadReplies: 8, seed: 10 })
  await addLikes(alice, 150, { uri: aliceMade.posts[0]!.uri, cid: aliceMade.posts[0]!.cid })
  aliceId = await resolveIdentity(net, alice.did)
})
afterAll(async () => {
  await net?.close()
})

/** Records of a backup at the head (or a rev), as `collection/rkey` → CID. */
async function backedUp(s: ReturnType<typeof openTempStorage>, did: string, rev?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let cursor: string | undefined
  do {
    const page = await listRecords(s, did, { rev, cursor, limit: 97 })
    for (const r of page.records) out.set(`${r.collection}/${r.rkey}`, r.cid)
    cursor = page.cursor ?? undefined
  } while (cursor !== undefined)
  return out
}

/** Exports the CAR at `rev`, verifies it with @atproto/repo, and returns its records and root. */
async function exportAndVerify(s: ReturnType<typeof openTempStorage>, id: AccountIdentity, rev?: string) {
  const exported = await exportCar(s, id.did, { rev })
  const car = await collectBytes(exported.car)
  const verified = await verifyRepoCar(car, id.did, id.signingKey)
  const records = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
  const { root, blocks } = await readCarWithRoot(car)
  return { exported, car, records, root: root.toString(), cids: new Set(blocks.cids().map(String)) }
}

const newAccount = async (handle: string) => {
  const account = await createAccount(net, { handle })
  return { account, id: await resolveIdentity(net, account.did) }
}

describe('full sync', () => {
  it('backs up an account with a few hundred records and images: exactly the PDS’s records, and an export that verifies', async () => {
    const s = openTempStorage()
    try {
      const fetch = countingFetch()
      const progress: SyncProgress[] = []
      const started = performance.now()
      const summary = await syncRepo(s, aliceId, { fetch, onProgress: (p) => progress.push(p) })
      const syncMs = performance.now() - started

      const expected = await pdsRecords(net.pdsUrl, alice.did)
      expect(expected.size).toBeGreaterThanOrEqual(290)
      expect(summary).toMatchObject({ did: alice.did, mode: 'full', fellBackToFull: false, creates: expected.size, updates: 0, deletes: 0 })
      expect(summary.bytesReceived).toBe(fetch.bytes)
      const latest = (await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${alice.did}`)).json()) as { cid: string; rev: string }
      expect({ cid: summary.cid, rev: summary.rev }).toEqual(latest)
      expect(await s.repos.getAccount(alice.did)).toMatchObject({ head: { cid: latest.cid, rev: latest.rev }, lastError: null })

      // The record index holds exactly what the PDS lists.
      expect(await backedUp(s, alice.did)).toEqual(expected)
      expect(await s.repos.countRecords(alice.did)).toMatchObject({ 'app.bsky.feed.like': 150, 'app.bsky.actor.profile': 1 })

      // The export: root = head commit, every block the PDS has, verifies with the account's key.
      const out = await exportAndVerify(s, aliceId)
      expect(out.root).toBe(summary.cid)
      expect(out.records).toEqual(expected)
      const pdsCar = await readCarWithRoot(await fetchRepoCar(net.pdsUrl, alice.did))
      expect(out.cids).toEqual(new Set(pdsCar.blocks.cids().map(String)))
      expect(summary.blocksStored).toBe(out.cids.size)

      // Blobs referenced by records are tracked for the blob sync, with their MIME type.
      expect(new Set(summary.newBlobs)).toEqual(new Set(aliceMade.blobs.map((b) => b.cid)))
      const blobs = await s.repos.listBlobs(alice.did, { limit: 1000 })
      expect(blobs.every((b) => b.state === 'pending' && b.mimeType === 'image/png' && b.size !== null)).toBe(true)

      // Progress: phases in order, bytes never going back, the total at the end.
      const phases = [...new Set(progress.map((p) => p.phase))]
      expect(phases).toEqual(['requesting', 'downloading', 'verifying', 'storing', 'done'])
      for (let i = 1; i < progress.length; i++) expect(progress[i]!.bytes).toBeGreaterThanOrEqual(progress[i - 1]!.bytes)
      expect(progress.at(-1)).toMatchObject({ phase: 'done', bytes: summary.bytesReceived, blocks: summary.blocksReceived })

      // A record reads back as the PDS serves it in JSON (blob refs, CID links).
      const post = aliceMade.posts.find((p) => p.images.length === 2)!
      const rkey = post.uri.split('/').pop()!
      const ours = await getRecord(s, alice.did, 'app.bsky.feed.post', rkey)
      const theirs = (await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${alice.did}&collection=app.bsky.feed.post&rkey=${rkey}`)).json()) as {
        value: unknown
      }
      expect(ours).toMatchObject({ uri: post.uri, cid: post.cid, rev: summary.rev })
      expect(ours!.value).toEqual(theirs.value)
      expect(JSON.stringify(ours!.value)).toContain('"$link"')

      const usage = await s.repos.storageUsage(alice.did)
      console.log(
        `full sync: ${expected.size} records, ${summary.blocksReceived} blocks, ${summary.bytesReceived} bytes in ${syncMs.toFixed(0)} ms; ` +
          `stored ${usage.repoBlocks} blocks / ${usage.repoBytes} bytes; export ${out.car.length} bytes`,
      )
    } finally {
      s.close()
    }
  })

  it('streams an export to a file that verifies', async () => {
    const s = openTempStorage()
    try {
      await syncRepo(s, aliceId)
      const file = join(s.file, '..', 'export.car')
      const { car, cid } = await exportCar(s, alice.did)
      await pipeline(Readable.from(car), createWriteStream(file))
      const verified = await verifyRepoCar(new Uint8Array(await readFile(file)), alice.did, aliceId.signingKey)
      expect(verified.commit.cid.toString()).toBe(cid)
    } finally {
      s.close()
    }
  })

  it('exports nodes-first (records from the record index) with the same blocks, and refuses a head that moved meanwhile', async () => {
    const s = openTempStorage()
    try {
      await syncRepo(s, aliceId)
      const keyOrder = await exportAndVerify(s, aliceId)
      const exported = await exportCar(s, alice.did, { order: 'nodes-first' })
      const car = await collectBytes(exported.car)
      const verified = await verifyRepoCar(car, alice.did, aliceId.signingKey)
      expect(new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))).toEqual(keyOrder.records)
      const { root, blocks } = await readCarWithRoot(car)
      expect(root.toString()).toBe(keyOrder.root)
      expect(new Set(blocks.cids().map(String))).toEqual(keyOrder.cids)
      expect(car.length).toBe(keyOrder.car.length)
      expect(car.equals(keyOrder.car)).toBe(false) // another order of the same blocks

      // A sync storing a new head after the export began: the export stops instead of mixing revisions.
      const { account, id } = await newAccount('nora')
      await addPosts(account, 3)
      await syncRepo(s, id)
      const stale = await exportCar(s, account.did, { order: 'nodes-first' })
      const stillKeyOrder = await exportCar(s, account.did)
      await addPosts(account, 1)
      await syncRepo(s, id)
      await expect(collectBytes(stale.car)).rejects.toBeInstanceOf(HeadMovedError)
      // The key-order export reads the kept revision it started from, which is still whole.
      const old = await verifyRepoCar(await collectBytes(stillKeyOrder.car), account.did, id.signingKey)
      expect(old.commit.cid.toString()).toBe(stillKeyOrder.cid)
    } finally {
      s.close()
    }
  })
})

describe('incremental sync', () => {
  it('after new posts transfers only the new blocks (bytes counted on the wire)', async () => {
    const { account, id } = await newAccount('ivy')
    const made = await populateAccount(account, { profile: true, posts: 100, imagePosts: 4, seed: 40 })
    await addLikes(account, 150, { uri: made.posts[0]!.uri, cid: made.posts[0]!.cid })
    const s = openTempStorage()
    try {
      const full = await syncRepo(s, id)
      await addPosts(account, 3, 'incremental')
      const fetch = countingFetch()
      const started = performance.now()
      const inc = await syncRepo(s, id, { fetch })
      const incMs = performance.now() - started

      expect(inc).toMatchObject({ mode: 'diff', fellBackToFull: false, creates: 3, updates: 0, deletes: 0 })
      expect(fetch.requests).toHaveLength(1)
      expect(fetch.requests[0]).toContain(`since=${full.rev}`)
      expect(inc.bytesReceived).toBe(fetch.bytes)
      expect(inc.bytesReceived).toBeLessThan(full.bytesReceived / 10)
      // Only what changed came, and all of it was new: the commit, the new MST nodes, 3 records.
      expect(inc.blocksStored).toBe(inc.blocksReceived)
      expect(inc.blocksStored).toBeLessThan(20)

      const expected = await pdsRecords(net.pdsUrl, account.did)
      expect(await backedUp(s, account.did)).toEqual(expected)
      const out = await exportAndVerify(s, id)
      expect(out.records).toEqual(expected)
      expect(out.cids).toEqual(new Set((await readCarWithRoot(await fetchRepoCar(net.pdsUrl, account.did))).blocks.cids().map(String)))
      console.log(
        `incremental sync of 3 posts: ${inc.bytesReceived} bytes / ${inc.blocksReceived} blocks in ${incMs.toFixed(0)} ms, ` +
          `vs full CAR ${full.bytesReceived} bytes / ${full.blocksReceived} blocks (${((100 * inc.bytesReceived) / full.bytesReceived).toFixed(1)}%)`,
      )

      // Nothing new: one small request, nothing stored but the sync time.
      const before = dumpTables(s.db, ['blocks', 'commits', 'block_refs', 'records', 'blobs'])
      const again = await syncRepo(s, id, { now: () => 42 })
      expect(again).toMatchObject({ mode: 'unchanged', rev: inc.rev, creates: 0, blocksStored: 0 })
      expect(again.bytesReceived).toBeLessThan(200)
      expect(dumpTables(s.db, ['blocks', 'commits', 'block_refs', 'records', 'blobs'])).toEqual(before)
      expect((await s.repos.getAccount(account.did))?.lastSyncAt).toBe(42)
    } finally {
      s.close()
    }
  })

  it('records deletes and updates; deleted records stay readable, and exportable, at the old rev', async () => {
    const { account, id } = await newAccount('erin')
    const made = await populateAccount(account, { profile: { avatar: false, banner: false }, posts: 6, seed: 50 })
    const s = openTempStorage()
    try {
      const first = await syncRepo(s, id)
      const atFirst = await pdsRecords(net.pdsUrl, account.did)
      const victim = made.posts[2]!
      const rkey = victim.uri.split('/').pop()!
      await account.agent.com.atproto.repo.deleteRecord({ repo: account.did, collection: 'app.bsky.feed.post', rkey })
      await account.agent.com.atproto.repo.putRecord({
        repo: account.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'self',
        record: { $type: 'app.bsky.actor.profile', displayName: 'Erin, renamed' },
      })
      const second = await syncRepo(s, id)
      expect(second).toMatchObject({ mode: 'diff', creates: 0, updates: 1, deletes: 1 })

      expect(await getRecord(s, account.did, 'app.bsky.feed.post', rkey)).toBeNull()
      const old = await getRecord(s, account.did, 'app.bsky.feed.post', rkey, { rev: first.rev })
      expect(old).toMatchObject({ cid: victim.cid, rev: first.rev, value: { $type: 'app.bsky.feed.post', text: victim.text } })
      expect((await getRecord(s, account.did, 'app.bsky.actor.profile', 'self'))?.value).toMatchObject({ displayName: 'Erin, renamed' })
      expect(await backedUp(s, account.did, first.rev)).toEqual(atFirst)
      expect(await backedUp(s, account.did)).toEqual(await pdsRecords(net.pdsUrl, account.did))
      expect((await s.repos.listCommits(account.did)).map((c) => [c.rev, c.source])).toEqual([
        [second.rev, 'diff'],
        [first.rev, 'full'],
      ])

      // The old revision exports as a CAR that verifies and holds the records it had.
      const old1 = await exportAndVerify(s, id, first.rev)
      expect(old1.root).toBe(first.cid)
      expect(old1.records).toEqual(atFirst)
      expect((await exportAndVerify(s, id)).records).toEqual(await pdsRecords(net.pdsUrl, account.did))
      await expect(exportCar(s, account.did, { rev: '2222222222222' })).rejects.toBeInstanceOf(UnknownRevError)
    } finally {
      s.close()
    }
  })

  it('falls back to a full sync when the PDS cannot serve the diff', async () => {
    const { account, id } = await newAccount('fay')
    await populateAccount(account, { posts: 5, seed: 60 })
    const s = openTempStorage()
    try {
      await syncRepo(s, id)
      await addPosts(account, 2)
      // A PDS that refuses `since` (older software, or history it no longer has).
      const refusing = countingFetch(async (input, init) =>
        String(input).includes('since=')
          ? new Response(JSON.stringify({ error: 'InvalidRequest', message: 'since is not supported' }), { status: 400 })
          : fetch(input, init),
      )
      const summary = await syncRepo(s, id, { fetch: refusing })
      expect(summary).toMatchObject({ mode: 'full', fellBackToFull: true, creates: 2, updates: 0, deletes: 0 })
      expect(refusing.requests).toHaveLength(2)
      expect(await backedUp(s, account.did)).toEqual(await pdsRecords(net.pdsUrl, account.did))
      expect((await exportAndVerify(s, id)).records).toEqual(await pdsRecords(net.pdsUrl, account.did))
    } finally {
      s.close()
    }
  })

  it('two syncs at once: one stores, the other stores nothing and says so', async () => {
    const s = openTempStorage()
    try {
      const results = await Promise.allSettled([syncRepo(s, aliceId), syncRepo(s, aliceId)])
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
      const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(failure.reason).toBeInstanceOf(HeadMovedError)
      expect((await s.repos.listCommits(alice.did)).length).toBe(1)
      expect((await s.repos.getAccount(alice.did))?.lastError).toBeNull()
    } finally {
      s.close()
    }
  })
})

describe('history pruning', () => {
  it('forgets old revisions and frees only the blocks nothing kept needs', async () => {
    const { account, id } = await newAccount('gus')
    const made = await populateAccount(account, { posts: 8, imagePosts: 2, seed: 70 })
    const s = openTempStorage()
    try {
      const first = await syncRepo(s, id)
      const gone = made.posts.find((p) => p.images.length > 0)!
      const goneRkey = gone.uri.split('/').pop()!
      await account.agent.com.atproto.repo.deleteRecord({ repo: account.did, collection: 'app.bsky.feed.post', rkey: goneRkey })
      const second = await syncRepo(s, id)
      await addPosts(account, 1)
      const third = await syncRepo(s, id)
      const usageBefore = await s.repos.storageUsage(account.did)
      expect(await s.blocks.hasBlock(gone.cid)).toBe(true)

      const result = await pruneHistory(s, account.did, { before: third.rev })
      expect(result).toMatchObject({ commitsRemoved: 2, keptRevs: [third.rev] })
      expect(result.blocksDeleted).toBeGreaterThan(2)
      expect(await s.blocks.hasBlocks([gone.cid, first.cid, second.cid])).toEqual(new Set())
      // The deleted post's image is no longer referenced by any kept record.
      expect((await s.repos.listBlobs(account.did)).map((b) => b.cid)).not.toContain(gone.images[0]!.cid)
      const usageAfter = await s.repos.storageUsage(account.did)
      expect(usageAfter.repoBytes).toBe(usageBefore.repoBytes - result.bytesFreed)
      await expect(getRecord(s, account.did, 'app.bsky.feed.post', goneRkey, { rev: first.rev })).rejects.toBeInstanceOf(UnknownRevError)
      // The head is whole.
      const out = await exportAndVerify(s, id)
      expect(out.records).toEqual(await pdsRecords(net.pdsUrl, account.did))
      expect(usageAfter.repoBlocks).toBe(out.cids.size)
      // Nothing more to prune.
      expect(await pruneHistory(s, account.did, { before: third.rev })).toMatchObject({ commitsRemoved: 0, blocksDeleted: 0 })
    } finally {
      s.close()
    }
  })
})

describe('verification', () => {
  it('L0 compares the head with the PDS, L1 re-hashes a sample; results are stored with their time', async () => {
    const { account, id } = await newAccount('hal')
    await populateAccount(account, { posts: 10, seed: 80 })
    const s = openTempStorage()
    try {
      await syncRepo(s, id)
      const match = await verifyHead(s, account.did, { now: () => 1_000 })
      expect(match).toMatchObject({ level: 'L0', ok: true, at: 1_000, details: { status: 'match' } })

      await addPosts(account, 1)
      const behind = await verifyHead(s, account.did, { now: () => 2_000 })
      expect(behind).toMatchObject({ ok: false, details: { status: 'behind' } })

      const down = await verifyHead(s, account.did, {
        now: () => 3_000,
        fetch: async () => {
          throw new TypeError('fetch failed')
        },
      })
      expect(down).toMatchObject({ ok: false, details: { status: 'unreachable', error: { code: 'ERR_PDS_REQUEST' } } })

      const { repoBlocks } = await s.repos.storageUsage(account.did)
      const l1 = await verifyBlocks(s, account.did, { sampleSize: 8, seed: 7, now: () => 4_000 })
      expect(l1).toMatchObject({ level: 'L1', ok: true, details: { seed: 7, checked: 8, missing: [], corrupt: [] } })
      const all = await verifyBlocks(s, account.did, { sampleSize: 10_000, now: () => 5_000 })
      expect(all.details.checked).toBe(repoBlocks)

      // Bit rot: one stored record changes under us; a full L1 finds it.
      const victim = (await s.repos.listRecords(account.did, { limit: 1 }))[0]!
      s.db.prepare("UPDATE blocks SET bytes = CAST('rotten' AS BLOB) WHERE cid = ?").run(victim.cid)
      const rotten = await verifyBlocks(s, account.did, { sampleSize: 10_000, now: () => 6_000 })
      expect(rotten).toMatchObject({ ok: false, details: { corrupt: [victim.cid], missing: [] } })

      const stored = await s.repos.listVerifications(account.did)
      expect(stored.map((v) => [v.level, v.ok, v.at])).toEqual([
        ['L1', false, 6_000],
        ['L1', true, 5_000],
        ['L1', true, 4_000],
        ['L0', false, 3_000],
        ['L0', false, 2_000],
        ['L0', true, 1_000],
      ])
    } finally {
      s.close()
    }
  })
})

describe('cancellation', () => {
  it('every operation rejects an already-aborted signal with AbortError and changes nothing', async () => {
    const s = openTempStorage()
    try {
      const first = await syncRepo(s, aliceId)
      const before = dumpTables(s.db)
      const signal = AbortSignal.abort()
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['syncRepo', () => syncRepo(s, aliceId, { signal })],
        ['syncRepo full', () => syncRepo(s, aliceId, { signal, mode: 'full' })],
        ['exportCar', () => exportCar(s, alice.did, { signal })],
        ['listRecords', () => listRecords(s, alice.did, { signal })],
        ['listRecords at rev', () => listRecords(s, alice.did, { signal, rev: first.rev })],
        ['getRecord', () => getRecord(s, alice.did, 'app.bsky.actor.profile', 'self', { signal })],
        ['pruneHistory', () => pruneHistory(s, alice.did, { signal, before: first.rev })],
        ['verifyHead', () => verifyHead(s, alice.did, { signal })],
        ['verifyBlocks', () => verifyBlocks(s, alice.did, { signal })],
      ]
      for (const [name, call] of calls) await expect(call(), name).rejects.toBeInstanceOf(AbortError)
      expect(dumpTables(s.db)).toEqual(before)
    } finally {
      s.close()
    }
  })

  it('aborting during the download or the export stops it, storing nothing', async () => {
    const { account, id } = await newAccount('jan')
    await populateAccount(account, { posts: 5, seed: 90 })
    const s = openTempStorage()
    try {
      await syncRepo(s, id)
      await addPosts(account, 2)
      const before = dumpTables(s.db)
      // Abort once the first bytes of the repository have arrived.
      const controller = new AbortController()
      const aborting = countingFetch(async (input, init) => {
        const res = await fetch(input, init)
        if (!String(input).includes('getRepo')) return res
        const reader = res.body!.getReader()
        const body = new ReadableStream<Uint8Array>({
          async pull(c) {
            const { done, value } = await reader.read()
            if (done) return c.close()
            c.enqueue(value)
            controller.abort()
          },
          cancel: () => reader.cancel(),
        })
        return new Response(body, { status: res.status, headers: res.headers })
      })
      await expect(syncRepo(s, id, { fetch: aborting, signal: controller.signal })).rejects.toBeInstanceOf(AbortError)
      expect(dumpTables(s.db)).toEqual(before)

      const exportController = new AbortController()
      const { car } = await exportCar(s, account.did, { signal: exportController.signal })
      const reading = (async () => {
        for await (const _ of car) exportController.abort()
      })()
      await expect(reading).rejects.toBeInstanceOf(AbortError)
    } finally {
      s.close()
    }
  })
})

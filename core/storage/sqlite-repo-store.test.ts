import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AbortError, HeadMovedError, InvalidBlockError, InvalidInputError, RevNotForwardError, UnknownAccountError } from '../errors.js'
import { cborBlock, rawBlock } from './block-store.conformance.js'
import { dumpTables, openTempStorage, type TempStorage } from './test-helpers.js'
import type { Block, BlockKind, CommitWrite } from './types.js'

// These tests drive the store with synthetic blocks (the store does not parse repositories;
// replication does, and its tests use real repositories from the local PDS).

const ALICE = 'did:plc:alice'
const BOB = 'did:plc:bob'
const identity = (did: string) => ({ did, handle: `${did.slice(8)}.test`, pdsUrl: 'http://localhost:2583', signingKey: 'did:key:zAlice' })

let s: TempStorage
let clock = 1_000
beforeEach(() => {
  clock = 1_000
  s = openTempStorage({ now: () => clock })
})
afterEach(() => s.close())

/** A commit write with blocks of the given kinds; refs cover every block. */
function write(
  did: string,
  rev: string,
  expectedHead: string | null,
  parts: { blocks?: Array<Block & { kind: BlockKind }>; put?: Array<[string, string, string]>; del?: Array<[string, string]>; blobs?: string[] },
): CommitWrite & { commitCid: string } {
  const commit = cborBlock({ did, rev, kind: 'commit' })
  const blocks = [{ ...commit, kind: 'commit' as const }, ...(parts.blocks ?? [])]
  return {
    commitCid: commit.cid,
    did,
    expectedHead,
    commit: { cid: commit.cid, rev, dataCid: commit.cid, prevCid: null, source: 'full' },
    blocks,
    refs: blocks.map((b) => ({ cid: b.cid, kind: b.kind })),
    records: {
      put: (parts.put ?? []).map(([collection, rkey, cid]) => ({ collection, rkey, cid })),
      delete: (parts.del ?? []).map(([collection, rkey]) => ({ collection, rkey })),
    },
    blobs: (parts.blobs ?? []).map((cid) => ({ cid, mimeType: 'image/png', size: 10 })),
    at: clock,
  }
}

const rec = (text: string) => ({ ...cborBlock({ $type: 'app.bsky.feed.post', text }), kind: 'record' as const })
const node = (n: number) => ({ ...cborBlock({ l: null, e: [], n }), kind: 'mst' as const })

describe('SqliteRepoStore accounts', () => {
  it('adds an account, updates its identity, keeps the rest', async () => {
    const added = await s.repos.upsertAccount(identity(ALICE))
    expect(added).toEqual({ ...identity(ALICE), head: null, addedAt: 1000, lastSyncAt: null, lastSyncSource: null, lastError: null })
    clock = 2_000
    const updated = await s.repos.upsertAccount({ did: ALICE, pdsUrl: 'https://new.example', signingKey: 'did:key:zNew' })
    expect(updated).toMatchObject({ handle: 'alice.test', pdsUrl: 'https://new.example', signingKey: 'did:key:zNew', addedAt: 1000 })
    expect((await s.repos.listAccounts()).map((a) => a.did)).toEqual([ALICE])
    expect(await s.repos.getAccount(BOB)).toBeNull()
  })

  it('remembers a sync error until the next successful sync', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    await s.repos.recordSyncError(ALICE, { code: 'ERR_X', message: 'It broke.', at: 5 })
    expect((await s.repos.getAccount(ALICE))?.lastError).toEqual({ code: 'ERR_X', message: 'It broke.', at: 5 })
    await s.repos.recordSyncSuccess(ALICE, 6)
    expect(await s.repos.getAccount(ALICE)).toMatchObject({ lastError: null, lastSyncAt: 6, lastSyncSource: null })
    // What served it is kept; a success that does not say keeps the last one known.
    await s.repos.recordSyncSuccess(ALICE, 7, { source: 'peer:12D3KooWabc' })
    await s.repos.recordSyncSuccess(ALICE, 8)
    expect(await s.repos.getAccount(ALICE)).toMatchObject({ lastSyncAt: 8, lastSyncSource: 'peer:12D3KooWabc' })
    await s.repos.recordSyncSuccess(ALICE, 9, { source: 'pds' })
    expect(await s.repos.getAccount(ALICE)).toMatchObject({ lastSyncAt: 9, lastSyncSource: 'pds' })
    await expect(s.repos.recordSyncSuccess(BOB, 6)).rejects.toBeInstanceOf(UnknownAccountError)
  })
})

describe('SqliteRepoStore.applyCommit', () => {
  it('stores blocks, refs, the commit, the head, record index changes and blob rows together', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const [r1, r2] = [rec('one'), rec('two')]
    const blob = rawBlock('png bytes')
    const w1 = write(ALICE, '3aaaaaaaaaaa2', null, { blocks: [node(1), r1, r2], put: [['app.bsky.feed.post', 'a', r1.cid], ['app.bsky.feed.post', 'b', r2.cid]], blobs: [blob.cid] })
    const applied = await s.repos.applyCommit(w1)
    expect(applied).toMatchObject({ blocksWritten: 4, refsAdded: 4, newBlobs: [blob.cid] })
    expect(await s.repos.getAccount(ALICE)).toMatchObject({ head: { cid: w1.commitCid, rev: '3aaaaaaaaaaa2' }, lastSyncAt: 1000 })
    expect(await s.repos.countRecords(ALICE)).toEqual({ 'app.bsky.feed.post': 2 })
    expect(await s.repos.listBlobs(ALICE)).toMatchObject([{ cid: blob.cid, state: 'pending', mimeType: 'image/png', size: 10 }])

    const r3 = rec('three')
    const w2 = write(ALICE, '3aaaaaaaaaaa3', w1.commitCid, { blocks: [r3], put: [['app.bsky.feed.post', 'c', r3.cid]], del: [['app.bsky.feed.post', 'a']] })
    await s.repos.applyCommit(w2)
    expect(await s.repos.listRecords(ALICE)).toEqual([
      { collection: 'app.bsky.feed.post', rkey: 'b', cid: r2.cid },
      { collection: 'app.bsky.feed.post', rkey: 'c', cid: r3.cid },
    ])
    expect(await s.repos.getRecordCid(ALICE, 'app.bsky.feed.post', 'a')).toBeNull()
    expect((await s.repos.listCommits(ALICE)).map((c) => c.rev)).toEqual(['3aaaaaaaaaaa3', '3aaaaaaaaaaa2'])
    expect((await s.repos.listCommits(ALICE, { before: '3aaaaaaaaaaa3' })).map((c) => c.rev)).toEqual(['3aaaaaaaaaaa2'])
    expect(await s.repos.getCommit(ALICE, '3aaaaaaaaaaa2')).toMatchObject({ cid: w1.commitCid, source: 'full', seenAt: 1000 })
    // Old record blocks stay: history still needs them.
    expect(await s.blocks.hasBlock(r1.cid)).toBe(true)
  })

  it('refuses a rev that does not move forward, or a head that moved, changing nothing', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const w1 = write(ALICE, '3aaaaaaaaaaa5', null, { blocks: [rec('a')] })
    await s.repos.applyCommit(w1)
    const before = dumpTables(s.db)

    const same = write(ALICE, '3aaaaaaaaaaa5', w1.commitCid, { blocks: [rec('b')] })
    await expect(s.repos.applyCommit(same)).rejects.toBeInstanceOf(RevNotForwardError)
    const older = write(ALICE, '3aaaaaaaaaaa4', w1.commitCid, { blocks: [rec('c')] })
    await expect(s.repos.applyCommit(older)).rejects.toMatchObject({ code: 'ERR_REV_NOT_FORWARD', localRev: '3aaaaaaaaaaa5', receivedRev: '3aaaaaaaaaaa4' })
    const stale = write(ALICE, '3aaaaaaaaaaa6', null, { blocks: [rec('d')] })
    const error = await s.repos.applyCommit(stale).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HeadMovedError)
    expect(error).toMatchObject({ expectedHead: null, actualHead: w1.commitCid })
    await expect(s.repos.applyCommit(write(BOB, '3aaaaaaaaaaa6', null, {}))).rejects.toBeInstanceOf(UnknownAccountError)
    expect(dumpTables(s.db)).toEqual(before)
  })

  it('rolls back everything when a write fails half-way (a ref to a block that is not stored)', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const before = dumpTables(s.db)
    const w = write(ALICE, '3aaaaaaaaaaa2', null, { blocks: [rec('stored')], put: [['c.o.l', 'k', 'x']], blobs: [rawBlock('b').cid] })
    const ghost = rec('never given')
    w.refs = [...w.refs, { cid: ghost.cid, kind: 'record' }]
    await expect(s.repos.applyCommit(w)).rejects.toThrow(/FOREIGN KEY/)
    expect(dumpTables(s.db)).toEqual(before)
  })

  it('stores a block shared by two commits or accounts once', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    await s.repos.upsertAccount(identity(BOB))
    const shared = rec('same content')
    const a = await s.repos.applyCommit(write(ALICE, '3aaaaaaaaaaa2', null, { blocks: [shared] }))
    const b = await s.repos.applyCommit(write(BOB, '3aaaaaaaaaaa2', null, { blocks: [shared] }))
    expect(a.blocksWritten).toBe(2)
    expect(b.blocksWritten).toBe(1) // only Bob's commit block is new
    expect(s.db.prepare('SELECT COUNT(*) AS n FROM blocks WHERE cid = ?').get(shared.cid)).toEqual({ n: 1 })
  })

  it('tracks a blob another account already stored as stored', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    await s.repos.upsertAccount(identity(BOB))
    const blob = rawBlock('shared image')
    await s.repos.applyCommit(write(ALICE, '3aaaaaaaaaaa2', null, { blobs: [blob.cid] }))
    await s.repos.storeBlob(ALICE, blob.cid, blob.bytes, { mimeType: 'image/png' })
    await s.repos.applyCommit(write(BOB, '3aaaaaaaaaaa2', null, { blobs: [blob.cid] }))
    expect(await s.repos.listBlobs(BOB)).toMatchObject([{ cid: blob.cid, state: 'stored' }])
  })
})

describe('SqliteRepoStore garbage collection', () => {
  /** Alice and Bob share a record block, an MST node and a blob; each has their own too. */
  async function twoAccounts() {
    await s.repos.upsertAccount(identity(ALICE))
    await s.repos.upsertAccount(identity(BOB))
    const shared = { rec: rec('shared'), node: node(0), blob: rawBlock('shared blob') }
    const alice = { rec: rec('alice only'), blob: rawBlock('alice blob') }
    const bob = { rec: rec('bob only'), blob: rawBlock('bob blob') }
    const wa = write(ALICE, '3aaaaaaaaaaa2', null, { blocks: [shared.rec, shared.node, alice.rec], blobs: [shared.blob.cid, alice.blob.cid] })
    const wb = write(BOB, '3aaaaaaaaaaa2', null, { blocks: [shared.rec, shared.node, bob.rec], blobs: [shared.blob.cid, bob.blob.cid] })
    await s.repos.applyCommit(wa)
    await s.repos.applyCommit(wb)
    await s.repos.storeBlob(ALICE, shared.blob.cid, shared.blob.bytes)
    await s.repos.storeBlob(ALICE, alice.blob.cid, alice.blob.bytes)
    await s.repos.storeBlob(BOB, bob.blob.cid, bob.blob.bytes)
    return { shared, alice, bob, aliceCommit: wa.commitCid, bobCommit: wb.commitCid }
  }

  it('removing one of two accounts deletes only the blocks and blobs nobody else references', async () => {
    const t = await twoAccounts()
    await s.repos.recordVerification({ did: ALICE, level: 'L1', ok: true, details: {}, at: 1 })
    const result = await s.repos.removeAccount(ALICE)
    expect(result.blocksDeleted).toBe(3) // Alice's commit, her record, her blob
    const aliceCommitBytes = cborBlock({ did: ALICE, rev: '3aaaaaaaaaaa2', kind: 'commit' }).bytes
    expect(result.bytesFreed).toBe(t.alice.rec.bytes.byteLength + t.alice.blob.bytes.byteLength + aliceCommitBytes.byteLength)
    const present = await s.blocks.hasBlocks([t.shared.rec.cid, t.shared.node.cid, t.shared.blob.cid, t.bob.rec.cid, t.bob.blob.cid, t.bobCommit])
    expect(present.size).toBe(6)
    expect(await s.blocks.hasBlocks([t.alice.rec.cid, t.alice.blob.cid, t.aliceCommit])).toEqual(new Set())
    expect(await s.repos.getAccount(ALICE)).toBeNull()
    for (const table of ['commits', 'block_refs', 'records', 'blobs', 'verifications']) {
      expect(s.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE did = ?`).get(ALICE), table).toEqual({ n: 0 })
    }
    // Then Bob: nothing is left at all.
    await s.repos.removeAccount(BOB)
    expect(s.db.prepare('SELECT COUNT(*) AS n FROM blocks').get()).toEqual({ n: 0 })
    await expect(s.repos.removeAccount(BOB)).rejects.toBeInstanceOf(UnknownAccountError)
  })

  it('counts a blob stored for one account as stored for every account, and keeps it while one tracks it', async () => {
    const t = await twoAccounts()
    // Bob tracked the shared blob as pending; Alice storing it stored it for Bob too.
    await s.repos.removeAccount(ALICE)
    expect(await s.blocks.hasBlock(t.shared.blob.cid)).toBe(true)
    expect(await s.repos.listBlobs(BOB, { state: 'stored' })).toHaveLength(2)
  })

  it('pruning history deletes blocks only the pruned commits needed, keeping shared ones', async () => {
    const t = await twoAccounts()
    // Alice's second commit drops her own record and blob, keeps the shared ones, adds one.
    const next = rec('alice second')
    const w2 = write(ALICE, '3aaaaaaaaaaa3', t.aliceCommit, { blocks: [next] })
    await s.repos.applyCommit(w2)
    const plan = {
      expectedHead: w2.commitCid,
      removeRevs: ['3aaaaaaaaaaa2'],
      keepRefs: [w2.commitCid, next.cid, t.shared.rec.cid, t.shared.node.cid],
      keepBlobs: [t.shared.blob.cid],
    }
    await expect(s.repos.retainHistory(ALICE, { ...plan, expectedHead: t.aliceCommit })).rejects.toBeInstanceOf(HeadMovedError)
    await expect(s.repos.retainHistory(ALICE, { ...plan, removeRevs: ['3aaaaaaaaaaa3'] })).rejects.toBeInstanceOf(InvalidInputError)
    const result = await s.repos.retainHistory(ALICE, plan)
    expect(result).toMatchObject({ commitsRemoved: 1, blocksDeleted: 3 })
    expect(await s.blocks.hasBlocks([t.alice.rec.cid, t.alice.blob.cid, t.aliceCommit])).toEqual(new Set())
    expect((await s.blocks.hasBlocks([next.cid, t.shared.rec.cid, t.shared.node.cid, t.shared.blob.cid, t.bob.rec.cid])).size).toBe(5)
    expect((await s.repos.listCommits(ALICE)).map((c) => c.rev)).toEqual(['3aaaaaaaaaaa3'])
    expect((await s.repos.listBlobs(ALICE)).map((b) => b.cid)).toEqual([t.shared.blob.cid])
  })

  it('pruning keeps a block another account needs even when this one lets it go', async () => {
    const t = await twoAccounts()
    const w2 = write(ALICE, '3aaaaaaaaaaa3', t.aliceCommit, {})
    await s.repos.applyCommit(w2)
    await s.repos.retainHistory(ALICE, { expectedHead: w2.commitCid, removeRevs: ['3aaaaaaaaaaa2'], keepRefs: [w2.commitCid], keepBlobs: [] })
    expect((await s.blocks.hasBlocks([t.shared.rec.cid, t.shared.node.cid, t.shared.blob.cid])).size).toBe(3)
    expect(await s.repos.getBlockRefs(ALICE, [t.shared.rec.cid, w2.commitCid])).toEqual(new Map([[w2.commitCid, 'commit']]))
  })
})

describe('SqliteRepoStore blobs, sampling, usage, verification', () => {
  it('tracks listed blobs once, as stored when the block store already has them', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const [known, unknown] = [rawBlock('already here'), rawBlock('to fetch')]
    await s.blocks.putBlock(known.cid, known.bytes)
    expect(await s.repos.trackBlobs(ALICE, [{ cid: known.cid }, { cid: unknown.cid, mimeType: 'image/jpeg' }])).toBe(2)
    expect(await s.repos.trackBlobs(ALICE, [{ cid: unknown.cid }])).toBe(0)
    expect((await s.repos.listBlobs(ALICE)).map((b) => [b.cid, b.state]).sort()).toEqual(
      [
        [known.cid, 'stored'],
        [unknown.cid, 'pending'],
      ].sort(),
    )
    await expect(s.repos.trackBlobs(BOB, [])).rejects.toBeInstanceOf(UnknownAccountError)
  })

  it('stores a blob checked against its CID, and records failures with attempts', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const blob = rawBlock('image')
    await s.repos.recordBlobFailure(ALICE, blob.cid, 'HTTP 500')
    await s.repos.recordBlobFailure(ALICE, blob.cid, 'timed out')
    expect(await s.repos.listBlobs(ALICE, { state: 'failed' })).toMatchObject([{ attempts: 2, lastError: 'timed out' }])
    await expect(s.repos.storeBlob(ALICE, blob.cid, new TextEncoder().encode('other'))).rejects.toBeInstanceOf(InvalidBlockError)
    await s.repos.storeBlob(ALICE, blob.cid, blob.bytes, { mimeType: 'image/png' })
    expect(await s.repos.listBlobs(ALICE)).toMatchObject([{ state: 'stored', attempts: 3, lastError: null, size: 5, mimeType: 'image/png' }])
    expect(await s.repos.storageUsage(ALICE)).toEqual({ repoBlocks: 0, repoBytes: 0, blobs: { pending: 0, stored: 1, failed: 0 }, blobBytes: 5 })
  })

  it('samples reproducibly from repository blocks and stored blobs', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const blocks = Array.from({ length: 40 }, (_, i) => rec(`r${i}`))
    await s.repos.applyCommit(write(ALICE, '3aaaaaaaaaaa2', null, { blocks }))
    const blob = rawBlock('blob')
    await s.repos.storeBlob(ALICE, blob.cid, blob.bytes)
    const seeded = (seed: number) => () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    const a = await s.repos.sampleBlocks(ALICE, 10, seeded(7))
    expect(a).toHaveLength(10)
    expect(new Set(a).size).toBe(10)
    expect(await s.repos.sampleBlocks(ALICE, 10, seeded(7))).toEqual(a)
    const all = await s.repos.sampleBlocks(ALICE, 1000, Math.random)
    expect(all).toHaveLength(42) // 40 records + commit + blob
    expect(all).toContain(blob.cid)
  })

  it('stores verification results with time, newest first', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    await s.repos.recordVerification({ did: ALICE, level: 'L0', ok: true, details: { status: 'match' }, at: 1 })
    await s.repos.recordVerification({ did: ALICE, level: 'L1', ok: false, details: { corrupt: ['x'] }, at: 2 })
    expect(await s.repos.listVerifications(ALICE)).toEqual([
      { did: ALICE, level: 'L1', ok: false, details: { corrupt: ['x'] }, at: 2 },
      { did: ALICE, level: 'L0', ok: true, details: { status: 'match' }, at: 1 },
    ])
    expect(await s.repos.listVerifications(ALICE, { level: 'L0' })).toHaveLength(1)
    await expect(s.repos.recordVerification({ did: BOB, level: 'L0', ok: true, details: {}, at: 1 })).rejects.toBeInstanceOf(UnknownAccountError)
  })

  it('pages records by collection and cursor', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const put: Array<[string, string, string]> = [
      ['app.bsky.feed.like', 'l1', 'c1'],
      ['app.bsky.feed.post', 'p1', 'c2'],
      ['app.bsky.feed.post', 'p2', 'c3'],
      ['app.bsky.graph.follow', 'f1', 'c4'],
    ]
    await s.repos.applyCommit(write(ALICE, '3aaaaaaaaaaa2', null, { put }))
    const page1 = await s.repos.listRecords(ALICE, { limit: 2 })
    expect(page1.map((r) => r.rkey)).toEqual(['l1', 'p1'])
    const page2 = await s.repos.listRecords(ALICE, { limit: 2, after: 'app.bsky.feed.post/p1' })
    expect(page2.map((r) => r.rkey)).toEqual(['p2', 'f1'])
    expect((await s.repos.listRecords(ALICE, { collection: 'app.bsky.feed.post', after: 'app.bsky.feed.post/p1' })).map((r) => r.rkey)).toEqual(['p2'])
    expect(await s.repos.listRecords(ALICE, { collection: 'app.bsky.feed.post', after: 'app.bsky.graph.follow/f1' })).toEqual([])
    expect(await s.repos.countRecords(ALICE)).toEqual({ 'app.bsky.feed.like': 1, 'app.bsky.feed.post': 2, 'app.bsky.graph.follow': 1 })
  })
})

describe('SqliteRepoStore with an aborted signal', () => {
  it('rejects every method with AbortError and changes nothing', async () => {
    await s.repos.upsertAccount(identity(ALICE))
    const before = dumpTables(s.db)
    const signal = AbortSignal.abort()
    const o = { signal }
    const r = s.repos
    const blob = rawBlock('x')
    const calls: Array<Promise<unknown>> = [
      r.upsertAccount(identity(BOB), o),
      r.getAccount(ALICE, o),
      r.listAccounts(o),
      r.removeAccount(ALICE, o),
      r.recordSyncError(ALICE, { code: 'E', message: 'm', at: 1 }, o),
      r.recordSyncSuccess(ALICE, 1, o),
      r.applyCommit(write(ALICE, '3aaaaaaaaaaa2', null, {}), o),
      r.listCommits(ALICE, o),
      r.getCommit(ALICE, '3aaaaaaaaaaa2', o),
      r.retainHistory(ALICE, { expectedHead: null, removeRevs: [], keepRefs: [], keepBlobs: [] }, o),
      r.listRecords(ALICE, o),
      r.getRecordCid(ALICE, 'a.b.c', 'k', o),
      r.countRecords(ALICE, o),
      r.getBlockRefs(ALICE, [], o),
      r.sampleBlocks(ALICE, 1, Math.random, o),
      r.storageUsage(ALICE, o),
      r.listBlobs(ALICE, o),
      r.trackBlobs(ALICE, [{ cid: blob.cid }], o),
      r.storeBlob(ALICE, blob.cid, blob.bytes, o),
      r.recordBlobFailure(ALICE, blob.cid, 'x', o),
      r.recordVerification({ did: ALICE, level: 'L0', ok: true, details: {}, at: 1 }, o),
      r.listVerifications(ALICE, o),
    ]
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(AbortError)
    expect(dumpTables(s.db)).toEqual(before)
  })
})

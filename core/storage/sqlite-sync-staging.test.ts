import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AbortError, HeadMovedError, RevNotForwardError } from '../errors.js'
import { cborBlock, rawBlock } from './block-store.conformance.js'
import { openDatabase } from './database.js'
import { dumpTables, openTempStorage, type TempStorage } from './test-helpers.js'
import type { StagedCommitWrite, StagedRepo } from './types.js'

// The staging area is driven with synthetic blocks here (the store does not parse repositories);
// `../replication/repo-sync*.test.ts` drive it with real ones from the local PDS.

const ALICE = 'did:plc:alice'
const identity = (did: string) => ({ did, pdsUrl: 'http://localhost:2583', signingKey: 'did:key:zAlice' })

let s: TempStorage
beforeEach(async () => {
  s = openTempStorage({ now: () => 1_000 })
  await s.repos.upsertAccount(identity(ALICE))
})
afterEach(() => s.close())

const commitWrite = (cid: string, rev: string, expectedHead: string | null): StagedCommitWrite => ({
  expectedHead,
  commit: { cid, rev, dataCid: cid, prevCid: null, source: 'full' },
  at: 2_000,
})

/** Stages a commit block, one MST-like node and `records` record blocks (plus one block nothing needs). */
async function stage(staged: StagedRepo, rev: string, records: Array<[rkey: string, text: string]>) {
  const commit = cborBlock({ rev, kind: 'commit' })
  const node = cborBlock({ rev, kind: 'node' })
  const recs = records.map(([rkey, text]) => ({ rkey, block: cborBlock({ text }) }))
  const stray = cborBlock({ stray: rev })
  await staged.putBlocks([commit, node, ...recs.map((r) => r.block), stray, commit])
  await staged.putRefs([
    { cid: commit.cid, kind: 'commit' },
    { cid: node.cid, kind: 'mst' },
  ])
  await staged.putRecords(recs.map((r) => ({ collection: 'app.bsky.feed.post', rkey: r.rkey, cid: r.block.cid })))
  return { commit, node, recs, stray }
}

describe('SqliteSyncStaging', () => {
  it('stages in TEMP tables: nothing shows in pds.db, nor to another connection, and close drops it', async () => {
    const before = dumpTables(s.db)
    const staged = await s.staging!.open(ALICE)
    const { commit, recs } = await stage(staged, '3kaaaaaaaaaa2', [['a', 'one']])
    expect(await staged.getBlock(commit.cid)).toEqual(Buffer.from(commit.bytes))
    expect(await staged.getBlock(cborBlock({ nothing: 1 }).cid)).toBeUndefined()
    expect(await staged.firstMissingRecord()).toBeNull()
    expect(await s.blocks.hasBlock(recs[0]!.block.cid)).toBe(false)
    expect(dumpTables(s.db)).toEqual(before)
    const other = openDatabase(s.file, { readonly: true })
    try {
      const tables = (db: typeof other) => db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'sync_%'").all()
      expect(tables(other)).toEqual([])
    } finally {
      other.close()
    }
    staged.close()
    staged.close() // twice is fine
    expect(s.db.prepare("SELECT name FROM sqlite_temp_master WHERE name LIKE 'sync_%'").all()).toEqual([])
    await expect(staged.getBlock(commit.cid)).rejects.toThrow(/closed/)
  })

  it('apply writes the needed blocks once, refs with their kinds, the record index, the commit and the head', async () => {
    const staged = await s.staging!.open(ALICE)
    const { commit, node, recs, stray } = await stage(staged, '3kaaaaaaaaaa2', [['a', 'one'], ['b', 'two'], ['c', 'one']])
    const applied = await staged.apply(commitWrite(commit.cid, '3kaaaaaaaaaa2', null))
    staged.close()
    const distinct = [commit, node, recs[0]!.block, recs[1]!.block]
    expect(applied).toMatchObject({ blocksWritten: 4, refsAdded: 4, creates: 3, updates: 0, deletes: 0, newBlobs: [] })
    expect(applied.bytesWritten).toBe(distinct.reduce((n, b) => n + b.bytes.byteLength, 0))
    expect(await s.blocks.hasBlock(stray.cid)).toBe(false) // received, but the commit does not need it
    expect(await s.repos.getBlockRefs(ALICE, distinct.map((b) => b.cid))).toEqual(
      new Map([[commit.cid, 'commit'], [node.cid, 'mst'], [recs[0]!.block.cid, 'record'], [recs[1]!.block.cid, 'record']]),
    )
    expect((await s.repos.listRecords(ALICE)).map((r) => `${r.rkey} ${r.cid}`)).toEqual(recs.map((r) => `${r.rkey} ${r.block.cid}`))
    expect(await s.repos.getAccount(ALICE)).toMatchObject({ head: { cid: commit.cid, rev: '3kaaaaaaaaaa2' }, lastSyncAt: 2_000 })
    expect(await s.repos.listCommits(ALICE)).toMatchObject([{ rev: '3kaaaaaaaaaa2', cid: commit.cid, source: 'full', seenAt: 2_000 }])
  })

  it('a later full sync counts creates, updates and deletes against the previous index, and tracks blobs of new records only', async () => {
    const blob = rawBlock('image bytes')
    const first = await s.staging!.open(ALICE)
    const one = await stage(first, '3kaaaaaaaaaa2', [['a', 'one'], ['b', 'two']])
    await first.putBlobRefs(one.recs[0]!.block.cid, [{ cid: blob.cid, mimeType: 'image/png', size: 11 }])
    expect((await first.apply(commitWrite(one.commit.cid, '3kaaaaaaaaaa2', null))).newBlobs).toEqual([blob.cid])
    first.close()

    const second = await s.staging!.open(ALICE)
    const two = await stage(second, '3kaaaaaaaaaa3', [['a', 'one'], ['b', 'changed'], ['c', 'new']])
    // Record "a" is unchanged: its blob is already tracked, and is not counted again.
    await second.putBlobRefs(two.recs[0]!.block.cid, [{ cid: blob.cid, mimeType: 'image/png', size: 11 }])
    const applied = await second.apply(commitWrite(two.commit.cid, '3kaaaaaaaaaa3', one.commit.cid))
    second.close()
    expect(applied).toMatchObject({ creates: 1, updates: 1, deletes: 0, newBlobs: [] })

    const third = await s.staging!.open(ALICE)
    const three = await stage(third, '3kaaaaaaaaaa4', [['c', 'new']])
    expect(await third.apply(commitWrite(three.commit.cid, '3kaaaaaaaaaa4', two.commit.cid))).toMatchObject({ creates: 0, updates: 0, deletes: 2 })
    third.close()
    expect((await s.repos.listRecords(ALICE)).map((r) => r.rkey)).toEqual(['c'])
    expect(await s.repos.listBlobs(ALICE)).toMatchObject([{ cid: blob.cid, state: 'pending', mimeType: 'image/png', size: 11 }])
  })

  it('finds a record whose block is neither staged nor stored, and records to scan that are stored but new to the account', async () => {
    const staged = await s.staging!.open(ALICE)
    const { commit } = await stage(staged, '3kaaaaaaaaaa2', [['a', 'one']])
    const stored = cborBlock({ text: 'stored elsewhere' })
    await s.blocks.putBlock(stored.cid, stored.bytes)
    const absent = cborBlock({ text: 'nowhere' })
    await staged.putRecords([
      { collection: 'app.bsky.feed.post', rkey: 'b', cid: stored.cid },
      { collection: 'app.bsky.feed.post', rkey: 'c', cid: absent.cid },
    ])
    expect(await staged.firstMissingRecord()).toEqual({ collection: 'app.bsky.feed.post', rkey: 'c', cid: absent.cid })
    expect(await staged.storedRecordsToScan()).toEqual(expect.arrayContaining([stored.cid]))
    expect(commit.cid).toBeTruthy()
    staged.close()
  })

  it('apply refuses, changing nothing, when the head moved or the rev does not move forward; two areas at once stay apart', async () => {
    const a = await s.staging!.open(ALICE)
    const b = await s.staging!.open(ALICE)
    const sa = await stage(a, '3kaaaaaaaaaa3', [['a', 'from a']])
    const sb = await stage(b, '3kaaaaaaaaaa2', [['b', 'from b']])
    expect(await b.getBlock(sa.recs[0]!.block.cid)).toBeUndefined()
    await a.apply(commitWrite(sa.commit.cid, '3kaaaaaaaaaa3', null))
    const before = dumpTables(s.db)
    await expect(b.apply(commitWrite(sb.commit.cid, '3kaaaaaaaaaa2', null))).rejects.toBeInstanceOf(HeadMovedError)
    await expect(b.apply(commitWrite(sb.commit.cid, '3kaaaaaaaaaa2', sa.commit.cid))).rejects.toBeInstanceOf(RevNotForwardError)
    expect(dumpTables(s.db)).toEqual(before)
    a.close()
    b.close()
  })

  it('every method rejects an already-aborted signal with AbortError and changes nothing', async () => {
    const signal = AbortSignal.abort()
    await expect(s.staging!.open(ALICE, { signal })).rejects.toBeInstanceOf(AbortError)
    const staged = await s.staging!.open(ALICE)
    const { commit } = await stage(staged, '3kaaaaaaaaaa2', [['a', 'one']])
    const before = dumpTables(s.db)
    await expect(staged.putBlocks([commit], { signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.putRefs([], { signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.putRecords([], { signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.putBlobRefs(commit.cid, [], { signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.getBlock(commit.cid, { signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.firstMissingRecord({ signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.storedRecordsToScan({ signal })).rejects.toBeInstanceOf(AbortError)
    await expect(staged.apply(commitWrite(commit.cid, '3kaaaaaaaaaa2', null), { signal })).rejects.toBeInstanceOf(AbortError)
    expect(dumpTables(s.db)).toEqual(before)
    staged.close()
  })
})

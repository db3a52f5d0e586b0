/**
 * The frame handler against the real local PDS: real `#commit` frames (read from its
 * subscribeRepos) are applied to a real SQLite copy made by a real sync; forged variants of them
 * are refused and change nothing; a gap owes a resync; the commit and the cursor are one
 * transaction.
 */
import { Secp256k1Keypair } from '@atproto/crypto'
import { HeadMovedError } from '../errors.js'
import { parseCid } from '@atproto/lex-data'
import WebSocket from 'ws'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { dumpTables, openTempStorage, REPO_TABLES, type TempStorage } from '../storage/test-helpers.js'
import type { AccountIdentity } from '../storage/types.js'
import { createAccount, populateAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { tidTimestampMs } from './firehose-commit.js'
import { peekFrame } from './firehose-frame.js'
import { FirehoseHandler } from './firehose-handler.js'
import { FirehoseStore } from './firehose-store.js'
import { commitBody, encodeFrame, resignCommit } from './firehose-test-stream.js'
import { syncRepo } from './repo-sync.js'
import { addPosts, pdsRecords, resolveIdentity } from './test-helpers.js'

let net: TestNetwork
let alice: TestAccount
let bob: TestAccount
let aliceId: AccountIdentity
const URL_KEY = 'ws://stream.test/xrpc/com.atproto.sync.subscribeRepos'

beforeAll(async () => {
  net = await startTestNetwork()
  ;[alice, bob] = await Promise.all([createAccount(net, { handle: 'alice' }), createAccount(net, { handle: 'bob' })])
  await populateAccount(alice, { profile: true, posts: 5, seed: 7 })
  aliceId = await resolveIdentity(net, alice.did)
}, 120_000)
afterAll(async () => {
  await net?.close()
})

let storage: TempStorage | undefined
afterEach(() => {
  storage?.close()
  storage = undefined
})

/** Every frame the PDS has sequenced so far (subscribeRepos from cursor 0, until it goes quiet). */
async function allFrames(): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = []
  const ws = new WebSocket(`${net.env.FIREHOSE_URL}?cursor=0`)
  await new Promise<void>((resolve, reject) => {
    let timer = setTimeout(() => ws.close(), 2000)
    ws.on('message', (data: Buffer) => {
      frames.push(new Uint8Array(data))
      clearTimeout(timer)
      timer = setTimeout(() => ws.close(), 300)
    })
    ws.on('close', () => resolve())
    ws.on('error', reject)
  })
  return frames
}

/** Alice's commit frames, oldest first. */
async function aliceCommits(): Promise<Uint8Array[]> {
  return (await allFrames()).filter((f) => {
    const p = peekFrame(f)
    return p.t === '#commit' && p.did === alice.did
  })
}

/** A fresh copy of Alice made by a real sync, and a handler over it. */
async function setUp() {
  storage = openTempStorage()
  await syncRepo(storage, aliceId)
  const store = new FirehoseStore({ db: storage.db, repos: storage.repos })
  const resyncs: string[] = []
  const handler = new FirehoseHandler({
    url: URL_KEY,
    storage,
    store,
    resolve: async () => ({ ...aliceId, handle: aliceId.handle ?? null, handleProblem: null, didDoc: {} }),
    isHeld: (did) => did === alice.did,
    isPaused: () => false,
    requestResync: (did) => resyncs.push(did),
  })
  return { handler, store, resyncs, storage }
}

let nextSeq = 1_000_000
/** The frame re-encoded with a fresh seq (the handler drops seqs it has passed). */
function withSeq(body: Record<string, unknown>): Uint8Array {
  return encodeFrame('#commit', { ...body, seq: nextSeq++ })
}

describe('FirehoseHandler with frames of the real PDS', () => {
  it('applies a post, a like, a delete and a profile update as they come, in one transaction each, and skips other accounts', async () => {
    const { handler, store, storage } = await setUp()
    const before = (await aliceCommits()).length
    const post = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'live', createdAt: new Date().toISOString() } })
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.like', record: { $type: 'app.bsky.feed.like', subject: { uri: post.data.uri, cid: post.data.cid }, createdAt: new Date().toISOString() } })
    await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: post.data.uri.split('/').pop()! })
    await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'Alice, updated' } })
    await populateAccount(bob, { posts: 1, seed: 9 })
    const frames = await allFrames()
    const mine = frames.filter((f) => peekFrame(f).did === alice.did && peekFrame(f).t === '#commit').slice(before)
    expect(mine).toHaveLength(4)
    const results: string[] = []
    // A first connection has no cursor: the stream starts after the sync that made the copy.
    for (const f of frames.slice(frames.indexOf(mine[0]!))) {
      const o = await handler.handle(f)
      if (o.did === alice.did && o.type === '#commit' && mine.includes(f)) results.push(o.result)
      if (o.did === bob.did) expect(o.result).toBe('skipped')
    }
    expect(results).toEqual(['applied', 'applied', 'applied', 'applied'])
    const local = new Map((await storage.repos.listRecords(alice.did, { limit: 1000 })).map((r) => [`${r.collection}/${r.rkey}`, r.cid]))
    expect(local).toEqual(await pdsRecords(net.pdsUrl, alice.did))
    expect((await storage.repos.getRecordCid(alice.did, 'app.bsky.actor.profile', 'self')) !== null).toBe(true)
    expect(store.row(alice.did)?.eventsApplied).toBe(4)
    // The cursor is at the last frame handled (saved with the last commit, or with the skipped ones).
    handler.flushCursor()
    expect(store.cursor(URL_KEY)).toBe(peekFrame(frames.at(-1)!).seq)
    // Each applied commit is kept in the history.
    const commits = await storage.repos.listCommits(alice.did, { limit: 100 })
    for (const f of mine) expect(commits.map((c) => c.cid)).toContain(String((commitBody(f)!.commit as object).toString()))
    // Handled again (a replay after a reconnect without a cursor): out of order, nothing changes.
    const dump = dumpTables(storage.db)
    expect((await handler.handle(mine[0]!)).result).toBe('out-of-order')
    expect((await handler.handle(withSeq(commitBody(mine[0]!)!))).result).toBe('duplicate')
    expect(dumpTables(storage.db)).toEqual(dump)
  })

  it('refuses forged commits (bad signature, wrong DID, wrong CID, broken proof, rev going backwards, future rev), changing nothing and owing a resync', async () => {
    const { handler, store, resyncs, storage } = await setUp()
    await addPosts(alice, 1, 'forge me')
    const genuine = commitBody((await aliceCommits()).at(-1)!)!
    const realKey = await net.pds.ctx.actorStore.keypair(alice.did)
    const otherKey = await Secp256k1Keypair.create()
    const headRev = (await storage.repos.getAccount(alice.did))!.head!.rev
    const ops = genuine.ops as Array<Record<string, unknown>>
    const forged: Array<[string, Record<string, unknown>, RegExp]> = [
      ['bad signature', await resignCommit(genuine, otherKey), /bad-signature/],
      ['wrong DID', await resignCommit(genuine, realKey, { did: bob.did }), /wrong-did/],
      ['wrong CID', { ...genuine, commit: genuine.prevData }, /wrong-cid/],
      ['broken proof', { ...genuine, ops: ops.map((o) => ({ ...o, cid: parseCid('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm') })) }, /bad-proof/],
      ['broken proof (prevData)', { ...genuine, prevData: parseCid('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm') }, /bad-proof/],
      ['rev going backwards', await resignCommit(genuine, realKey, { rev: '2222222222222' }), /stale-rev/],
      ['rev in the future', await resignCommit(genuine, realKey, { rev: 'zzzzzzzzzzzzz' }), /future-rev|not a TID/],
    ]
    expect(tidTimestampMs(headRev)).not.toBeNull()
    for (const [name, body, reason] of forged) {
      const dump = dumpTables(storage.db, REPO_TABLES)
      const outcome = await handler.handle(withSeq(body))
      expect(outcome.result, name).toBe('rejected')
      expect(outcome.reason, name).toMatch(reason)
      expect(dumpTables(storage.db, REPO_TABLES), name).toEqual(dump)
      expect(store.row(alice.did)?.resyncReason, name).toMatch(/refused/)
      expect(resyncs.at(-1), name).toBe(alice.did)
      // The resync found nothing it could use (the test does not run one): the account takes frames again.
      await handler.resyncFinished(alice.did, true)
    }
    // The genuine frame still applies afterwards.
    expect((await handler.handle(withSeq(genuine))).result).toBe('applied')
  })

  it('a gap (a commit missed) owes a resync instead of applying, keeps later commits, and replays them after the resync', async () => {
    const { handler, store, resyncs, storage } = await setUp()
    await addPosts(alice, 3, 'gap')
    const [missed, next, last] = (await aliceCommits()).slice(-3).map((f) => commitBody(f)!)
    void missed
    const dump = dumpTables(storage.db, REPO_TABLES)
    const o = await handler.handle(withSeq(next!))
    expect(o.result).toBe('resync')
    expect(o.reason).toMatch(/follows rev/)
    expect(resyncs).toEqual([alice.did])
    expect(store.row(alice.did)?.resyncReason).toMatch(/follows rev/)
    expect(dumpTables(storage.db, REPO_TABLES)).toEqual(dump)
    // While the resync runs, the next commit is checked and kept.
    expect((await handler.handle(withSeq(last!))).result).toBe('buffered')
    // The resync (a real incremental sync) brings the account to the PDS's head; the kept commit is a duplicate then.
    await syncRepo(storage, aliceId)
    await handler.resyncFinished(alice.did, true)
    expect(store.row(alice.did)?.resyncReason).toBeNull()
    const local = new Map((await storage.repos.listRecords(alice.did, { limit: 1000 })).map((r) => [`${r.collection}/${r.rkey}`, r.cid]))
    expect(local).toEqual(await pdsRecords(net.pdsUrl, alice.did))
  })

  it('a commit kept during a resync that the resync did not reach is applied when replayed, and its outcome names the blobs it newly references', async () => {
    const { handler, resyncs, storage } = await setUp()
    await addPosts(alice, 2, 'gap before a kept image')
    const next = commitBody((await aliceCommits()).at(-1)!)!
    expect((await handler.handle(withSeq(next))).result).toBe('resync')
    expect(resyncs).toEqual([alice.did])
    // The resync (a real incremental sync) stores the head as it is now; an image post comes after it.
    await syncRepo(storage, aliceId)
    const { blobs } = await populateAccount(alice, { imagePosts: 1, seed: 41 })
    const later = commitBody((await aliceCommits()).at(-1)!)!
    expect((await handler.handle(withSeq(later))).result).toBe('buffered')
    const replayed = await handler.resyncFinished(alice.did, true)
    expect(replayed).toHaveLength(1)
    expect(replayed[0]).toMatchObject({ result: 'applied', did: alice.did, newBlobs: blobs.map((b) => b.cid) })
    const local = new Map((await storage.repos.listRecords(alice.did, { limit: 1000 })).map((r) => [`${r.collection}/${r.rkey}`, r.cid]))
    expect(local).toEqual(await pdsRecords(net.pdsUrl, alice.did))
    // A failed resync replays nothing and keeps what waits.
    expect(await handler.resyncFinished(alice.did, false, 'the PDS timed out')).toEqual([])
  })

  it('#identity: the DID is resolved afresh and a new handle is recorded; #account: the status is recorded, data kept', async () => {
    const { store, storage } = await setUp()
    // Resolution through the real PLC (the handler's resolver is the test's; here, the real one).
    const real = new FirehoseHandler({
      url: URL_KEY,
      storage,
      store,
      resolve: async (did) => ({ ...(await resolveIdentity(net, did)), handleProblem: null, didDoc: {} }) as never,
      isHeld: (did) => did === alice.did,
      isPaused: () => false,
      requestResync: () => undefined,
    })
    const newHandle = `alice2${net.handleDomain}`
    await alice.agent.com.atproto.identity.updateHandle({ handle: newHandle })
    const frames = await allFrames()
    const identity = frames.filter((f) => peekFrame(f).t === '#identity' && peekFrame(f).did === alice.did).at(-1)!
    const o = await real.handle(identity)
    expect(o.result).toBe('recorded')
    expect(o.reason).toMatch(/handle/)
    expect((await storage.repos.getAccount(alice.did))!.handle).toBe(newHandle)
    const records = await storage.repos.countRecords(alice.did)
    const deactivated = encodeFrame('#account', { seq: nextSeq++, did: alice.did, time: new Date().toISOString(), active: false, status: 'deactivated' })
    expect((await real.handle(deactivated)).reason).toMatch(/now deactivated/)
    expect(store.row(alice.did)?.status).toBe('deactivated')
    expect(await storage.repos.countRecords(alice.did)).toEqual(records)
    await alice.agent.com.atproto.identity.updateHandle({ handle: `alice${net.handleDomain}` })
  })

  it('handleBatch stores the verified commits of a batch with the cursor in one transaction (group commit), all or nothing, and falls back to one by one', async () => {
    // Three copies of Alice made now, before the posts: one each for failure, fallback and success.
    const failing = await setUp()
    const fallback = await setUp()
    const { handler, store, storage: s } = await setUp()
    const before = (await aliceCommits()).length
    await addPosts(alice, 3, 'group')
    await populateAccount(bob, { posts: 1, seed: 11 })
    const frames = await allFrames()
    const mine = frames.filter((f) => peekFrame(f).did === alice.did && peekFrame(f).t === '#commit').slice(before)
    expect(mine).toHaveLength(3)
    const batch = frames.slice(frames.indexOf(mine[0]!))
    const aliceResults = (outcomes: Array<{ did?: string; type?: string; result: string }>) => outcomes.filter((o) => o.did === alice.did && o.type === '#commit').map((o) => o.result)

    // The cursor write fails (real SQLite, made to fail on purpose): none of the group is stored.
    const dump = dumpTables(failing.storage.db, REPO_TABLES)
    failing.storage.db.exec(`CREATE TEMP TRIGGER fail_cursor BEFORE INSERT ON firehose_cursors BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END`)
    expect(aliceResults(await failing.handler.handleBatch(batch))).not.toContain('applied')
    expect(dumpTables(failing.storage.db, REPO_TABLES)).toEqual(dump)
    expect(failing.store.cursor(URL_KEY)).toBeNull()
    failing.storage.close()

    // The group's transaction refused (as when a sync stored a newer head meanwhile; injected
    // here): its commits are judged afresh one by one, and end stored all the same.
    fallback.store.applyCommits = async () => {
      throw new HeadMovedError(alice.did, null, null)
    }
    expect(aliceResults(await fallback.handler.handleBatch(batch))).toEqual(['applied', 'applied', 'applied'])
    expect(new Map((await fallback.storage.repos.listRecords(alice.did, { limit: 1000 })).map((r) => [`${r.collection}/${r.rkey}`, r.cid]))).toEqual(await pdsRecords(net.pdsUrl, alice.did))
    expect(fallback.store.cursor(URL_KEY)).toBe(peekFrame(batch.at(-1)!).seq)
    fallback.storage.close()

    // The whole batch at once: every commit verified and applied, the cursor saved with them.
    const outcomes = await handler.handleBatch(batch)
    expect(outcomes).toHaveLength(batch.length)
    expect(aliceResults(outcomes)).toEqual(['applied', 'applied', 'applied'])
    for (const o of outcomes) if (o.did === bob.did) expect(o.result).toBe('skipped')
    expect(new Map((await s.repos.listRecords(alice.did, { limit: 1000 })).map((r) => [`${r.collection}/${r.rkey}`, r.cid]))).toEqual(await pdsRecords(net.pdsUrl, alice.did))
    expect(store.row(alice.did)?.eventsApplied).toBe(3)
    expect(store.cursor(URL_KEY)).toBe(peekFrame(batch.at(-1)!).seq)
    const commits = (await s.repos.listCommits(alice.did, { limit: 100 })).map((c) => c.cid)
    for (const f of mine) expect(commits).toContain(String((commitBody(f)!.commit as object).toString()))
  })

  it('stores the commit and the cursor in one transaction: when saving the cursor fails, the commit is not stored either', async () => {
    const { handler, store, storage } = await setUp()
    await addPosts(alice, 1, 'atomic')
    const frame = withSeq(commitBody((await aliceCommits()).at(-1)!)!)
    const dump = dumpTables(storage.db, [...REPO_TABLES, 'live_state', 'firehose_cursors'])
    // Real SQLite made to fail on purpose at the cursor write.
    storage.db.exec(`CREATE TEMP TRIGGER fail_cursor BEFORE INSERT ON firehose_cursors BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END`)
    const o = await handler.handle(frame)
    expect(o.result).toBe('rejected')
    expect(o.reason).toMatch(/disk full \(test\)/)
    expect(dumpTables(storage.db, [...REPO_TABLES, 'live_state', 'firehose_cursors'])).toEqual(dump)
    storage.db.exec('DROP TRIGGER temp.fail_cursor')
    expect(store.cursor(URL_KEY)).toBeNull()
  })
})

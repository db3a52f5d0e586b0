/**
 * A real node following the real local PDS's firehose, with no periodic sync running: writes on
 * the PDS reach the local copy through the stream; a missed frame is healed by a resync; a cut or
 * stalled stream is reconnected from the cursor. The stream passes through a tampering stand-in
 * (firehose-test-stream.ts) that can drop frames and cut connections, which the real PDS cannot.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode } from '@atproto/lex-cbor'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AccountLiveDto, SyncResultDto } from '../api.js'
import { loadConfig } from '../config.js'
import { createNode, type P2pdsNode } from '../node.js'
import { createAccount, populateAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { peekFrame } from './firehose-frame.js'
import { startTestStream, type TestStream } from './firehose-test-stream.js'
import { addPosts, heldRecords, pdsRecords, until } from './test-helpers.js'

let net: TestNetwork
let alice: TestAccount
const dirs: string[] = []
const nodes: P2pdsNode[] = []
const streams: TestStream[] = []

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: 'alice' })
  await populateAccount(alice, { profile: true, posts: 3, seed: 3 })
}, 120_000)
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop()
  for (const s of streams.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
afterAll(async () => {
  await net?.close()
})

async function startNode(firehoseUrl: string): Promise<{ node: P2pdsNode; syncs: SyncResultDto[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-firehose-'))
  dirs.push(dir)
  const config = loadConfig({ env: { ...net.env, FIREHOSE_URL: firehoseUrl, DATA_DIR: dir, PORT: '0' }, cwd: dir })
  const node = await createNode({
    config,
    host: 'test',
    listen: false,
    schedule: { enabled: false },
    firehose: { enabled: true, backoffBaseMs: 100, backoffMaxMs: 500, pingIntervalMs: 200, stallTimeoutMs: 1000, changeIntervalMs: 50, resyncRetryMs: 200 },
  })
  nodes.push(node)
  const syncs: SyncResultDto[] = []
  node.on('sync:completed', (r) => syncs.push(r))
  await node.start()
  return { node, syncs }
}

async function sameAsPds(node: P2pdsNode): Promise<boolean> {
  const [local, remote] = await Promise.all([heldRecords(node, alice.did), pdsRecords(net.pdsUrl, alice.did)])
  return local.size === remote.size && [...remote].every(([k, v]) => local.get(k) === v)
}

async function live(node: P2pdsNode): Promise<AccountLiveDto> {
  const state = await node.api.sync.state()
  return state.accounts.find((a) => a.did === alice.did)!.live!
}

/** Adds Alice and waits for her first sync and a connected stream. */
async function follow(node: P2pdsNode, syncs: SyncResultDto[]): Promise<void> {
  await node.api.accounts.add({ handleOrDid: alice.did })
  await until('the first sync', async () => syncs.length >= 1)
  await until('a connected stream', async () => (await node.api.sync.state()).firehose?.connection === 'connected')
  await until('the account live', async () => (await live(node)).state === 'live')
}

describe('a node following the firehose', () => {
  it('a post, a like, a delete and a profile update arrive through the stream, without any sync', async () => {
    const { node, syncs } = await startNode(net.env.FIREHOSE_URL)
    await follow(node, syncs)
    const syncsBefore = syncs.length
    const post = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'through the firehose', createdAt: new Date().toISOString() } })
    await until('the post', async () => (await node.api.records.get({ did: alice.did, collection: 'app.bsky.feed.post', rkey: post.data.uri.split('/').pop()! }).catch(() => undefined))?.cid === post.data.cid)
    const like = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.like', record: { $type: 'app.bsky.feed.like', subject: { uri: post.data.uri, cid: post.data.cid }, createdAt: new Date().toISOString() } })
    await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: post.data.uri.split('/').pop()! })
    await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'Alice (live)' } })
    await until('the PDS state', () => sameAsPds(node))
    const profile = await node.api.records.get({ did: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self' })
    expect(profile.value.displayName).toBe('Alice (live)')
    expect((await node.api.records.get({ did: alice.did, collection: 'app.bsky.feed.like', rkey: like.data.uri.split('/').pop()! })).cid).toBe(like.data.cid)
    // The deleted post stays readable at the revision that had it.
    const detail = await node.api.accounts.get({ did: alice.did })
    expect(detail.history.length).toBeGreaterThanOrEqual(5)
    expect(syncs.length).toBe(syncsBefore) // no sync: all four came through the stream
    const l = await live(node)
    expect(l.eventsApplied).toBe(4)
    expect(l.state).toBe('live')
    const status = await node.api.node.status()
    expect(status.sync?.live?.find((a) => a.did === alice.did)?.eventsApplied).toBe(4)
    expect(status.sync?.firehose?.connection).toBe('connected')
  })

  it('a missed frame (a gap) is healed by a resync through getRepo', async () => {
    const stream = await startTestStream(net.env.FIREHOSE_URL)
    streams.push(stream)
    const { node, syncs } = await startNode(stream.url)
    await follow(node, syncs)
    let dropped = 0
    stream.transform = (f) => {
      const p = peekFrame(f)
      if (p.t === '#commit' && p.did === alice.did && dropped === 0) {
        dropped++
        return []
      }
      return undefined
    }
    const syncsBefore = syncs.length
    await addPosts(alice, 3, 'gap')
    await until('the PDS state', () => sameAsPds(node))
    expect(dropped).toBe(1)
    expect(syncs.length).toBeGreaterThan(syncsBefore) // the resync
    expect(syncs.at(-1)!.kind).not.toBe('full')
    await until('live again', async () => (await live(node)).state === 'live')
  })

  it('reconnects from its cursor after the stream is cut, and after it stalls, and catches up', async () => {
    const stream = await startTestStream(net.env.FIREHOSE_URL)
    streams.push(stream)
    const { node, syncs } = await startNode(stream.url)
    await follow(node, syncs)
    const syncsBefore = syncs.length
    expect(stream.connections).toEqual([null]) // first start: live from now
    await addPosts(alice, 1, 'before the cut')
    await until('the PDS state', () => sameAsPds(node))

    stream.dropConnections()
    await addPosts(alice, 2, 'while cut')
    await until('a second connection', async () => stream.connections.length >= 2)
    expect(stream.connections[1]).not.toBeNull()
    await until('the PDS state', () => sameAsPds(node))

    stream.stall()
    await addPosts(alice, 1, 'while stalled')
    await until('a reconnection after the stall', async () => stream.connections.length >= 3, 10_000)
    await until('the PDS state', () => sameAsPds(node))
    expect(syncs.length).toBe(syncsBefore) // replayed from the cursor: no resync needed
    const state = await node.api.sync.state()
    expect(state.firehose!.reconnects).toBeGreaterThanOrEqual(2)
    expect(state.firehose!.cursor).toBe(peekFrame(stream.relayed.at(-1)!).seq)
  })

  it('an error frame saying FutureCursor (the stream was reset) makes it start over from now and resync', async () => {
    const stream = await startTestStream(net.env.FIREHOSE_URL)
    streams.push(stream)
    const { node, syncs } = await startNode(stream.url)
    await follow(node, syncs)
    await addPosts(alice, 1, 'before the reset')
    await until('the PDS state', () => sameAsPds(node))
    const syncsBefore = syncs.length
    stream.inject(Buffer.concat([encode({ op: -1 } as never), encode({ error: 'FutureCursor', message: 'Cursor in the future.' } as never)]))
    await until('a connection without a cursor', async () => stream.connections.length >= 2)
    expect(stream.connections.at(-1)).toBeNull()
    await until('the resync', async () => syncs.length > syncsBefore)
    await addPosts(alice, 1, 'after the reset')
    await until('the PDS state', () => sameAsPds(node))
  })

  it('a paused account takes no commits; resumed, it catches up', async () => {
    const { node, syncs } = await startNode(net.env.FIREHOSE_URL)
    await follow(node, syncs)
    await node.api.sync.pause({ did: alice.did })
    expect((await live(node)).state).toBe('paused')
    const headBefore = (await node.api.accounts.get({ did: alice.did })).head
    await addPosts(alice, 1, 'while paused')
    await new Promise((r) => setTimeout(r, 500))
    expect((await node.api.accounts.get({ did: alice.did })).head).toEqual(headBefore)
    await node.api.sync.resume({ did: alice.did })
    await until('the PDS state', () => sameAsPds(node))
  })
})

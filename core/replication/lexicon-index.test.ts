// The lexicon index of a real node against the real local atproto network (PLC + PDS): counts
// after syncing accounts with posts, likes and follows match the records actually held; deletes,
// removals and a restart keep it exact; the peer-facing endpoints page, search, validate and
// rate-limit.
import { join } from 'node:path'
import { cidForLex, encode } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-data'
import { Lexicons } from '@atproto/lexicon'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LexiconDto, LexiconStatsDto } from '../api.js'
import { loadConfig } from '../config.js'
import { loadLexicons } from '../lexicons.js'
import { createNode, type P2pdsNode } from '../node.js'
import { createPeerApp } from '../server/peer-server.js'
import { mountLexiconRoutes } from '../server/lexicon-routes.js'
import { mountPlcRoutes } from '../server/plc-routes.js'
import { openDatabase } from '../storage/database.js'
import { migrate } from '../storage/migrations.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { tempNodes } from '../testing/temp-nodes.js'
import { SqliteLexiconIndex } from './lexicon-index.js'

let net: TestNetwork
let alice: TestAccount
let bob: TestAccount
let alicePop: PopulatedAccount
const temp = tempNodes('p2pds-lexicons-')
const newDir = temp.newDir

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  bob = await createAccount(net, { handle: `bob${net.handleDomain}` })
  const bobPop = await populateAccount(bob, { posts: 2, follows: [alice] })
  alicePop = await populateAccount(alice, { profile: { avatar: false, banner: false }, posts: 3, follows: [bob], likes: bobPop.posts })
}, 120_000)

afterAll(async () => {
  await net?.close()
})

async function startNode(dir = newDir()): Promise<P2pdsNode> {
  const config = loadConfig({ env: { ...net.env, DATA_DIR: dir, PORT: '0' }, cwd: dir })
  const node = await createNode({ config, host: 'test', listen: true, schedule: { intervalMs: 3_600_000 } })
  temp.track(node)
  await node.start()
  return node
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (ok(v)) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** What the index must say, computed from the records the node holds (records.collections). */
async function expectedIndex(node: P2pdsNode): Promise<Map<string, { records: number; repos: number }>> {
  const out = new Map<string, { records: number; repos: number }>()
  for (const a of await node.api.accounts.list()) {
    for (const c of await node.api.records.collections({ did: a.did })) {
      const e = out.get(c.nsid) ?? { records: 0, repos: 0 }
      out.set(c.nsid, { records: e.records + c.records, repos: e.repos + (c.records > 0 ? 1 : 0) })
    }
  }
  return out
}

async function held(node: P2pdsNode): Promise<Map<string, { records: number; repos: number }>> {
  const { lexicons } = await node.api.lexicons.list({ limit: 1000 })
  return new Map(lexicons.filter((l) => l.records > 0).map((l) => [l.nsid, { records: l.records, repos: l.repos }]))
}

async function syncBoth(node: P2pdsNode): Promise<void> {
  for (const a of [alice, bob]) {
    await node.api.accounts.add({ handleOrDid: a.did }).catch(() => undefined)
    await syncNow(node, a.did)
  }
}

/** Syncs now; a firehose commit applied meanwhile (ERR_HEAD_MOVED) already brought the change. */
async function syncNow(node: P2pdsNode, did: string): Promise<void> {
  await node.api.accounts.sync({ did }).catch((err: { code?: string }) => {
    if (err.code !== 'ERR_HEAD_MOVED') throw err
  })
}

describe('lexicon index (real local network)', () => {
  it('counts match the records held after syncing accounts with posts, likes and follows', async () => {
    const node = await startNode()
    await syncBoth(node)
    const expected = await expectedIndex(node)
    expect([...expected.keys()].sort()).toEqual(['app.bsky.actor.profile', 'app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.graph.follow'])
    expect(expected.get('app.bsky.feed.post')).toEqual({ records: 5, repos: 2 })
    expect(expected.get('app.bsky.feed.like')).toEqual({ records: 2, repos: 1 })
    const index = await until(() => held(node), (m) => JSON.stringify([...m].sort()) === JSON.stringify([...expected].sort()), 'the index to match')
    expect(index.get('app.bsky.graph.follow')).toEqual({ records: 2, repos: 2 })

    const totalHeld = (await node.api.accounts.list()).reduce((n, a) => n + a.records, 0)
    const stats: LexiconStatsDto = await node.api.lexicons.stats()
    expect(stats).toMatchObject({ nsids: 4, records: totalHeld, repos: 2 })
    expect(stats.updatedAt).not.toBeNull()

    // Prefix filter; most records first.
    const feed = await node.api.lexicons.list({ q: 'app.bsky.feed' })
    expect(feed.lexicons.map((l) => l.nsid)).toEqual(['app.bsky.feed.post', 'app.bsky.feed.like'])
    await expect(node.api.lexicons.list({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' })

    // A commit arriving by the firehose (no sync called) is indexed too (an account of its own).
    const erin = await createAccount(net, { handle: `erin${net.handleDomain}` })
    await populateAccount(erin, { posts: 1 })
    await node.api.accounts.add({ handleOrDid: erin.did })
    await syncNow(node, erin.did)
    await erin.agent.com.atproto.repo.createRecord({
      repo: erin.did,
      collection: 'app.bsky.feed.repost',
      record: { $type: 'app.bsky.feed.repost', subject: { uri: alicePop.posts[0]!.uri, cid: alicePop.posts[0]!.cid }, createdAt: new Date().toISOString() },
    })
    const live = await until(() => held(node), (m) => m.has('app.bsky.feed.repost'), 'the firehose commit indexed')
    expect(live.get('app.bsky.feed.repost')).toEqual({ records: 1, repos: 1 })
    expect(live).toEqual(await expectedIndex(node))
  })

  it('follows deletes and removals, and is rebuilt on start', async () => {
    // An account of its own: this test deletes records.
    const dave = await createAccount(net, { handle: `dave${net.handleDomain}` })
    const davePop = await populateAccount(dave, { posts: 1, likes: alicePop.posts.slice(0, 2) })
    const dir = newDir()
    let node = await startNode(dir)
    for (const a of [dave, bob]) {
      await node.api.accounts.add({ handleOrDid: a.did }).catch(() => undefined)
      await syncNow(node, a.did)
    }
    await until(() => held(node), (m) => m.get('app.bsky.feed.like')?.records === 2, 'likes indexed')
    const firstSeen = (await node.api.lexicons.list({ q: 'app.bsky.feed.like' })).lexicons[0]!.firstSeenAt

    // Dave deletes every like: the NSID stays listed with 0 records and its first-seen time.
    for (const like of davePop.likes) {
      const rkey = like.uri.split('/').pop()!
      await dave.agent.com.atproto.repo.deleteRecord({ repo: dave.did, collection: 'app.bsky.feed.like', rkey })
    }
    await syncNow(node, dave.did)
    const like = await until(
      async () => (await node.api.lexicons.list({ q: 'app.bsky.feed.like' })).lexicons[0],
      (l) => l?.records === 0,
      'likes gone',
    )
    expect(like).toMatchObject({ records: 0, repos: 0, firstSeenAt: firstSeen })
    expect((await node.api.lexicons.stats()).nsids).toBe(2) // post, follow

    // Removing bob takes his records out.
    await node.api.accounts.remove({ did: bob.did })
    await until(() => node.api.lexicons.stats(), (s) => s.repos === 1, 'bob removed')
    expect(await held(node)).toEqual(await expectedIndex(node))

    // Damage the index while the node is stopped; the next start rebuilds it.
    await node.stop()
    const db = openDatabase(join(dir, 'pds.db'))
    db.prepare("UPDATE lexicon_usage SET records = 999 WHERE nsid = 'app.bsky.feed.post'").run()
    db.prepare("DELETE FROM lexicon_usage WHERE nsid = 'app.bsky.graph.follow'").run()
    db.prepare("INSERT INTO lexicon_usage (did, nsid, records, first_seen, last_seen) VALUES ('did:plc:gone', 'com.example.ghost', 7, 0, 0)").run()
    db.close()
    node = await startNode(dir)
    const expected = await expectedIndex(node)
    await until(() => held(node), (m) => JSON.stringify([...m].sort()) === JSON.stringify([...expected].sort()), 'the index rebuilt')
    expect((await node.api.lexicons.list({ q: 'com.example' })).lexicons).toEqual([])
    expect((await node.api.lexicons.list({ q: 'app.bsky.feed.like' })).lexicons[0]?.firstSeenAt).toBe(firstSeen)
  })

  it('serves search, list (paged) and stats on the peer-facing server', async () => {
    const node = await startNode()
    await syncBoth(node)
    await until(() => node.api.lexicons.stats(), (s) => s.repos === 2 && s.nsids === 4, 'both indexed')
    const peer = (await node.api.node.status()).listeners.peer!
    const get = async (q: string) => {
      const res = await fetch(`${peer}/xrpc/${q}`)
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
    const all = (await node.api.lexicons.list()).lexicons

    // Every answer matches its schema in lexicons/org/p2pds/lexicon/.
    const set = loadLexicons()
    const schemas = new Lexicons(set.nsids.map((n) => structuredClone(set.doc(n)!)))
    const search = await get('org.p2pds.lexicon.search?q=app.bsky.graph&limit=10')
    schemas.assertValidXrpcOutput('org.p2pds.lexicon.search', search.body)
    expect(search).toEqual({ status: 200, body: { lexicons: all.filter((l) => l.nsid.startsWith('app.bsky.graph')) } })

    const pages: LexiconDto[] = []
    let cursor: string | undefined
    do {
      const { status, body } = await get(`org.p2pds.lexicon.list?limit=1${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
      expect(status).toBe(200)
      schemas.assertValidXrpcOutput('org.p2pds.lexicon.list', body)
      pages.push(...(body.lexicons as LexiconDto[]))
      cursor = body.cursor as string | undefined
    } while (cursor !== undefined)
    expect(pages).toEqual(all)

    const stats = await get('org.p2pds.lexicon.stats')
    schemas.assertValidXrpcOutput('org.p2pds.lexicon.stats', stats.body)
    expect(stats.body).toMatchObject({ nsids: 4, repos: 2, records: (await node.api.lexicons.stats()).records })

    for (const bad of ['org.p2pds.lexicon.search', 'org.p2pds.lexicon.search?q=%25', 'org.p2pds.lexicon.search?q=app&limit=0', 'org.p2pds.lexicon.list?limit=5000', 'org.p2pds.lexicon.list?cursor=x']) {
      const res = await get(bad)
      expect(res.status, bad).toBe(400)
      expect(res.body).toMatchObject({ error: 'InvalidRequest' })
    }
  })
})

describe('SqliteLexiconIndex', () => {
  it('indexes a record under its collection and its $type when they differ, counting the record once', async () => {
    const db = openDatabase(join(newDir(), 'pds.db'))
    migrate(db)
    try {
      const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
      db.prepare('INSERT INTO accounts (did, pds_url, signing_key, added_at, head_cid) VALUES (?, ?, ?, ?, ?)').run(did, 'https://pds.example', 'did:key:z', 0, 'h1')
      const put = async (collection: string, rkey: string, value: Record<string, unknown>) => {
        const cid = (await cidForLex(value as LexValue)).toString()
        const bytes = encode(value as LexValue)
        db.prepare('INSERT OR IGNORE INTO blocks (cid, bytes, size) VALUES (?, ?, ?)').run(cid, bytes, bytes.length)
        db.prepare('INSERT INTO records (did, collection, rkey, cid) VALUES (?, ?, ?, ?)').run(did, collection, rkey, cid)
      }
      await put('com.example.a', '1', { $type: 'com.example.b', n: 1 })
      await put('com.example.a', '2', { $type: 'com.example.a', n: 2 })
      await put('com.example.c', '1', { n: 3 }) // no $type
      const t = { now: 5000 }
      // Pages of 2 records: the paging path is exercised.
      const index = new SqliteLexiconIndex({ db, now: () => t.now, pageSize: 2 })
      expect(index.isStale(did)).toBe(true)
      expect(await index.indexAccount(did)).toBe(true)
      expect(index.isStale(did)).toBe(false)
      expect(index.list().lexicons).toEqual([
        { nsid: 'com.example.a', records: 2, repos: 1, firstSeen: 5000, lastSeen: 5000 },
        { nsid: 'com.example.b', records: 1, repos: 1, firstSeen: 5000, lastSeen: 5000 },
        { nsid: 'com.example.c', records: 1, repos: 1, firstSeen: 5000, lastSeen: 5000 },
      ])
      expect(index.stats()).toEqual({ nsids: 3, records: 3, repos: 1, updatedAt: 5000 })
      // Search escapes LIKE wildcards.
      expect(index.search('com.example.%')).toEqual([])
      // The head moves: stale again; first seen is kept on recompute.
      db.prepare("UPDATE accounts SET head_cid = 'h2' WHERE did = ?").run(did)
      expect(index.isStale(did)).toBe(true)
      t.now = 9000
      expect(await index.indexAccount(did)).toBe(false) // same counts
      expect(index.list().lexicons[0]).toMatchObject({ firstSeen: 5000, lastSeen: 9000 })
    } finally {
      db.close()
    }
  })
})

describe('lexicon and PLC endpoints: rate limits', () => {
  it('answer 429 with Retry-After past their own per-client limit, leaving other methods alone', async () => {
    const dir = newDir()
    const db = openDatabase(join(dir, 'pds.db'))
    migrate(db)
    try {
      const t = { now: 1_000_000 }
      const app = createPeerApp({ host: '127.0.0.1', port: 0, version: 'test', rateLimitEnabled: true, now: () => t.now })
      const rateLimit = { capacity: 3, refillPerSec: 1 }
      mountLexiconRoutes(app, new SqliteLexiconIndex({ db }), { rateLimitEnabled: true, rateLimit, now: () => t.now })
      mountPlcRoutes(app, db, { rateLimitEnabled: true, rateLimit, now: () => t.now })
      const statuses = async (path: string, n: number) => {
        const out: number[] = []
        for (let i = 0; i < n; i++) out.push((await app.request(path)).status)
        return out
      }
      expect(await statuses('/xrpc/org.p2pds.lexicon.stats', 2)).toEqual([200, 200])
      // The three lexicon methods share one bucket.
      expect(await statuses('/xrpc/org.p2pds.lexicon.list', 2)).toEqual([200, 429])
      const limited = await app.request('/xrpc/org.p2pds.lexicon.search?q=app')
      expect(limited.status).toBe(429)
      expect(limited.headers.get('retry-after')).toBe('1')
      expect(await limited.json()).toMatchObject({ error: 'RateLimitExceeded' })
      // getLog has its own bucket; the health check only the server-wide one.
      expect(await statuses('/xrpc/org.p2pds.plc.getLog?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 4)).toEqual([404, 404, 404, 429])
      expect(await statuses('/xrpc/_health', 3)).toEqual([200, 200, 200])
      // Tokens come back with time.
      t.now += 1000
      expect(await statuses('/xrpc/org.p2pds.lexicon.stats', 2)).toEqual([200, 429])
    } finally {
      db.close()
    }
  })

  it('are not limited when RATE_LIMIT_ENABLED is off', async () => {
    const dir = newDir()
    const db = openDatabase(join(dir, 'pds.db'))
    migrate(db)
    try {
      const app = createPeerApp({ host: '127.0.0.1', port: 0, version: 'test', rateLimitEnabled: false })
      mountLexiconRoutes(app, new SqliteLexiconIndex({ db }), { rateLimitEnabled: false, rateLimit: { capacity: 1, refillPerSec: 0.001 } })
      for (let i = 0; i < 5; i++) expect((await app.request('/xrpc/org.p2pds.lexicon.stats')).status).toBe(200)
    } finally {
      db.close()
    }
  })
})

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { CID } from 'multiformats/cid'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AbortError } from '../errors.js'
import { dumpTables, openTempStorage, type TempStorage } from '../storage/test-helpers.js'
import type { AccountIdentity } from '../storage/types.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { listPdsBlobs, syncBlobs, type BlobSyncProgress } from './blob-sync.js'
import { syncRepo } from './repo-sync.js'
import { countingFetch, resolveIdentity } from './test-helpers.js'

// Runs against a real PLC + PDS on loopback (core/testing). Each test backs up into a database of
// its own; the shared account is only read. Misbehaviour the real PDS cannot be made to show
// (altered bytes, a body broken off, a 404, no Content-Length) comes from a STAND-IN server in front
// of it, named as such below.

let net: TestNetwork
let alice: TestAccount
let made: PopulatedAccount
let aliceId: AccountIdentity

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: 'blobby' })
  // Avatar, banner and 7 post images: 9 distinct blobs.
  made = await populateAccount(alice, { profile: true, posts: 2, imagePosts: 5, imagesPerPost: 2, seed: 700 })
  aliceId = await resolveIdentity(net, alice.did)
})
afterAll(async () => {
  await net?.close()
})

const open: TempStorage[] = []
afterEach(() => {
  for (const s of open.splice(0)) s.close()
})

/** A fresh database holding alice's repository, her blobs tracked as `pending`. */
async function backup(): Promise<TempStorage> {
  const s = openTempStorage()
  open.push(s)
  await syncRepo(s, aliceId)
  return s
}

/** CIDs of the getBlob requests made through a counting fetch, in order. */
function getBlobCids(fetch: { requests: string[] }): string[] {
  return fetch.requests
    .map((u) => new URL(u))
    .filter((u) => u.pathname === '/xrpc/com.atproto.sync.getBlob')
    .map((u) => u.searchParams.get('cid')!)
}

const sorted = (xs: Iterable<string>) => [...xs].sort()
const allCids = () => sorted(made.blobs.map((b) => b.cid))
const totalBytes = () => made.blobs.reduce((n, b) => n + b.bytes.byteLength, 0)

async function pdsBlob(did: string, cid: string): Promise<Buffer> {
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)
  expect(res.status).toBe(200)
  return Buffer.from(await res.arrayBuffer())
}

describe('blob sync against the real PDS', () => {
  it('stores every blob the PDS lists, byte-identical to getBlob and to what was uploaded', async () => {
    const s = await backup()
    const counting = countingFetch()
    const progress: BlobSyncProgress[] = []
    const started = performance.now()
    const summary = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting, onProgress: (p) => progress.push(p) })
    const ms = performance.now() - started

    const listed = await listPdsBlobs({ did: alice.did, pdsUrl: net.pdsUrl })
    expect(sorted(listed)).toEqual(allCids())
    expect(listed).toHaveLength(9)
    expect(summary).toEqual({ did: alice.did, fetched: 9, failed: 0, alreadyStored: 0, bytesReceived: totalBytes(), listed: 0 })
    // Each blob was asked for once.
    expect(sorted(getBlobCids(counting))).toEqual(allCids())

    const rows = await s.repos.listBlobs(alice.did, { limit: 1000 })
    expect(sorted(rows.map((r) => r.cid))).toEqual(allCids())
    for (const blob of made.blobs) {
      const row = rows.find((r) => r.cid === blob.cid)!
      expect(row).toMatchObject({ state: 'stored', size: blob.bytes.byteLength, mimeType: 'image/png', lastError: null, attempts: 1 })
      const stored = Buffer.from(await s.blocks.getBlock(blob.cid))
      expect(stored.equals(Buffer.from(blob.bytes))).toBe(true)
      expect(stored.equals(await pdsBlob(alice.did, blob.cid))).toBe(true)
    }
    expect(await s.repos.storageUsage(alice.did)).toMatchObject({ blobs: { pending: 0, stored: 9, failed: 0 }, blobBytes: totalBytes() })

    // Progress: from nothing to everything, never going back.
    expect(progress[0]).toEqual({ did: alice.did, done: 0, total: 9, bytes: 0 })
    expect(progress.at(-1)).toEqual({ did: alice.did, done: 9, total: 9, bytes: totalBytes() })
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.done).toBeGreaterThanOrEqual(progress[i - 1]!.done)
    console.log(`blob sync: ${summary.fetched} blobs, ${summary.bytesReceived} bytes in ${ms.toFixed(0)} ms`)
  })

  it('a second run fetches nothing', async () => {
    const s = await backup()
    await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos })
    const before = dumpTables(s.db, ['blocks'])
    const counting = countingFetch()
    const summary = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting })
    expect(summary).toEqual({ did: alice.did, fetched: 0, failed: 0, alreadyStored: 9, bytesReceived: 0, listed: 0 })
    expect(getBlobCids(counting)).toEqual([])
    expect(dumpTables(s.db, ['blocks'])).toEqual(before)
  })

  it('only: fetches just the named blobs (as the firehose does for a new commit), without listing the PDS\'s or the account\'s blobs', async () => {
    const s = await backup()
    const [first, second] = allCids()
    const counting = countingFetch()
    const summary = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting, only: [first!, second!, first!] })
    expect(summary).toMatchObject({ fetched: 2, failed: 0, alreadyStored: 0, listed: 0 })
    expect(sorted(getBlobCids(counting))).toEqual(sorted([first!, second!]))
    expect(counting.requests.filter((u) => u.includes('listBlobs'))).toEqual([])
    const stored = (await s.repos.listBlobs(alice.did, { limit: 100 })).filter((b) => b.state === 'stored').map((b) => b.cid)
    expect(sorted(stored)).toEqual(sorted([first!, second!]))
    // Named again: already stored, nothing fetched.
    const again = countingFetch()
    expect(await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: again, only: [first!] })).toMatchObject({ fetched: 0, alreadyStored: 1 })
    expect(again.requests).toEqual([])
  })

  it('an interrupted run resumes: the next run fetches exactly the rest, never what was stored', async () => {
    const s = await backup()
    const controller = new AbortController()
    const interrupted = syncBlobs({
      did: alice.did,
      pdsUrl: net.pdsUrl,
      repos: s.repos,
      concurrency: 2,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done >= 1) controller.abort()
      },
    })
    await expect(interrupted).rejects.toBeInstanceOf(AbortError)

    // Settled means stopped: nothing is written afterwards by a fetch still in flight.
    const settled = dumpTables(s.db)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(dumpTables(s.db)).toEqual(settled)

    const rows = await s.repos.listBlobs(alice.did, { limit: 1000 })
    const stored = rows.filter((r) => r.state === 'stored').map((r) => r.cid)
    const rest = rows.filter((r) => r.state !== 'stored').map((r) => r.cid)
    expect(stored.length).toBeGreaterThanOrEqual(1)
    expect(rest.length).toBeGreaterThanOrEqual(1)
    // An abort is not a failure of the blob.
    expect(rows.filter((r) => r.state === 'failed' || r.lastError !== null)).toEqual([])

    const counting = countingFetch()
    const summary = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting })
    expect(summary).toMatchObject({ fetched: rest.length, alreadyStored: stored.length, failed: 0 })
    expect(sorted(getBlobCids(counting))).toEqual(sorted(rest))
    expect((await s.repos.listBlobs(alice.did, { state: 'stored', limit: 1000 })).map((r) => r.cid).sort()).toEqual(allCids())
  })

  it('a blob the PDS does not have fails with the reason, is not retried, and is fetched by a later run once it can be', async () => {
    const s = await backup()
    const missing = CID.createV1(0x55, await sha256Hasher.digest(new TextEncoder().encode('never uploaded'))).toString()
    expect(await s.repos.trackBlobs(alice.did, [{ cid: missing }])).toBe(1)
    const counting = countingFetch()
    const summary = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting, backoffMs: 1 })
    expect(summary).toMatchObject({ fetched: 9, failed: 1 })
    // The real PDS answers 400 InvalidRequest "Blob not found" (not 404): any 4xx is final.
    expect(getBlobCids(counting).filter((c) => c === missing)).toHaveLength(1)
    const [row] = await s.repos.listBlobs(alice.did, { state: 'failed', limit: 10 })
    expect(row).toMatchObject({ cid: missing, state: 'failed', attempts: 1 })
    expect(row!.lastError).toContain(missing)
    expect(row!.lastError).toContain('HTTP 400')
  })

  it('fromPeers: a blob the PDS lacks comes from peers; with the PDS unreachable, every referenced blob does; wrong bytes are refused', async () => {
    const s = await backup()
    const text = new TextEncoder().encode('only a peer has this')
    const peerOnly = CID.createV1(0x55, await sha256Hasher.digest(text)).toString()
    await s.repos.trackBlobs(alice.did, [{ cid: peerOnly }])
    const asked: string[] = []
    // STAND-IN for the peers (bitswap answers): a map of the bytes they hold.
    const held = new Map([[peerOnly, text], ...made.blobs.map((b) => [b.cid, b.bytes] as const)])
    const fromPeers = async (cid: string) => {
      asked.push(cid)
      const bytes = held.get(cid)
      if (bytes === undefined) throw new Error('no peer has it')
      return bytes
    }
    const withPds = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, backoffMs: 1, fromPeers })
    expect(withPds).toMatchObject({ fetched: 10, failed: 0 })
    expect(asked).toEqual([peerOnly]) // the PDS served the others

    // The PDS is gone (nothing listens): blobs the records reference come from the peers alone.
    const t = await backup()
    const dead = 'http://127.0.0.1:9'
    const lying = async (cid: string) => (cid === made.blobs[0]!.cid ? new TextEncoder().encode('not the blob') : fromPeers(cid))
    const gone = await syncBlobs({ did: alice.did, pdsUrl: dead, repos: t.repos, backoffMs: 1, fromPeers: lying })
    expect(gone).toMatchObject({ fetched: 8, failed: 1 })
    const stored = await t.repos.listBlobs(alice.did, { state: 'stored', limit: 100 })
    expect(sorted(stored.map((b) => b.cid))).toEqual(allCids().filter((c) => c !== made.blobs[0]!.cid))
    expect(await t.blocks.hasBlock(made.blobs[0]!.cid)).toBe(false)
    // Without a peer source, the unreachable PDS fails the run as before.
    await expect(syncBlobs({ did: alice.did, pdsUrl: dead, repos: t.repos, backoffMs: 1 })).rejects.toMatchObject({ code: 'ERR_PDS_REQUEST' })
  })

  it('blobs shared by two accounts are stored once; removing one account keeps the other’s', async () => {
    const s = openTempStorage()
    open.push(s)
    // The same seed and size draw the same image: one blob CID in two accounts.
    const accounts = await Promise.all(['sharer-one', 'sharer-two'].map((handle) => createAccount(net, { handle })))
    const posted = await Promise.all(accounts.map((a) => populateAccount(a, { imagePosts: 1, seed: 4242 })))
    const cid = posted[0]!.blobs[0]!.cid
    expect(posted[1]!.blobs[0]!.cid).toBe(cid)
    const [one, two] = await Promise.all(accounts.map((a) => resolveIdentity(net, a.did)))

    await syncRepo(s, one!)
    expect(await syncBlobs({ did: one!.did, pdsUrl: net.pdsUrl, repos: s.repos })).toMatchObject({ fetched: 1, alreadyStored: 0 })
    const blocks = () => (s.db.prepare('SELECT COUNT(*) AS n FROM blocks').get() as { n: number }).n
    const blobBlocks = () => (s.db.prepare('SELECT COUNT(*) AS n FROM blocks WHERE cid = ?').get(cid) as { n: number }).n

    await syncRepo(s, two!)
    const afterRepo = blocks()
    const counting = countingFetch()
    // The second account's copy is the first's: nothing is fetched or written.
    expect(await syncBlobs({ did: two!.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting })).toMatchObject({ fetched: 0, alreadyStored: 1 })
    expect(getBlobCids(counting)).toEqual([])
    expect(blocks()).toBe(afterRepo)
    expect(blobBlocks()).toBe(1)

    await s.repos.removeAccount(one!.did)
    expect(await s.repos.listBlobs(two!.did)).toMatchObject([{ cid, state: 'stored' }])
    expect(Buffer.from(await s.blocks.getBlock(cid)).equals(Buffer.from(posted[1]!.blobs[0]!.bytes))).toBe(true)
    await s.repos.removeAccount(two!.did)
    expect(await s.blocks.hasBlock(cid)).toBe(false)
  })

  it('an already-aborted signal rejects with AbortError and changes nothing', async () => {
    const s = await backup()
    const before = dumpTables(s.db)
    const counting = countingFetch()
    const controller = new AbortController()
    controller.abort()
    await expect(syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting, signal: controller.signal })).rejects.toBeInstanceOf(
      AbortError,
    )
    expect(counting.requests).toEqual([])
    expect(dumpTables(s.db)).toEqual(before)
  })

  it('a blob over maxBlobBytes fails with the reason and is not retried', async () => {
    const s = await backup()
    const smallest = Math.min(...made.blobs.map((b) => b.bytes.byteLength))
    const largest = Math.max(...made.blobs.map((b) => b.bytes.byteLength))
    const limit = largest - 1
    const over = made.blobs.filter((b) => b.bytes.byteLength > limit).map((b) => b.cid)
    expect(smallest).toBeLessThanOrEqual(limit)
    const counting = countingFetch()
    const summary = await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting, maxBlobBytes: limit, backoffMs: 1 })
    expect(summary).toMatchObject({ fetched: 9 - over.length, failed: over.length })
    expect(sorted(getBlobCids(counting))).toEqual(allCids())
    const failed = await s.repos.listBlobs(alice.did, { state: 'failed', limit: 100 })
    expect(sorted(failed.map((r) => r.cid))).toEqual(sorted(over))
    for (const row of failed) expect(row.lastError).toContain(`over the ${limit}-byte limit`)
    for (const cid of over) expect(await s.blocks.hasBlock(cid)).toBe(false)
  })
})

// --- A STAND-IN server in front of the real PDS ------------------------------------------------

/** What the stand-in does to getBlob answers for one CID ('*': every CID). */
type Misbehaviour =
  /** Flip one byte of the body (same length): the bytes no longer match the CID. */
  | { kind: 'alter' }
  /** Announce the full length, send half, then close the connection; `times` answers, then behave. */
  | { kind: 'break-off'; times: number }
  /** Answer this status with an XRPC error body, without asking the PDS. */
  | { kind: 'status'; status: number; error: string }
  /** Send the body chunked, without Content-Length. */
  | { kind: 'no-length' }
  /** Send the body gzip-encoded, with the Content-Length of the encoded bytes (as HTTP says). */
  | { kind: 'gzip' }

interface BlobStandIn {
  readonly url: string
  readonly misbehave: Map<string, Misbehaviour>
  /** getBlob requests seen: CID and arrival time (performance.now()). */
  readonly requests: Array<{ cid: string; at: number }>
  close(): Promise<void>
}

/** A STAND-IN for a misbehaving PDS: forwards everything to the real PDS, altering getBlob answers. */
async function startBlobStandIn(pdsUrl: string): Promise<BlobStandIn> {
  const misbehave = new Map<string, Misbehaviour>()
  const requests: BlobStandIn['requests'] = []
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    const isGetBlob = url.pathname === '/xrpc/com.atproto.sync.getBlob'
    const cid = url.searchParams.get('cid') ?? ''
    if (isGetBlob) requests.push({ cid, at: performance.now() })
    const how = isGetBlob ? (misbehave.get(cid) ?? misbehave.get('*')) : undefined
    if (how?.kind === 'status') {
      res.writeHead(how.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: how.error, message: 'stand-in refusal' }))
      return
    }
    const upstream = await fetch(new URL(url.pathname + url.search, pdsUrl))
    const body = Buffer.from(await upstream.arrayBuffer())
    const type = upstream.headers.get('content-type') ?? 'application/octet-stream'
    if (how === undefined || !upstream.ok) {
      res.writeHead(upstream.status, { 'content-type': type, 'content-length': String(body.length) })
      res.end(body)
      return
    }
    switch (how.kind) {
      case 'alter':
        body[body.length >> 1] = body[body.length >> 1]! ^ 0xff
        res.writeHead(200, { 'content-type': type, 'content-length': String(body.length) })
        res.end(body)
        return
      case 'break-off':
        if (how.times > 0) {
          how.times--
          res.writeHead(200, { 'content-type': type, 'content-length': String(body.length) })
          res.write(body.subarray(0, body.length >> 1), () => res.destroy())
          return
        }
        res.writeHead(200, { 'content-type': type, 'content-length': String(body.length) })
        res.end(body)
        return
      case 'no-length':
        res.writeHead(200, { 'content-type': type })
        res.write(body.subarray(0, body.length >> 1))
        res.end(body.subarray(body.length >> 1))
        return
      case 'gzip': {
        const encoded = gzipSync(body)
        res.writeHead(200, { 'content-type': type, 'content-encoding': 'gzip', 'content-length': String(encoded.length) })
        res.end(encoded)
        return
      }
    }
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => res.destroy(err as Error))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    misbehave,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('blob sync through a STAND-IN server that misbehaves in front of the real PDS', () => {
  let standIn: BlobStandIn
  beforeAll(async () => {
    standIn = await startBlobStandIn(net.pdsUrl)
  })
  afterAll(async () => {
    await standIn?.close()
  })
  afterEach(() => {
    standIn.misbehave.clear()
    standIn.requests.length = 0
  })
  const asked = (cid: string) => standIn.requests.filter((r) => r.cid === cid)

  it('bytes that do not match the CID: failed with the reason, not retried, the others stored', async () => {
    const s = await backup()
    const bad = made.blobs[3]!.cid
    standIn.misbehave.set(bad, { kind: 'alter' })
    const summary = await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s.repos, backoffMs: 1 })
    expect(summary).toMatchObject({ fetched: 8, failed: 1 })
    expect(asked(bad)).toHaveLength(1)
    const rows = await s.repos.listBlobs(alice.did, { limit: 100 })
    const row = rows.find((r) => r.cid === bad)!
    expect(row).toMatchObject({ state: 'failed', attempts: 1 })
    expect(row.lastError).toContain(bad)
    expect(row.lastError).toContain('do not match its CID')
    expect(await s.blocks.hasBlock(bad)).toBe(false)
    expect(rows.filter((r) => r.cid !== bad).every((r) => r.state === 'stored')).toBe(true)
  })

  it('a body broken off mid-way is retried with backoff and then stored', async () => {
    const s = await backup()
    const flaky = made.blobs[1]!.cid
    standIn.misbehave.set(flaky, { kind: 'break-off', times: 2 })
    const summary = await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s.repos, attempts: 3, backoffMs: 40, random: () => 0.5 })
    expect(summary).toMatchObject({ fetched: 9, failed: 0 })
    const tries = asked(flaky)
    expect(tries).toHaveLength(3)
    // random 0.5 makes the jitter factor 1: waits of 40 then 80 ms.
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(38)
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThanOrEqual(78)
    const [row] = (await s.repos.listBlobs(alice.did, { limit: 100 })).filter((r) => r.cid === flaky)
    expect(row).toMatchObject({ state: 'stored', lastError: null })
    expect(Buffer.from(await s.blocks.getBlock(flaky)).equals(Buffer.from(made.blobs[1]!.bytes))).toBe(true)
  })

  it('a body that keeps breaking off ends failed with the reason after the attempts', async () => {
    const s = await backup()
    const broken = made.blobs[2]!.cid
    standIn.misbehave.set(broken, { kind: 'break-off', times: Number.POSITIVE_INFINITY })
    const summary = await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s.repos, attempts: 3, backoffMs: 5 })
    expect(summary).toMatchObject({ fetched: 8, failed: 1 })
    expect(asked(broken)).toHaveLength(3)
    const [row] = await s.repos.listBlobs(alice.did, { state: 'failed', limit: 10 })
    expect(row).toMatchObject({ cid: broken, attempts: 1 })
    expect(row!.lastError).toContain('broke off')
  })

  it('404: failed with the reason, not retried; a later run against a PDS that has it stores it', async () => {
    const s = await backup()
    const gone = made.blobs[0]!.cid
    standIn.misbehave.set(gone, { kind: 'status', status: 404, error: 'BlobNotFound' })
    const summary = await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s.repos, attempts: 3, backoffMs: 1 })
    expect(summary).toMatchObject({ fetched: 8, failed: 1 })
    expect(asked(gone)).toHaveLength(1)
    const [row] = await s.repos.listBlobs(alice.did, { state: 'failed', limit: 10 })
    expect(row).toMatchObject({ cid: gone, attempts: 1 })
    expect(row!.lastError).toContain('HTTP 404 BlobNotFound')

    // Failed blobs are retried by later runs (retryFailed defaults to true).
    const counting = countingFetch()
    expect(await syncBlobs({ did: alice.did, pdsUrl: net.pdsUrl, repos: s.repos, fetch: counting })).toMatchObject({ fetched: 1, failed: 0, alreadyStored: 8 })
    expect(getBlobCids(counting)).toEqual([gone])
    expect((await s.repos.listBlobs(alice.did, { limit: 100 })).find((r) => r.cid === gone)).toMatchObject({ state: 'stored', lastError: null })
  })

  it('a 5xx is retried; without Content-Length the bytes are still stored and the size limit still holds', async () => {
    const s = await backup()
    standIn.misbehave.set(made.blobs[4]!.cid, { kind: 'status', status: 503, error: 'Unavailable' })
    standIn.misbehave.set('*', { kind: 'no-length' })
    const summary = await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s.repos, attempts: 2, backoffMs: 1 })
    expect(summary).toMatchObject({ fetched: 8, failed: 1 })
    expect(asked(made.blobs[4]!.cid)).toHaveLength(2)
    for (const blob of made.blobs.slice(5)) expect(Buffer.from(await s.blocks.getBlock(blob.cid)).equals(Buffer.from(blob.bytes))).toBe(true)

    const s2 = await backup()
    standIn.misbehave.clear()
    standIn.misbehave.set('*', { kind: 'no-length' })
    const limit = Math.min(...made.blobs.map((b) => b.bytes.byteLength)) - 1
    expect(await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s2.repos, maxBlobBytes: limit, backoffMs: 1 })).toMatchObject({
      fetched: 0,
      failed: 9,
    })
    for (const row of await s2.repos.listBlobs(alice.did, { limit: 100 })) expect(row.lastError).toContain(`over the ${limit}-byte limit`)
  })

  it('a gzip-encoded answer (Content-Length counting the encoded bytes) is stored as the decoded bytes', async () => {
    const s = await backup()
    standIn.misbehave.set('*', { kind: 'gzip' })
    expect(await syncBlobs({ did: alice.did, pdsUrl: standIn.url, repos: s.repos, attempts: 1 })).toMatchObject({ fetched: 9, failed: 0 })
    for (const blob of made.blobs) expect(Buffer.from(await s.blocks.getBlock(blob.cid)).equals(Buffer.from(blob.bytes))).toBe(true)
  })
})

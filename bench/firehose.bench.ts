// Firehose consumer throughput and latency (issue 4, "Benchmark").
//
// Frames are recorded from the real local PDS: a tracked account (alice) writes TRACKED posts,
// an untracked one (bob) writes a few; the stream replayed is TOTAL frames where 1% are alice's
// real, chained commits and the rest copies of bob's frames (re-sequenced). Every alice frame is
// fully verified (signature, inductive proof, chain) and stored in a fresh pds.db. Frames are fed
// to `FirehoseHandler.handleBatch` 1,000 at a time, as the consumer hands them over when they
// queue up (a backlog): the commits of a batch are verified one by one, then stored in one
// transaction with the cursor (group commit). BENCH_FIREHOSE_BATCH=1 measures frame by frame.
//
// Prints one JSON line: {"bench":"firehose","frames":…,"tracked_fraction":0.01,"events_per_s":…,
// "decode_only_events_per_s":…,"ratio_vs_decode_only":…,"tracked_events_per_s":…,
// "tracked_verify_only_events_per_s":…,"peak_rss_mb":…,"latency_p50_ms":…,"latency_p99_ms":…}
// `decode_only` is the baseline in the same process: every frame decoded whole, nothing verified
// or stored. `tracked_verify_only` checks every tracked frame without storing it (what bounds the
// tracked rate). Progress goes to stderr. BENCH_FIREHOSE_FRAMES / BENCH_FIREHOSE_TRACKED change sizes.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { judgeCommit } from '../core/replication/firehose-commit.js'
import { decodeFrame, peekFrame, toCommitEvent } from '../core/replication/firehose-frame.js'
import { FirehoseHandler } from '../core/replication/firehose-handler.js'
import { FirehoseStore } from '../core/replication/firehose-store.js'
import { FirehoseConsumer } from '../core/replication/firehose.js'
import { encodeFrame } from '../core/replication/firehose-test-stream.js'
import { syncRepo } from '../core/replication/repo-sync.js'
import { resolveIdentity } from '../core/replication/test-helpers.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import type { AccountIdentity, RepoStorage } from '../core/storage/types.js'
import { createAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'

const TOTAL = Number(process.env.BENCH_FIREHOSE_FRAMES ?? 100_000)
const TRACKED = Number(process.env.BENCH_FIREHOSE_TRACKED ?? Math.round(TOTAL / 100))
const LATENCY_WRITES = 100
/** Frames per `handleBatch` call: the consumer's largest batch (MAX_BATCH in firehose.ts). */
const BATCH = Number(process.env.BENCH_FIREHOSE_BATCH ?? 1000)
const started = performance.now()
const log = (msg: string) => console.error(`firehose: ${msg} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
const gc = globalThis.gc ?? (() => undefined)

let peakRss = 0
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20)
sampler.unref()

const net = await startTestNetwork()
const dirs: string[] = []
let baseFile = ''
try {
  const alice = await createAccount(net, { handle: 'alice' })
  const bob = await createAccount(net, { handle: 'bob' })
  await post(alice, 1)
  const aliceId = await resolveIdentity(net, alice.did)
  // The copy that every replay starts from: alice before her TRACKED posts.
  const baseDir = tempDir()
  const base = openStorage(baseDir)
  await syncRepo(base.storage, aliceId)
  base.db.close()
  baseFile = join(baseDir, 'pds.db')
  log('local PDS up, alice synced')

  const firstSeq = (await frames()).length
  for (let i = 0; i < TRACKED; i += 50) await Promise.all(Array.from({ length: Math.min(50, TRACKED - i) }, (_, k) => post(alice, i + k)))
  log(`${TRACKED} posts written`)
  await post(bob, 0)
  await post(bob, 1)
  const recorded = (await frames()).slice(firstSeq)
  const aliceFrames = recorded.filter((f) => peekFrame(f).did === alice.did && peekFrame(f).t === '#commit')
  const bobFrames = recorded.filter((f) => peekFrame(f).did === bob.did && peekFrame(f).t === '#commit').map((f) => decodeFrame(f).body)
  log(`recorded ${aliceFrames.length} tracked and ${bobFrames.length} untracked commits`)

  // The stream: alice's frames spread evenly, bob's copies in between, seqs increasing.
  const stream: Uint8Array[] = []
  const every = Math.max(1, Math.floor(TOTAL / Math.max(1, aliceFrames.length)))
  let a = 0
  for (let i = 0, seq = 1; i < TOTAL; i++, seq++) {
    if (i % every === 0 && a < aliceFrames.length) stream.push(encodeFrame('#commit', { ...decodeFrame(aliceFrames[a++]!).body, seq }))
    else stream.push(encodeFrame('#commit', { ...bobFrames[i % bobFrames.length]!, seq }))
  }
  const trackedInStream = a
  log(`stream of ${stream.length} frames, ${trackedInStream} tracked`)

  // Baseline: decode every frame whole.
  gc()
  let t = performance.now()
  let sink = 0
  for (const f of stream) sink += (decodeFrame(f).body.seq as number) & 1
  const decodeOnly = stream.length / ((performance.now() - t) / 1000)

  // The consumer's handler over a copy of the base database: every frame, 1% tracked.
  const mixed = await replay(stream, alice.did, aliceId)
  const eventsPerS = stream.length / mixed.seconds
  if (mixed.applied !== trackedInStream) throw new Error(`applied ${mixed.applied} of ${trackedInStream} tracked frames`)

  // Every frame tracked: alice's frames alone.
  const onlyTracked = aliceFrames.map((f, i) => encodeFrame('#commit', { ...decodeFrame(f).body, seq: i + 1 }))
  const tracked = await replay(onlyTracked, alice.did, aliceId)
  if (tracked.applied !== onlyTracked.length) throw new Error(`applied ${tracked.applied} of ${onlyTracked.length}`)
  // What bounds it: verification alone (no storage), against the head each frame expects.
  gc()
  t = performance.now()
  for (const f of onlyTracked) {
    const evt = toCommitEvent(decodeFrame(f).body)
    const v = await judgeCommit(evt, { signingKey: aliceId.signingKey, head: null, now: Date.now(), commitAt: async () => null, heldMstNodes: async () => new Set() })
    if (v.kind === 'reject') throw new Error(v.reason)
  }
  const verifyOnly = onlyTracked.length / ((performance.now() - t) / 1000)

  // Latency: a consumer on the live PDS stream; a write, then the stored record.
  const latency = await measureLatency(net, alice, aliceId)

  console.log(
    JSON.stringify({
      bench: 'firehose',
      frames: stream.length,
      tracked_fraction: Math.round((trackedInStream / stream.length) * 1000) / 1000,
      events_per_s: Math.round(eventsPerS),
      decode_only_events_per_s: Math.round(decodeOnly),
      ratio_vs_decode_only: Math.round((eventsPerS / decodeOnly) * 100) / 100,
      tracked_events_per_s: Math.round(onlyTracked.length / tracked.seconds),
      tracked_verify_only_events_per_s: Math.round(verifyOnly),
      peak_rss_mb: Math.round(peakRss / 1024 / 1024),
      latency_p50_ms: latency.p50,
      latency_p99_ms: latency.p99,
      sink: sink >= 0 ? undefined : sink,
    }),
  )
} finally {
  await net.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pds-bench-firehose-'))
  dirs.push(d)
  return d
}

function openStorage(dir: string) {
  const db = openDatabase(join(dir, 'pds.db'))
  migrate(db)
  return { db, storage: createSqliteStorage(db) }
}

async function post(account: TestAccount, i: number): Promise<void> {
  await account.agent.com.atproto.repo.createRecord({
    repo: account.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: `bench post ${i}`, createdAt: new Date().toISOString() },
  })
}

/** Every frame the PDS sequenced so far. */
async function frames(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  const ws = new WebSocket(`${net.env.FIREHOSE_URL}?cursor=0`, { maxPayload: 64 * 1024 * 1024 })
  await new Promise<void>((resolve, reject) => {
    let timer = setTimeout(() => ws.close(), 3000)
    ws.on('message', (d: Buffer) => {
      out.push(new Uint8Array(d))
      clearTimeout(timer)
      timer = setTimeout(() => ws.close(), 500)
    })
    ws.on('close', () => resolve())
    ws.on('error', reject)
  })
  return out
}

/** Feeds `stream` to a handler over a fresh copy of alice's base backup; times it. */
async function replay(stream: Uint8Array[], did: string, id: AccountIdentity): Promise<{ seconds: number; applied: number }> {
  const dir = tempDir()
  copyFileSync(baseFile, join(dir, 'pds.db'))
  const { db, storage } = openStorage(dir)
  const handler = makeHandler(storage, db, did, id)
  gc()
  const t = performance.now()
  let applied = 0
  // In batches, as the consumer hands over frames that queued up while it was busy (a backlog).
  for (let i = 0; i < stream.length; i += BATCH) {
    for (const o of await handler.handleBatch(stream.slice(i, i + BATCH))) {
      if (o.result === 'applied') applied++
      else if (o.did === did) throw new Error(`${o.result}: ${o.reason}`)
    }
  }
  handler.flushCursor()
  const seconds = (performance.now() - t) / 1000
  db.close()
  return { seconds, applied }
}

function makeHandler(storage: RepoStorage, db: ReturnType<typeof openDatabase>, did: string, id: AccountIdentity): FirehoseHandler {
  return new FirehoseHandler({
    url: 'ws://bench/xrpc/com.atproto.sync.subscribeRepos',
    storage,
    store: new FirehoseStore({ db, repos: storage.repos }),
    resolve: async () => ({ ...id, handle: id.handle ?? null, handleProblem: null, didDoc: {} }),
    isHeld: (d) => d === did,
    isPaused: () => false,
    requestResync: () => undefined,
  })
}

async function measureLatency(network: TestNetwork, alice: TestAccount, id: AccountIdentity): Promise<{ p50: number; p99: number }> {
  const dir = tempDir()
  const { db, storage } = openStorage(dir)
  await syncRepo(storage, id)
  let resolveApplied: (() => void) | undefined
  const consumer = new FirehoseConsumer({
    url: network.env.FIREHOSE_URL,
    db,
    storage,
    resolve: async () => ({ ...id, handle: id.handle ?? null, handleProblem: null, didDoc: {} }),
    isPaused: () => false,
    resync: () => syncRepo(storage, id),
    onOutcome: (o) => {
      if (o.result === 'applied') resolveApplied?.()
    },
  })
  await consumer.start()
  while (consumer.state().connection !== 'connected') await new Promise((r) => setTimeout(r, 20))
  const samples: number[] = []
  for (let i = 0; i < LATENCY_WRITES; i++) {
    const applied = new Promise<void>((r) => (resolveApplied = r))
    const t = performance.now()
    await post(alice, 1_000_000 + i)
    await applied
    samples.push(performance.now() - t)
  }
  await consumer.stop()
  db.close()
  samples.sort((x, y) => x - y)
  const q = (p: number) => Math.round(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]! * 10) / 10
  log(`latency over ${samples.length} writes`)
  return { p50: q(0.5), p99: q(0.99) }
}

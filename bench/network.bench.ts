// Issue 6, "Benchmark", in two parts.
//
// Throughput: the same repository (RECORDS posts written to an account of the local PDS with
// applyWrites) fetched into a fresh pds.db with the same verification (`syncRepo`), full sync:
// - peer: from a peer holding it, over libp2p (/p2pds/repo/1.0.0, peer-first sync);
// - http: from the local PDS over HTTP (`getRepo`, the PDS building the CAR from its store);
// - prebuilt: from a CAR already in memory (a `fetch` answering getRepo with the bytes the PDS
//   sent once): what HTTP costs with no server work at all, for reference.
// The PDS and the peer both run in this process, as the fetcher does: each server's work shares
// the one thread the same way. Best of three alternating runs after a warm-up.
// Target: ratio_peer_vs_http ≥ 0.8 (ratio_peer_vs_prebuilt is reported, not targeted).
//
// Idle: a real node (`createNode`, default settings) in a process of its own
// (bench/network-idle-node.ts), holding 10 accounts of the local PDS (profile with avatar and
// banner, 20 posts, 2 image posts each; added and synced), with libp2p on (127.0.0.1), its
// firehose connected to the PDS's subscribeRepos and two peers (libp2p services of this process,
// added with `peers.add`) connected, is left alone for 60 s to settle (V8's memory reducer gives
// back the heap the syncs grew, with one or two full collections, about 40 s after they end; the
// settle time's own peak is reported as idle_settle_rss_mb), then measured over 60 s.
// Targets: idle_rss_mb ≤ 150, idle_cpu_percent < 1.
//
// Prints one line:
// {"bench":"network","records":…,"car_mb":…,"peer_mb_per_s":…,"http_mb_per_s":…,
//  "ratio_peer_vs_http":…,"prebuilt_mb_per_s":…,"ratio_peer_vs_prebuilt":…,"idle_seconds":…,"idle_repos":…,"idle_peers_connected":…,
//  "idle_rss_mb":…,"idle_settle_rss_mb":…,"idle_heap_used_mb":…,"idle_cpu_percent":…}
// - idle_rss_mb: the highest of the node's RSS samples, one a second over the window, in MiB;
// - idle_settle_rss_mb: the same over the settle time before it (the syncs' aftermath);
// - idle_heap_used_mb: its V8 heap in use at the end of the window, in MiB;
// - idle_cpu_percent: its CPU time (user + system, every thread) over the window's wall time,
//   in percent of one core;
// - idle_repos, idle_peers_connected: accounts held and peers connected at the end of the window.
// Progress goes to stderr. BENCH_NETWORK_RECORDS changes the size of the repository (default
// 20000), BENCH_IDLE_SEC the idle window (default 60), BENCH_IDLE_SETTLE_SEC the quiet time
// before it (default 60). Diagnostics, to stderr: BENCH_IDLE_TRACE=1 lists the callbacks that woke
// the idle node, its garbage collections and heap spaces (the hooks cost CPU themselves);
// BENCH_IDLE_CPUPROF=FILE writes a CPU profile of the window (the profiler costs several percent).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { HeliaNetworkService } from '../core/network/helia-network.js'
import { peerFirstSync, serveRepos } from '../core/replication/peer-sync-repo.js'
import { syncRepo } from '../core/replication/repo-sync.js'
import { resolveIdentity } from '../core/replication/test-helpers.js'
import type { Database } from '../core/storage/database.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import { createAccount, populateAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork } from '../core/testing/network.js'
import type { ChildMessage, IdleChildInit, IdleResult, ParentMessage } from './network-idle-node.js'

const RECORDS = Number(process.env.BENCH_NETWORK_RECORDS ?? 20_000)
const IDLE_SEC = Number(process.env.BENCH_IDLE_SEC ?? 60)
const IDLE_SETTLE_SEC = Number(process.env.BENCH_IDLE_SETTLE_SEC ?? 60)
const IDLE_REPOS = 10
const IDLE_PEERS = 2
const MiB = 1024 * 1024
const started = performance.now()
const log = (msg: string) => console.error(`network: ${msg} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
const gc = globalThis.gc ?? (() => undefined)

const net = await startTestNetwork()
const dirs: string[] = []
const services: HeliaNetworkService[] = []

function freshDb(): Database {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-net-'))
  dirs.push(dir)
  const db = openDatabase(join(dir, 'pds.db'))
  migrate(db)
  return db
}

async function service(db: Database): Promise<HeliaNetworkService> {
  const s = new HeliaNetworkService({ blocks: createSqliteStorage(db).blocks, privateKey: await generateKeyPair('Ed25519'), listenAddrs: ['/ip4/127.0.0.1/tcp/0'] })
  await s.start()
  services.push(s)
  return s
}

try {
  const author = await createAccount(net, { handle: 'bench-net' })
  await writePosts(author, RECORDS)
  const identity = await resolveIdentity(net, author.did)
  const head = (await author.agent.com.atproto.sync.getLatestCommit({ did: author.did })).data
  const car = new Uint8Array(await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${author.did}`)).arrayBuffer())
  const carMb = car.byteLength / MiB
  log(`wrote ${RECORDS} records, ${carMb.toFixed(1)} MiB CAR`)
  // getRepo answered from memory; every other call goes to the PDS.
  const prebuilt: typeof fetch = async (input, init) =>
    new URL(input instanceof Request ? input.url : input.toString()).pathname === '/xrpc/com.atproto.sync.getRepo'
      ? new Response(car.slice(), { headers: { 'content-type': 'application/vnd.ipld.car', 'content-length': String(car.byteLength) } })
      : fetch(input, init)

  // The peer holds the repository (synced from the PDS) and serves it.
  const holderDb = freshDb()
  const holder = createSqliteStorage(holderDb)
  await syncRepo(holder, identity, { mode: 'full' })
  const holderNet = await service(holderDb)
  await serveRepos(holderNet, holder)
  const peer = { peerId: holderNet.peerId, multiaddrs: holderNet.info().multiaddrs }

  type Via = 'peer' | 'http' | 'prebuilt'
  const run = async (via: Via): Promise<number> => {
    const db = freshDb()
    const storage = createSqliteStorage(db)
    const fetcher = via === 'peer' ? await service(db) : null
    gc()
    const t = performance.now()
    const result =
      via === 'peer'
        ? await peerFirstSync(storage, identity, { network: fetcher!, peers: [peer], fetch: globalThis.fetch, mode: 'full' })
        : { ...(await syncRepo(storage, identity, { mode: 'full', fetch: via === 'prebuilt' ? prebuilt : globalThis.fetch })), source: { kind: 'pds' } }
    const seconds = (performance.now() - t) / 1000
    if (result.cid !== head.cid || result.creates !== RECORDS) throw new Error(`${via}: stored ${result.creates} records at ${result.cid}`)
    if (result.source.kind !== (via === 'peer' ? 'peer' : 'pds')) throw new Error(`${via}: served by ${result.source.kind}`)
    await fetcher?.stop()
    db.close()
    return seconds
  }

  for (const via of ['peer', 'http', 'prebuilt'] as const) await run(via)
  log('warmed up')
  const best: Record<Via, number> = { peer: Infinity, http: Infinity, prebuilt: Infinity }
  for (const order of [['peer', 'http', 'prebuilt'], ['prebuilt', 'http', 'peer'], ['http', 'peer', 'prebuilt']] as const) {
    for (const via of order) {
      const s = await run(via)
      best[via] = Math.min(best[via], s)
      log(`${via}: ${s.toFixed(2)} s`)
    }
  }
  const peerRate = carMb / best.peer
  const httpRate = carMb / best.http
  const prebuiltRate = carMb / best.prebuilt
  await holderNet.stop()
  holderDb.close()

  const idle = await measureIdle()
  if (idle.repos !== IDLE_REPOS || idle.peersConnected !== IDLE_PEERS || idle.firehose !== 'connected') {
    log(`warning: at the end of the idle window the node held ${idle.repos} repos, had ${idle.peersConnected} peers connected, firehose ${idle.firehose}`)
  }
  if (idle.callbacks !== undefined) log(`callbacks during the idle window: ${JSON.stringify(idle.callbacks, null, 1)}`)
  if (idle.gcs !== undefined) log(`garbage collections during the idle window: ${JSON.stringify(idle.gcs)}`)
  if (idle.heapSpaces !== undefined) {
    const spaces = Object.entries(idle.heapSpaces).map(([name, h]) => `${name} ${round(h.size / MiB, 1)}/${round(h.used / MiB, 1)}`)
    log(`idle node heap spaces (size/used MiB): ${spaces.join(', ')}`)
  }
  log(`idle node RSS: peak ${round(idle.rssPeak / MiB, 1)} MiB, at the end ${round(idle.rssFinal / MiB, 1)} MiB`)
  log(`idle node memory at the end: ${JSON.stringify(Object.fromEntries(Object.entries(idle.memory).map(([k, v]) => [k, round(v / MiB, 1)])))} MiB`)
  console.log(
    JSON.stringify({
      bench: 'network',
      records: RECORDS,
      car_mb: round(carMb, 1),
      peer_mb_per_s: round(peerRate, 2),
      http_mb_per_s: round(httpRate, 2),
      ratio_peer_vs_http: round(peerRate / httpRate, 2),
      prebuilt_mb_per_s: round(prebuiltRate, 2),
      ratio_peer_vs_prebuilt: round(peerRate / prebuiltRate, 2),
      idle_seconds: round(idle.seconds, 1),
      idle_repos: idle.repos,
      idle_peers_connected: idle.peersConnected,
      idle_rss_mb: round(idle.rssPeak / MiB, 1),
      idle_settle_rss_mb: round(idle.rssSettlePeak / MiB, 1),
      idle_heap_used_mb: round(idle.memory.heapUsed / MiB, 1),
      idle_cpu_percent: round(((idle.cpuUserUs + idle.cpuSystemUs) / 1e6 / idle.seconds) * 100, 2),
    }),
  )
} finally {
  for (const s of services) await s.stop().catch(() => undefined)
  await net.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}

/**
 * The idle figures: accounts written through the PDS, two peers started here, then the node in a
 * child process (bench/network-idle-node.ts) that holds the accounts, is dialled by the peers,
 * sits idle and reports what it measured.
 */
async function measureIdle(): Promise<IdleResult> {
  const accounts = await Promise.all(Array.from({ length: IDLE_REPOS }, (_, i) => createAccount(net, { handle: `idle${i}` })))
  await Promise.all(accounts.map((a, i) => populateAccount(a, { profile: true, posts: 20, imagePosts: 2, seed: 1000 * (i + 1) })))
  const peers = await Promise.all(Array.from({ length: IDLE_PEERS }, () => service(freshDb())))
  log(`idle: ${IDLE_REPOS} accounts written, ${IDLE_PEERS} peers started; starting the node`)

  const init: IdleChildInit = { env: net.env, dids: accounts.map((a) => a.did), idleSec: IDLE_SEC, settleSec: IDLE_SETTLE_SEC }
  const script = fileURLToPath(new URL('./network-idle-node.js', import.meta.url))
  const child = spawn(process.execPath, ['--expose-gc', script], {
    env: { ...process.env, P2PDS_BENCH_IDLE: JSON.stringify(init) },
    // stdout is this benchmark's one JSON line: whatever the child prints goes to stderr.
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  child.stdout!.pipe(process.stderr)
  const send = (m: ParentMessage) => child.send(m)
  const limit = setTimeout(() => child.kill(), (180 + IDLE_SETTLE_SEC + IDLE_SEC) * 1000)
  try {
    return await new Promise<IdleResult>((resolve, reject) => {
      let result: IdleResult | undefined
      let failure: Error | undefined
      child.on('message', (m: ChildMessage) => {
        switch (m.type) {
          case 'node':
            // The peers dial the node; the node then adds them (`peers.add`) and sees them connected.
            void Promise.all(peers.map((p) => p.connect({ peerId: m.peerId, multiaddrs: m.multiaddrs }))).then(
              () => send({ type: 'peers', peers: peers.map((p) => ({ peerId: p.peerId, multiaddrs: p.info().multiaddrs })) }),
              (err: unknown) => {
                failure = err as Error
                child.kill()
              },
            )
            break
          case 'ready':
            log(`idle: node ready, ${IDLE_PEERS} peers connected; measuring ${IDLE_SEC} s after ${IDLE_SETTLE_SEC} s`)
            break
          case 'result': {
            const { type: _, ...r } = m
            result = r
            break
          }
          case 'error':
            failure = new Error(`the idle node failed: ${m.message}`)
            break
        }
      })
      child.once('error', reject)
      child.once('exit', (code, signal) => {
        if (result !== undefined && failure === undefined) return resolve(result)
        reject(failure ?? new Error(`the idle node exited with ${signal ?? code} before reporting`))
      })
    })
  } finally {
    clearTimeout(limit)
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** Writes `count` posts to the account with applyWrites, 200 per call (the PDS's limit). */
async function writePosts(account: TestAccount, count: number): Promise<void> {
  const createdAt = new Date().toISOString()
  for (let done = 0; done < count; ) {
    const n = Math.min(200, count - done)
    const writes = Array.from({ length: n }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: 'app.bsky.feed.post',
      value: { $type: 'app.bsky.feed.post', text: `post ${done + i}: ${'lorem ipsum dolor sit amet '.repeat(6)}`, createdAt },
    }))
    await account.agent.com.atproto.repo.applyWrites({ repo: account.did, writes: writes as never })
    done += n
  }
}

// Fetching the same generated repository from a peer over libp2p (/p2pds/repo/1.0.0, peer-first
// sync) and over HTTP (`getRepo` from a local XRPC server standing in for the PDS), each into a
// fresh pds.db with the same verification (`syncRepo`). Issue 6, "Benchmark" (the idle RSS/CPU
// figures of a node with peers are not measured here yet).
// Prints {"bench":"network","records":…,"car_mb":…,"peer_mb_per_s":…,"http_mb_per_s":…,
// "ratio_peer_vs_http":…}; best of three alternating runs after a warm-up; progress to stderr.
// BENCH_NETWORK_RECORDS changes the size (default 20000).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { HeliaNetworkService } from '../core/network/helia-network.js'
import { peerFirstSync, serveRepos } from '../core/replication/peer-sync-repo.js'
import { syncRepo } from '../core/replication/repo-sync.js'
import { resolveIdentity } from '../core/replication/test-helpers.js'
import type { Database } from '../core/storage/database.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import { startTestNetwork } from '../core/testing/network.js'
import { generateRepo, startRepoServer } from './sync-fixture.js'

const RECORDS = Number(process.env.BENCH_NETWORK_RECORDS ?? 20_000)
const MiB = 1024 * 1024
const started = performance.now()
const log = (msg: string) => console.error(`network: ${msg} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
const gc = globalThis.gc ?? (() => undefined)

const net = await startTestNetwork()
const server = await startRepoServer()
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
  const repo = await generateRepo(net, server.url, RECORDS, 'bench-net')
  server.add(repo)
  const identity = await resolveIdentity(net, repo.did)
  const carMb = repo.car.byteLength / MiB
  log(`generated ${RECORDS} records, ${carMb.toFixed(1)} MiB CAR`)

  // The peer holds the repository (synced from the HTTP server) and serves it.
  const holderDb = freshDb()
  const holder = createSqliteStorage(holderDb)
  await syncRepo(holder, identity, { mode: 'full' })
  const holderNet = await service(holderDb)
  await serveRepos(holderNet, holder)
  const peer = { peerId: holderNet.peerId, multiaddrs: holderNet.info().multiaddrs }

  const run = async (via: 'peer' | 'http'): Promise<number> => {
    const db = freshDb()
    const storage = createSqliteStorage(db)
    const fetcher = via === 'peer' ? await service(db) : null
    gc()
    const t = performance.now()
    const result =
      via === 'peer'
        ? await peerFirstSync(storage, identity, { network: fetcher!, peers: [peer], fetch: globalThis.fetch, mode: 'full' })
        : { ...(await syncRepo(storage, identity, { mode: 'full' })), source: { kind: 'pds' } }
    const seconds = (performance.now() - t) / 1000
    if (result.cid !== repo.cid || result.creates !== RECORDS) throw new Error(`${via}: stored ${result.creates} records at ${result.cid}`)
    if (result.source.kind !== (via === 'peer' ? 'peer' : 'pds')) throw new Error(`${via}: served by ${result.source.kind}`)
    await fetcher?.stop()
    db.close()
    return seconds
  }

  await run('peer')
  await run('http')
  log('warmed up')
  const best = { peer: Infinity, http: Infinity }
  for (const order of [['peer', 'http'], ['http', 'peer'], ['peer', 'http']] as const) {
    for (const via of order) {
      const s = await run(via)
      best[via] = Math.min(best[via], s)
      log(`${via}: ${s.toFixed(2)} s`)
    }
  }
  const peerRate = carMb / best.peer
  const httpRate = carMb / best.http
  console.log(
    JSON.stringify({
      bench: 'network',
      records: RECORDS,
      car_mb: round(carMb, 1),
      peer_mb_per_s: round(peerRate, 2),
      http_mb_per_s: round(httpRate, 2),
      ratio_peer_vs_http: round(peerRate / httpRate, 2),
    }),
  )
} finally {
  for (const s of services) await s.stop().catch(() => undefined)
  await server.close()
  await net.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}

function round(n: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

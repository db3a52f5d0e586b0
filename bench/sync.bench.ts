// Full sync of a 100,000-record repository (issue 3, "Benchmark"): our syncRepo (download over
// loopback HTTP, verify, store in a fresh pds.db) against @atproto/repo's verifyRepoCar alone on
// the same bytes, and against a floor (SHA-256 of every block + one SQLite transaction inserting
// them). Peak RSS of a sync is measured in a child process (bench/sync-rss.ts) at 100,000 and at
// 10,000 records, next to the CAR sizes, so growth with size is visible.
// Prints {"bench":"sync","records":…,"records_per_s":…,"mb_per_s":…,"peak_rss_mb":…,
// "peak_rss_mb_10k":…,"car_mb":…,"car_mb_10k":…,"ratio_vs_atproto_verify":…,"ratio_vs_floor":…,
// "seconds":…} where seconds is our best sync time; progress goes to stderr.
// BENCH_SYNC_RECORDS changes the size (the small repository is a tenth of it).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyRepoCar } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { syncRepo } from '../core/replication/repo-sync.js'
import { resolveIdentity } from '../core/replication/test-helpers.js'
import type { Database } from '../core/storage/database.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import type { AccountIdentity } from '../core/storage/types.js'
import { startTestNetwork } from '../core/testing/network.js'
import { generateRepo, startRepoServer, type GeneratedRepo } from './sync-fixture.js'

const RECORDS = Number(process.env.BENCH_SYNC_RECORDS ?? 100_000)
const SMALL = Math.round(RECORDS / 10)
const WARM_UP = Math.min(2_000, SMALL)
const MiB = 1024 * 1024

const started = performance.now()
const log = (msg: string) => console.error(`sync: ${msg} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
const gc = globalThis.gc ?? (() => undefined)
if (globalThis.gc === undefined) log('run with --expose-gc (npm run bench does) for steadier figures')

const net = await startTestNetwork()
const server = await startRepoServer()
try {
  log('local PLC and PDS up')
  const warm = await prepare(WARM_UP, 'bench-warm')
  const small = await prepare(SMALL, 'bench-small')
  const big = await prepare(RECORDS, 'bench-big')

  // Warm-up: every path once on a small repository, so the JIT and SQLite are warm for all three.
  await ours(warm)
  await atprotoVerify(warm)
  await floor(warm)
  log('warmed up')

  // Alternating order, best of two, gc() before each step.
  const best = { ours: Infinity, atproto: Infinity, floor: Infinity }
  for (const order of [['ours', 'atproto', 'floor'], ['floor', 'atproto', 'ours']] as const) {
    for (const step of order) {
      const seconds = step === 'ours' ? await ours(big) : step === 'atproto' ? await atprotoVerify(big) : await floor(big)
      best[step] = Math.min(best[step], seconds)
      log(`${step}: ${seconds.toFixed(2)} s`)
    }
  }

  const rssSmall = await childSync(small)
  log(`peak RSS at ${SMALL} records: ${mib(rssSmall.peak_rss)} MiB (${mib(rssSmall.start_rss)} before the sync)`)
  const rssBig = await childSync(big)
  log(`peak RSS at ${RECORDS} records: ${mib(rssBig.peak_rss)} MiB (${mib(rssBig.start_rss)} before the sync)`)
  log('done')

  const carMb = big.repo.car.byteLength / MiB
  console.log(
    JSON.stringify({
      bench: 'sync',
      records: RECORDS,
      records_per_s: Math.round(RECORDS / best.ours),
      mb_per_s: round(carMb / best.ours, 2),
      peak_rss_mb: mib(rssBig.peak_rss),
      peak_rss_mb_10k: mib(rssSmall.peak_rss),
      car_mb: round(carMb, 1),
      car_mb_10k: round(small.repo.car.byteLength / MiB, 1),
      ratio_vs_atproto_verify: round(best.ours / best.atproto, 2),
      ratio_vs_floor: round(best.ours / best.floor, 2),
      seconds: round(best.ours, 2),
    }),
  )
} finally {
  await server.close()
  await net.close()
}

interface Prepared {
  repo: GeneratedRepo
  /** As identity resolution gives it, from the PLC. */
  identity: AccountIdentity
}

/** Generates a repository, serves it, and resolves its DID through the PLC. */
async function prepare(records: number, name: string): Promise<Prepared> {
  const repo = await generateRepo(net, server.url, records, name)
  server.add(repo)
  const identity = await resolveIdentity(net, repo.did)
  if (identity.pdsUrl !== server.url || identity.signingKey !== repo.signingKey) {
    throw new Error(`the PLC resolves ${repo.did} to ${identity.pdsUrl} / ${identity.signingKey}, not what was registered`)
  }
  gc()
  log(`generated ${records} records: ${repo.blocks} blocks, ${(repo.car.byteLength / MiB).toFixed(1)} MiB CAR`)
  return { repo, identity }
}

/** Our full sync into a fresh pds.db; seconds. */
async function ours({ repo, identity }: Prepared): Promise<number> {
  return withDatabase(async (db) => {
    const storage = createSqliteStorage(db)
    gc()
    const t = performance.now()
    const summary = await syncRepo(storage, identity, { mode: 'full' })
    const seconds = (performance.now() - t) / 1000
    if (summary.creates !== repo.records || summary.cid !== repo.cid) throw new Error(`syncRepo stored ${summary.creates} records at ${summary.cid}`)
    return seconds
  })
}

/** Baseline: `verifyRepoCar` on the same bytes, nothing stored; seconds. */
async function atprotoVerify({ repo }: Prepared): Promise<number> {
  gc()
  const t = performance.now()
  const verified = await verifyRepoCar(repo.car, repo.did, repo.signingKey)
  const seconds = (performance.now() - t) / 1000
  if (verified.creates.length !== repo.records) throw new Error(`verifyRepoCar found ${verified.creates.length} records`)
  return seconds
}

/** Floor: parse the CAR, SHA-256 every block, insert every block in one transaction; seconds. */
function floor({ repo }: Prepared): Promise<number> {
  return withDatabase((db) => {
    const insert = db.prepare<[string, Buffer, number]>('INSERT INTO blocks (cid, bytes, size) VALUES (?, ?, ?) ON CONFLICT (cid) DO NOTHING')
    gc()
    const t = performance.now()
    const blocks = db.transaction(() => {
      let n = 0
      for (const { cid, bytes } of carBlocks(repo.car)) {
        if (!createHash('sha256').update(bytes).digest().equals(cid.multihash.digest)) throw new Error(`block ${cid} does not match its CID`)
        insert.run(cid.toString(), bytes, bytes.byteLength)
        n++
      }
      return n
    })()
    const seconds = (performance.now() - t) / 1000
    if (blocks !== repo.blocks) throw new Error(`the floor stored ${blocks} blocks, not ${repo.blocks}`)
    return seconds
  })
}

async function withDatabase<T>(fn: (db: Database) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-sync-'))
  const db = openDatabase(join(dir, 'pds.db'))
  try {
    migrate(db)
    return await fn(db)
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The blocks of a CAR v1, as views into it (the least a reader can do). */
function* carBlocks(car: Buffer): Generator<{ cid: CID; bytes: Buffer }> {
  let [length, at] = varint(car, 0)
  at += length // the header
  while (at < car.byteLength) {
    ;[length, at] = varint(car, at)
    const [cid, rest] = CID.decodeFirst(car.subarray(at, at + length))
    yield { cid, bytes: car.subarray(at + length - rest.byteLength, at + length) }
    at += length
  }
}

function varint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++]
    if (byte === undefined) throw new Error('the CAR ends inside a varint')
    value += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) return [value, at]
  }
}

/** A full sync in a child process of its own, for its peak RSS. */
async function childSync({ identity, repo }: Prepared): Promise<{ peak_rss: number; start_rss: number; seconds: number }> {
  const script = fileURLToPath(new URL('./sync-rss.js', import.meta.url))
  const child = spawn(process.execPath, ['--expose-gc', script], {
    env: { ...process.env, P2PDS_BENCH_SYNC_ACCOUNT: JSON.stringify(identity) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve))
  if (code !== 0) throw new Error(`the RSS child exited with ${code}`)
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as { peak_rss: number; start_rss: number; seconds: number; records: number }
  if (result.records !== repo.records) throw new Error(`the RSS child synced ${result.records} records`)
  return result
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB)
}

function round(n: number, digits: number): number {
  return Math.round(n * 10 ** digits) / 10 ** digits
}

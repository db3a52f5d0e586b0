/**
 * What the sync benchmark syncs from: generated repositories of post-like records, built and
 * signed with `@atproto/repo`, whose DIDs are registered in the local PLC and point at a small
 * XRPC server of the benchmark (`getRepo`, `getLatestCommit`, an empty `listBlobs`) on 127.0.0.1.
 *
 * Generating is preferred to writing through the local PDS: 100,000 `createRecord` calls take
 * many minutes, building the same repository in memory about ten seconds.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Worker } from 'node:worker_threads'
import { Secp256k1Keypair } from '@atproto/crypto'
import { blocksToCarFile, MemoryBlockstore, Repo, WriteOpAction, type RecordCreateOp } from '@atproto/repo'
import type { LexMap } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { mulberry32 } from '../core/replication/verify.js'
import { LOOPBACK, type TestNetwork } from '../core/testing/network.js'

/** A generated repository, as its PDS would serve it. */
export interface GeneratedRepo {
  did: string
  /** The signing key registered in the PLC, `did:key:…`. */
  signingKey: string
  /** The whole repository as a CAR v1 (root: the commit). */
  car: Buffer
  /** CID and rev of the commit. */
  cid: string
  rev: string
  records: number
  blocks: number
}

/** The XRPC server the generated DIDs name as their PDS. */
export interface RepoServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Serves `repo` from now on. */
  add(repo: GeneratedRepo): void
  close(): Promise<void>
}

/** Starts the server on an ephemeral port of 127.0.0.1. */
export async function startRepoServer(): Promise<RepoServer> {
  const repos = new Map<string, GeneratedRepo>()
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const repo = repos.get(url.searchParams.get('did') ?? '')
    switch (url.pathname) {
      case '/xrpc/com.atproto.sync.getRepo':
        if (repo === undefined) return json(400, { error: 'RepoNotFound', message: 'no such repository' })
        // Every sync in the benchmark is a full one (fresh database); a diff is not offered.
        if (url.searchParams.has('since')) return json(400, { error: 'InvalidRequest', message: 'since is not supported here' })
        res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': repo.car.byteLength })
        res.end(repo.car)
        return
      case '/xrpc/com.atproto.sync.getLatestCommit':
        if (repo === undefined) return json(400, { error: 'RepoNotFound', message: 'no such repository' })
        return json(200, { cid: repo.cid, rev: repo.rev })
      case '/xrpc/com.atproto.sync.listBlobs':
        if (repo === undefined) return json(400, { error: 'RepoNotFound', message: 'no such repository' })
        return json(200, { cids: [] })
      default:
        return json(501, { error: 'MethodNotImplemented', message: `${url.pathname} is not served by the benchmark` })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, LOOPBACK, resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${LOOPBACK}:${port}`,
    add: (repo) => void repos.set(repo.did, repo),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * Registers a new did:plc in the network's PLC (signing key: a fresh secp256k1 key; PDS:
 * `pdsUrl`), then builds its repository of `records` posts and signs the commit with that key.
 */
export async function generateRepo(net: TestNetwork, pdsUrl: string, records: number, name: string): Promise<GeneratedRepo> {
  const signer = await Secp256k1Keypair.create()
  const rotation = await Secp256k1Keypair.create()
  const did = await net.plc.getClient().createDid({
    signingKey: signer.did(),
    handle: `${name}${net.handleDomain}`,
    pds: pdsUrl,
    rotationKeys: [rotation.did()],
    signer: rotation,
  })
  const commit = await Repo.formatInitCommit(new MemoryBlockstore(), did, signer, postWrites(did, records, records))
  const car = await blocksToCarFile(commit.cid, commit.newBlocks)
  return {
    did,
    signingKey: signer.did(),
    car: Buffer.from(car.buffer, car.byteOffset, car.byteLength),
    cid: commit.cid.toString(),
    rev: commit.rev,
    records,
    blocks: commit.newBlocks.size,
  }
}

// --- Records ----------------------------------------------------------------------------------

const WORDS = (
  'the a of to and in is it you that for on was with as I be this have at are not but from or by ' +
  'just today really good new time people think know like day what about one all more some out ' +
  'atproto bluesky backup sync repository protocol network federation server client data ' +
  'coffee weather train morning evening weekend music book film garden cat dog walk city ' +
  'release update bug fix deploy test build merge review patch feature issue thread reply ' +
  'Zürich café naïve résumé straße 東京 ŝanĝo привет مرحبا'
).split(' ')
const EMOJI = ['🙂', '🎉', '☕', '🌧️', '🚆', '📚', '🐈', '🔧', '✨', '👀']
const LANGS = [['en'], ['en'], ['en'], ['de'], ['ja'], ['fr'], ['en', 'de']]
const S32 = '234567abcdefghijklmnopqrstuvwxyz'

/**
 * `count` posts in rkey order with varied text (1–300 characters, some non-ASCII and emoji),
 * languages, link facets on some and reply references on others. Deterministic for a seed.
 */
function postWrites(did: string, count: number, seed: number): RecordCreateOp[] {
  const random = mulberry32(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  const start = Date.UTC(2024, 0, 1)
  const writes: RecordCreateOp[] = []
  const rkeys: string[] = []
  let at = start
  for (let i = 0; i < count; i++) {
    at += 1 + Math.floor(random() * 600_000)
    const rkey = tid(at * 1000 + Math.floor(random() * 1000), i & 1023)
    const words: string[] = []
    const target = 1 + Math.floor(random() ** 2 * 280)
    let length = 0
    while (length < target) {
      const w = random() < 0.05 ? pick(EMOJI) : pick(WORDS)
      words.push(w)
      length += w.length + 1
    }
    // At most 280 + one word: under the 300-character limit of a post.
    let text = words.join(' ')
    const record: LexMap = { $type: 'app.bsky.feed.post', text, createdAt: new Date(at).toISOString() }
    if (random() < 0.8) record.langs = pick(LANGS)
    if (random() < 0.15) {
      const uri = `https://example.com/${pick(WORDS)}/${i}`
      const byteStart = Buffer.byteLength(text) + 1
      text = `${text} ${uri}`
      record.text = text
      record.facets = [{ index: { byteStart, byteEnd: byteStart + Buffer.byteLength(uri) }, features: [{ $type: 'app.bsky.richtext.facet#link', uri }] }]
    }
    if (i > 0 && random() < 0.3) {
      const parent = strongRef(did, rkeys[Math.floor(random() * rkeys.length)]!)
      record.reply = { root: parent, parent }
    }
    rkeys.push(rkey)
    writes.push({ action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey, record })
  }
  return writes
}

/** A reference to one of the repository's posts (the CID is a stand-in: nothing dereferences it). */
function strongRef(did: string, rkey: string): { uri: string; cid: string } {
  const digest = createDigest(0x12, createHash('sha256').update(rkey).digest())
  return { uri: `at://${did}/app.bsky.feed.post/${rkey}`, cid: CID.createV1(0x71, digest).toString() }
}

/** A TID (13 characters, base32-sortable) for a time in microseconds and a clock id. */
function tid(micros: number, clockId: number): string {
  let n = (BigInt(micros) << 10n) | BigInt(clockId)
  let out = ''
  for (let i = 0; i < 13; i++) {
    out = S32[Number(n & 31n)]! + out
    n >>= 5n
  }
  return out
}

// --- Memory -----------------------------------------------------------------------------------

/**
 * Samples the process's RSS every `everyMs` from a worker thread, so samples keep coming while
 * the main thread is busy in synchronous work (SQLite transactions, hashing). `stop()` resolves
 * with the highest sample in bytes.
 */
export function sampleRss(everyMs = 20): { stop(): Promise<number> } {
  const peak = new Int32Array(new SharedArrayBuffer(4)) // KiB
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads')
     const peak = new Int32Array(workerData.buffer)
     const sample = () => { const kib = Math.round(process.memoryUsage.rss() / 1024); if (kib > Atomics.load(peak, 0)) Atomics.store(peak, 0, kib) }
     sample()
     setInterval(sample, workerData.everyMs)`,
    { eval: true, workerData: { buffer: peak.buffer, everyMs } },
  )
  worker.unref()
  return {
    async stop() {
      const here = Math.round(process.memoryUsage.rss() / 1024)
      if (here > Atomics.load(peak, 0)) Atomics.store(peak, 0, here)
      await worker.terminate()
      return Atomics.load(peak, 0) * 1024
    },
  }
}

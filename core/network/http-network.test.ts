// HttpNetworkService over real HTTP on loopback with real SQLite block stores: the conformance
// suite, then what noise gave Helia and signatures give here (replay, forged requester, answers
// from the wrong peer), blocks fetched from peers, and the limits.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as raw from 'multiformats/codecs/raw'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../storage/database.js'
import { migrate } from '../storage/migrations.js'
import { SqliteBlockStore } from '../storage/sqlite-block-store.js'
import { BLOCK_PROTOCOL, HTTP_NET_PATH, HttpNetworkService, signedRequestHeaders, type HttpNetworkServiceInit } from './http-network.js'
import { describeNetworkService } from './network-service.conformance.js'
import { loadOrCreatePeerKey, peerIdOf, verifyPeerSignature } from './peer-key.js'
import type { PeerTarget } from './types.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

interface Made {
  service: HttpNetworkService
  blocks: SqliteBlockStore
  db: Database
  dir: string
  target: PeerTarget
  /** How many times `putBlock` was called on its store. */
  puts: () => number
}

async function makeService(opts: Partial<Omit<HttpNetworkServiceInit, 'blocks' | 'privateKey'>> = {}): Promise<Made> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-httpnet-'))
  const db = openDatabase(join(dir, 'pds.db'))
  migrate(db)
  const blocks = new SqliteBlockStore({ db })
  let puts = 0
  const put = blocks.putBlock.bind(blocks)
  blocks.putBlock = async (cid, bytes, o) => {
    puts++
    return put(cid, bytes, o)
  }
  const service = new HttpNetworkService({ blocks, privateKey: await loadOrCreatePeerKey(dir), allowPrivateNetwork: true, ...opts })
  await service.start()
  cleanup.push(async () => {
    await service.stop()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { service, blocks, db, dir, target: { peerId: service.peerId, multiaddrs: service.info().multiaddrs }, puts: () => puts }
}

describeNetworkService('HttpNetworkService (HTTP over loopback)', async () => {
  const [a, b] = [await makeService(), await makeService()]
  return { a: a.service, b: b.service, bTarget: b.target, close: async () => undefined }
})

async function rawBlock(text: string): Promise<{ cid: string; bytes: Uint8Array }> {
  const bytes = enc(text)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString(), bytes }
}

/** The base URL of a service's routes. */
function baseOf(m: Made): string {
  const ma = m.service.info().multiaddrs[0]!
  const [, , ip, , port] = ma.split('/')
  return `http://${ip}:${port}${HTTP_NET_PATH}`
}

/** Frames of an answer body: type, payload, signature. */
function parseFrames(bytes: Uint8Array): Array<{ type: number; payload: Uint8Array; sig: Uint8Array }> {
  const out = []
  const buf = Buffer.from(bytes)
  for (let at = 0; at < buf.length; ) {
    const length = buf.readUInt32BE(at + 1)
    const sigLength = buf.readUInt8(at + 5)
    out.push({ type: buf[at]!, payload: buf.subarray(at + 6, at + 6 + length), sig: buf.subarray(at + 6 + length, at + 6 + length + sigLength) })
    at += 6 + length + sigLength
  }
  return out
}

/**
 * A stand-in for a man in the middle (a real P2PDS node cannot be made to misbehave this way): a
 * plain HTTP proxy that forwards every request to `upstream` and may rewrite the answer.
 */
async function proxyTo(upstream: Made, rewrite: { claimPeer?: string; flipLastPayloadByte?: boolean } = {}): Promise<{ port: number; server: Server }> {
  const base = new URL(baseOf(upstream))
  const server = createServer((req, res) => {
    const fwd = httpRequest({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      const chunks: Buffer[] = []
      up.on('data', (c: Buffer) => chunks.push(c))
      up.on('end', () => {
        const body = Buffer.concat(chunks)
        if (rewrite.flipLastPayloadByte === true) {
          const length = body.readUInt32BE(1)
          body[6 + length - 1] = body[6 + length - 1]! ^ 0xff
        }
        const headers = { ...up.headers, ...(rewrite.claimPeer === undefined ? {} : { 'x-p2pds-peer': rewrite.claimPeer }) }
        delete headers['content-length']
        delete headers['transfer-encoding']
        res.writeHead(up.statusCode ?? 502, headers)
        res.end(body)
      })
    })
    fwd.on('error', () => res.destroy())
    req.pipe(fwd)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as AddressInfo).port, server }
}

describe('HttpNetworkService', () => {
  it('has the PeerID of the persisted libp2p key and publishes HTTP multiaddrs naming it', async () => {
    const a = await makeService()
    expect(a.service.peerId).toBe(peerIdOf(await loadOrCreatePeerKey(a.dir)))
    const [ma] = a.service.info().multiaddrs
    expect(ma).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/http/p2p/${a.service.peerId}$`))
    const res = await fetch(`${baseOf(a)}/id`)
    expect(await res.json()).toEqual({ peerId: a.service.peerId })
  })

  it('connect: a signed round trip names the authenticated PeerID (learnt from /id when the address has none) and marks it connected', async () => {
    const a = await makeService()
    const b = await makeService()
    expect(a.service.isConnected(b.service.peerId)).toBe(false)
    const bare = b.service.info().multiaddrs[0]!.replace(/\/p2p\/.*$/, '')
    expect(await a.service.connect({ multiaddrs: [bare] })).toEqual({ peerId: b.service.peerId })
    expect(a.service.isConnected(b.service.peerId)).toBe(true)
    // The callee saw an authenticated request from a, so it counts a too.
    expect(b.service.isConnected(a.service.peerId)).toBe(true)
    expect(a.service.info().connections).toBe(1)
    // A PeerID alone is dialled at the address it last answered at.
    expect(await a.service.connect({ peerId: b.service.peerId })).toEqual({ peerId: b.service.peerId })
    await expect(a.service.connect(b.target, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('refuses a replayed request (same nonce) and a stale one; the handler runs once', async () => {
    const a = await makeService()
    const b = await makeService()
    let runs = 0
    await b.service.handle('/p2pds-test/count/1.0.0', async () => {
      runs++
      return enc('ok')
    })
    const key = await loadOrCreatePeerKey(a.dir)
    const body = enc('once')
    const sign = async (d: Uint8Array) => key.sign(d)
    const headers = await signedRequestHeaders({ sign, route: 'req', protocol: '/p2pds-test/count/1.0.0', from: a.service.peerId, to: b.service.peerId, body, time: Date.now() })
    const send = (h: Record<string, string>) => fetch(`${baseOf(b)}/req`, { method: 'POST', headers: h, body })
    const first = await send(headers)
    expect(first.status).toBe(200)
    const [ok] = parseFrames(new Uint8Array(await first.arrayBuffer()))
    expect(ok).toMatchObject({ type: 0 })
    expect(dec(ok!.payload)).toBe('ok')
    const replay = await send(headers)
    expect(replay.status).toBe(401)
    const [refusal] = parseFrames(new Uint8Array(await replay.arrayBuffer()))
    expect(JSON.parse(dec(refusal!.payload))).toMatchObject({ code: 'ERR_PEER_PROTOCOL', message: expect.stringMatching(/replayed/) })
    // The refusal is signed by b too, so the genuine requester can trust its code.
    expect(refusal!.sig.length).toBeGreaterThan(0)

    const stale = await signedRequestHeaders({ sign, route: 'req', protocol: '/p2pds-test/count/1.0.0', from: a.service.peerId, to: b.service.peerId, body, time: Date.now() - 120_000 })
    const staleRes = await send(stale)
    expect(staleRes.status).toBe(401)
    expect(dec(parseFrames(new Uint8Array(await staleRes.arrayBuffer()))[0]!.payload)).toMatch(/off this node's clock/)
    // The same signed request on the streaming route: the route is signed, so it is refused.
    const otherRoute = await fetch(`${baseOf(b)}/stream`, { method: 'POST', headers: await signedRequestHeaders({ sign, route: 'req', protocol: '/p2pds-test/count/1.0.0', from: a.service.peerId, to: b.service.peerId, body, time: Date.now() }), body })
    expect(otherRoute.status).toBe(401)
    expect(runs).toBe(1)
    // A restart forgets the nonces, but not that the request was signed before it.
    await b.service.stop()
    await new Promise((r) => setTimeout(r, 5))
    await b.service.start()
    const afterRestart = await send(headers)
    expect(afterRestart.status).toBe(401)
    expect(dec(parseFrames(new Uint8Array(await afterRestart.arrayBuffer()))[0]!.payload)).toMatch(/before this node \(re\)started/)
    expect(runs).toBe(1)
  })

  it('refuses a request signed by another key than the PeerID it names, and one whose body was changed', async () => {
    const a = await makeService()
    const b = await makeService()
    const seen: string[] = []
    await b.service.handle('/p2pds-test/who/1.0.0', async (_req, from) => {
      seen.push(from.peerId)
      return enc('ok')
    })
    const mallory = await generateKeyPair('Ed25519')
    const body = enc('hi')
    // Mallory signs but names a's PeerID as the requester.
    const forged = await signedRequestHeaders({ sign: async (d) => mallory.sign(d), route: 'req', protocol: '/p2pds-test/who/1.0.0', from: a.service.peerId, to: b.service.peerId, body, time: Date.now() })
    const res = await fetch(`${baseOf(b)}/req`, { method: 'POST', headers: forged, body })
    expect(res.status).toBe(401)
    expect(JSON.parse(dec(parseFrames(new Uint8Array(await res.arrayBuffer()))[0]!.payload))).toMatchObject({ code: 'ERR_PEER_PROTOCOL', message: expect.stringMatching(/signature does not verify/) })
    // Genuinely signed by a, but the body is swapped on the way.
    const key = await loadOrCreatePeerKey(a.dir)
    const genuine = await signedRequestHeaders({ sign: async (d) => key.sign(d), route: 'req', protocol: '/p2pds-test/who/1.0.0', from: a.service.peerId, to: b.service.peerId, body, time: Date.now() })
    const swapped = await fetch(`${baseOf(b)}/req`, { method: 'POST', headers: genuine, body: enc('ho') })
    expect(swapped.status).toBe(401)
    expect(seen).toEqual([])
    // The real a gets through.
    await a.service.request(b.target, '/p2pds-test/who/1.0.0', body)
    expect(seen).toEqual([a.service.peerId])
  })

  it('rejects an answer from a PeerID other than the one the target names (stand-in proxy in the middle)', async () => {
    const a = await makeService()
    const b = await makeService()
    const c = await makeService()
    let cRuns = 0
    await c.service.handle('/x/1.0.0', async () => {
      cRuns++
      return enc('from c')
    })
    await b.service.handle('/x/1.0.0', async () => enc('from b'))
    const via = (port: number): PeerTarget => ({ peerId: b.service.peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${port}/http/p2p/${b.service.peerId}`] })

    // The proxy sends a's request (addressed to b) to c: c refuses it, answering as c.
    const toC = await proxyTo(c)
    await expect(a.service.request(via(toC.port), '/x/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_PEER_PROTOCOL', message: expect.stringMatching(/answered as .*, not /) })
    // The proxy also claims c's answer is b's: the frame's signature gives it away.
    const claimsB = await proxyTo(c, { claimPeer: b.service.peerId })
    await expect(a.service.request(via(claimsB.port), '/x/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_PEER_PROTOCOL', message: expect.stringMatching(/not signed by/) })
    expect(cRuns).toBe(0)
    // b's own answer with one byte changed on the way.
    const tampers = await proxyTo(b, { flipLastPayloadByte: true })
    await expect(a.service.request(via(tampers.port), '/x/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_PEER_PROTOCOL', message: expect.stringMatching(/not signed by/) })
    // Untouched, through a forwarding proxy, b's answer is accepted: the check is on signatures, not on the route.
    const honest = await proxyTo(b)
    expect(dec((await a.service.request(via(honest.port), '/x/1.0.0', enc('x'))).bytes)).toBe('from b')
    expect(a.service.isConnected(c.service.peerId)).toBe(false)
  })

  it('getBlock: fetches from connected peers, checks the bytes against the CID, stores the block once', async () => {
    const a = await makeService()
    const b = await makeService()
    const c = await makeService()
    const block = await rawBlock('held by a and c')
    await a.blocks.putBlock(block.cid, block.bytes)
    await c.blocks.putBlock(block.cid, block.bytes)
    // Not connected to anyone yet: a clear, coded failure.
    await expect(b.service.getBlock(block.cid, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' })
    await b.service.connect(a.target)
    await b.service.connect(c.target)
    const rowsBefore = (a.db.prepare('SELECT COUNT(*) AS n FROM blocks').get() as { n: number }).n
    const bytes = await b.service.getBlock(block.cid, { timeoutMs: 5000 })
    expect(Buffer.from(bytes).equals(Buffer.from(block.bytes))).toBe(true)
    expect(await b.blocks.hasBlock(block.cid)).toBe(true)
    expect(b.puts()).toBe(1)
    expect((a.db.prepare('SELECT COUNT(*) AS n FROM blocks').get() as { n: number }).n).toBe(rowsBefore)
    // Held now: read from the store, nothing more stored.
    await b.service.getBlock(block.cid)
    expect(b.puts()).toBe(1)
    // A block nobody has: refused by every peer, coded.
    const missing = await rawBlock('held by nobody')
    await expect(b.service.getBlock(missing.cid, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE', message: expect.stringMatching(/ERR_MISSING_BLOCK|not in the local store/) })
    await expect(b.service.getBlock(missing.cid, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('getBlock: bytes that do not hash to the CID are refused and not stored', async () => {
    const liar = await makeService()
    const b = await makeService()
    const block = await rawBlock('the real bytes')
    await liar.service.handle(BLOCK_PROTOCOL, async () => enc('other bytes'))
    await b.service.connect(liar.target)
    await expect(b.service.getBlock(block.cid, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE', message: expect.stringMatching(/do not hash to it/) })
    expect(await b.blocks.hasBlock(block.cid)).toBe(false)
    expect(b.puts()).toBe(0)
  })

  it('refuses loopback, private and link-local addresses unless allowPrivateNetwork is set, before sending anything', async () => {
    const a = await makeService({ allowPrivateNetwork: false })
    const b = await makeService()
    let runs = 0
    await b.service.handle('/x/1.0.0', async () => {
      runs++
      return enc('ok')
    })
    for (const ip of ['/ip4/127.0.0.1', '/ip4/10.1.2.3', '/ip4/192.168.1.1', '/ip4/169.254.169.254', '/ip6/::1', '/ip6/fe80::1']) {
      const port = b.target.multiaddrs![0]!.split('/')[4]
      await expect(a.service.request({ peerId: b.service.peerId, multiaddrs: [`${ip}/tcp/${port}/http/p2p/${b.service.peerId}`] }, '/x/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_UNSAFE_URL' })
    }
    // A host name is checked when it resolves (here to loopback), at connect time.
    const port = b.target.multiaddrs![0]!.split('/')[4]
    await expect(a.service.request({ peerId: b.service.peerId, multiaddrs: [`/dns4/localhost/tcp/${port}/http/p2p/${b.service.peerId}`] }, '/x/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_UNSAFE_URL' })
    expect(runs).toBe(0)
    // With it set, the same address works.
    const open = await makeService({ allowPrivateNetwork: true })
    expect(dec((await open.service.request(b.target, '/x/1.0.0', enc('x'))).bytes)).toBe('ok')
    expect(runs).toBe(1)
  })

  it('ignores multiaddrs that are not HTTP ones, with a coded error when none is left', async () => {
    const a = await makeService()
    const b = await makeService()
    const port = b.target.multiaddrs![0]!.split('/')[4]
    await expect(a.service.request({ peerId: b.service.peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${port}/p2p/${b.service.peerId}`] }, '/x/1.0.0', enc('x'))).rejects.toMatchObject({
      code: 'ERR_PEER_UNREACHABLE',
      message: expect.stringMatching(/HTTP/),
    })
    await expect(a.service.request({ multiaddrs: ['not a multiaddr'] }, '/x/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' })
    // A libp2p-only address first, then the HTTP one: the HTTP one is used.
    await b.service.handle('/x/1.0.0', async () => enc('ok'))
    const answer = await a.service.request({ peerId: b.service.peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${port}/p2p/${b.service.peerId}`, ...b.target.multiaddrs!] }, '/x/1.0.0', enc('x'))
    expect(dec(answer.bytes)).toBe('ok')
  })

  it('refuses an oversized request body; nothing reaches the handler', async () => {
    const a = await makeService()
    const b = await makeService({ maxRequestBytes: 64 * 1024 })
    let runs = 0
    await b.service.handle('/x/1.0.0', async () => {
      runs++
      return enc('ok')
    })
    await expect(a.service.request(b.target, '/x/1.0.0', new Uint8Array(64 * 1024 + 1))).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' })
    // The declared length alone is enough: refused before a byte of the body is sent.
    const key = await loadOrCreatePeerKey(a.dir)
    const big = new Uint8Array(5 * 1024 * 1024)
    const headers = await signedRequestHeaders({ sign: async (d) => key.sign(d), route: 'req', protocol: '/x/1.0.0', from: a.service.peerId, to: b.service.peerId, body: big, time: Date.now() })
    const base = new URL(baseOf(b))
    const answer = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = httpRequest({ host: base.hostname, port: base.port, method: 'POST', path: `${HTTP_NET_PATH}/req`, headers: { ...headers, 'content-length': String(big.length) } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      })
      req.on('error', reject)
      req.flushHeaders() // headers only; the body is never sent
    })
    expect(answer.status).toBe(413)
    expect(JSON.parse(dec(parseFrames(answer.body)[0]!.payload))).toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' })
    expect(runs).toBe(0)
    // Just under the limit passes.
    expect(dec((await a.service.request(b.target, '/x/1.0.0', new Uint8Array(64 * 1024))).bytes)).toBe('ok')
    expect(runs).toBe(1)
  })

  it('limits answers by size and time, and requests per peer', async () => {
    const a = await makeService()
    const b = await makeService({ rateLimit: { capacity: 3, refillPerSec: 0.001 } })
    await b.service.handle('/big/1.0.0', async () => new Uint8Array(10_000))
    await b.service.handle('/slow/1.0.0', () => new Promise((resolve) => setTimeout(() => resolve(enc('late')), 2000)))
    await expect(a.service.request(b.target, '/big/1.0.0', enc(''), { maxBytes: 1000 })).rejects.toMatchObject({ code: 'ERR_RESPONSE_TOO_LARGE' })
    const started = Date.now()
    await expect(a.service.request(b.target, '/slow/1.0.0', enc(''), { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE', message: expect.stringMatching(/in time/) })
    expect(Date.now() - started).toBeLessThan(1500)
    expect((await a.service.request(b.target, '/big/1.0.0', enc(''))).bytes.length).toBe(10_000)
    await expect(a.service.request(b.target, '/big/1.0.0', enc(''))).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' })
  })

  it('stop aborts requests in flight and closes the server; start and stop are idempotent', async () => {
    const a = await makeService()
    const b = await makeService()
    let release: () => void = () => undefined
    await b.service.handle('/hang/1.0.0', () => new Promise((resolve) => (release = () => resolve(enc('late')))))
    const pending = a.service.request(b.target, '/hang/1.0.0', enc(''), { timeoutMs: 30_000 })
    await new Promise((r) => setTimeout(r, 100))
    await a.service.stop()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE', message: expect.stringMatching(/stopped/) })
    await a.service.stop()
    expect(a.service.info().multiaddrs).toEqual([])
    await expect(a.service.request(b.target, '/hang/1.0.0', enc(''))).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' })
    // b stops although its handler still hangs, and then nothing answers at its address.
    const bAddr = b.target
    await b.service.stop()
    release()
    await a.service.start()
    await a.service.start()
    await expect(a.service.request(bAddr, '/hang/1.0.0', enc(''), { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' })
  })

  it('with networking off: no listener, signing still works, requests refuse with a clear error', async () => {
    const a = await makeService({ networking: false })
    expect(a.service.info()).toMatchObject({ networking: false, multiaddrs: [], connections: 0 })
    const sig = await a.service.sign(enc('x'))
    expect(await verifyPeerSignature(a.service.peerId, enc('x'), sig)).toBe(true)
    await expect(a.service.request({ multiaddrs: ['/ip4/127.0.0.1/tcp/1/http'] }, '/x/1.0.0', new Uint8Array())).rejects.toMatchObject({ code: 'ERR_NETWORK_DISABLED' })
    await expect(a.service.getBlock((await rawBlock('nope')).cid)).rejects.toMatchObject({ code: 'ERR_NETWORK_DISABLED' })
  })

  it('provide: nothing to announce to over HTTP; resolves every CID as failed, never rejects', async () => {
    const a = await makeService()
    const block = await rawBlock('announce me')
    expect(await a.service.provide([block.cid, block.cid])).toEqual({ provided: 0, failed: 2 })
    await expect(a.service.provide([block.cid], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('a stream the reader leaves early is closed on both sides; a stream cut off before END is a coded error', async () => {
    const a = await makeService()
    const b = await makeService()
    let produced = 0
    let finished = false
    await b.service.handleStream('/many/1.0.0', async () =>
      (async function* () {
        try {
          for (let i = 0; i < 10_000; i++) {
            produced++
            yield new Uint8Array(256 * 1024)
          }
        } finally {
          finished = true
        }
      })(),
    )
    const s = await a.service.openStream(b.target, '/many/1.0.0', enc(''))
    for await (const c of s.chunks) {
      void c
      break
    }
    await expect.poll(() => finished, { timeout: 15_000 }).toBe(true)
    expect(produced).toBeLessThan(10_000)

    // A proxy that drops the END frame: the reader must not take a truncated answer as whole.
    await b.service.handleStream('/two/1.0.0', async () =>
      (async function* () {
        yield enc('one')
      })(),
    )
    const base = new URL(baseOf(b))
    const cutter = createServer((req, res) => {
      const fwd = httpRequest({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        const chunks: Buffer[] = []
        up.on('data', (c: Buffer) => chunks.push(c))
        up.on('end', () => {
          const body = Buffer.concat(chunks)
          const first = 6 + body.readUInt32BE(1) + body.readUInt8(5)
          res.writeHead(200, { 'content-type': up.headers['content-type']!, 'x-p2pds-peer': String(up.headers['x-p2pds-peer']) })
          res.end(body.subarray(0, first))
        })
      })
      req.pipe(fwd)
    })
    await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve))
    cleanup.push(() => new Promise<void>((resolve) => cutter.close(() => resolve())))
    const port = (cutter.address() as AddressInfo).port
    const cut = await a.service.openStream({ peerId: b.service.peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${port}/http/p2p/${b.service.peerId}`] }, '/two/1.0.0', enc(''))
    const got: string[] = []
    const read = async () => {
      for await (const c of cut.chunks) got.push(dec(c))
    }
    await expect(read()).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE', message: expect.stringMatching(/before its end/) })
    expect(got).toEqual(['one'])
  }, 30_000)
})

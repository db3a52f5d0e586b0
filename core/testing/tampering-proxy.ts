/**
 * A TAMPERING PROXY placed in front of the real local PLC directory and PDS, for tests of what a
 * node does with hostile or broken input. It is a stand-in for a misbehaving server, which the
 * real PDS cannot be made to be.
 *
 * Point a node's `PLC_URL` at the proxy: DID documents it serves name the proxy as the account's
 * PDS, so every PDS request of the node goes through it. Everything is passed through unchanged
 * until a tamper mode is set; then `com.atproto.sync.getRepo` answers are altered.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decode as cborDecode } from '@atproto/lex-cbor'
import { BlockMap, blocksToCarFile, readCarWithRoot } from '@atproto/repo'

/** How getRepo answers are altered. */
export type TamperMode =
  /** The CAR cut off half-way. */
  | 'truncate'
  /** One record block's bytes changed, its CID kept. */
  | 'corrupt-block'
  /** The commit's signature bytes changed (the commit re-encoded under its new CID). */
  | 'bad-signature'
  /** The repo of another account served instead (set `otherDid`). */
  | 'other-did'
  /** The oldest full CAR seen for this DID served instead (its rev is behind the current one). */
  | 'replay-old'

export interface TamperingProxy {
  /** The proxy's own URL, `http://localhost:PORT`; use it as PLC_URL. */
  readonly url: string
  /** Current mode; null passes everything through. */
  mode: TamperMode | null
  /** For 'other-did': whose repo to serve. */
  otherDid: string | null
  /** Bytes of getRepo bodies sent to clients, per DID (what a node received on the wire). */
  readonly getRepoBytes: Map<string, number>
  /** getRepo requests seen, with their `since` parameter. */
  readonly getRepoRequests: Array<{ did: string; since: string | null }>
  close(): Promise<void>
}

export interface TamperingProxyInit {
  pdsUrl: string
  plcUrl: string
}

/** Starts the proxy on 127.0.0.1 (a free port). */
export async function startTamperingProxy(init: TamperingProxyInit): Promise<TamperingProxy> {
  const oldestCar = new Map<string, Uint8Array>()
  let url = ''
  const proxy: TamperingProxy = {
    get url() {
      return url
    },
    mode: null,
    otherDid: null,
    getRepoBytes: new Map(),
    getRepoRequests: [],
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const reqUrl = new URL(req.url ?? '/', 'http://proxy')
    const path = decodeURIComponent(reqUrl.pathname)
    // PLC: DID documents name the proxy as the PDS.
    if (/^\/did:plc:[a-z2-7]+$/.test(path)) {
      const upstream = await fetch(init.plcUrl + reqUrl.pathname)
      const text = await upstream.text()
      const body = upstream.ok ? text.replaceAll(JSON.stringify(init.pdsUrl).slice(1, -1), url) : text
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' })
      res.end(body)
      return
    }
    if (path.startsWith('/did:')) return forward(init.plcUrl, req, res)
    if (reqUrl.pathname === '/xrpc/com.atproto.sync.getRepo') {
      const did = reqUrl.searchParams.get('did') ?? ''
      proxy.getRepoRequests.push({ did, since: reqUrl.searchParams.get('since') })
      let car = await fetchCar(init.pdsUrl, reqUrl.search)
      if (car.status !== 200) {
        res.writeHead(car.status, { 'content-type': 'application/json' })
        res.end(car.body)
        return
      }
      if (!reqUrl.searchParams.has('since') && !oldestCar.has(did)) oldestCar.set(did, car.body)
      let body = car.body
      switch (proxy.mode) {
        case 'truncate':
          body = body.subarray(0, Math.floor(body.length / 2))
          break
        case 'corrupt-block':
          body = await corruptRecordBlock(body)
          break
        case 'bad-signature':
          body = await breakSignature(body)
          break
        case 'other-did': {
          car = await fetchCar(init.pdsUrl, `?did=${encodeURIComponent(proxy.otherDid ?? '')}`)
          body = car.body
          break
        }
        case 'replay-old':
          body = oldestCar.get(did) ?? body
          break
        case null:
          break
      }
      proxy.getRepoBytes.set(did, (proxy.getRepoBytes.get(did) ?? 0) + body.length)
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': String(body.length) })
      res.end(body)
      return
    }
    return forward(init.pdsUrl, req, res)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'ProxyError', message: String(err) }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://localhost:${(server.address() as AddressInfo).port}`
  return proxy
}

async function fetchCar(pdsUrl: string, search: string): Promise<{ status: number; body: Uint8Array }> {
  const res = await fetch(`${pdsUrl}/xrpc/com.atproto.sync.getRepo${search}`)
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) }
}

async function forward(base: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || ['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) continue
    headers.set(k, Array.isArray(v) ? v.join(', ') : v)
  }
  const upstream = await fetch(base + (req.url ?? '/'), {
    method: req.method,
    headers,
    body: chunks.length > 0 && req.method !== 'GET' && req.method !== 'HEAD' ? Buffer.concat(chunks) : undefined,
    redirect: 'manual',
  })
  const out: Record<string, string> = {}
  upstream.headers.forEach((v, k) => {
    if (!['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k)) out[k] = v
  })
  const body = Buffer.from(await upstream.arrayBuffer())
  res.writeHead(upstream.status, out)
  res.end(body)
}

/** Changes one byte of a record (leaf) block, keeping its CID: the block no longer hashes to it. */
async function corruptRecordBlock(car: Uint8Array): Promise<Uint8Array> {
  const { root, blocks } = await readCarWithRoot(car)
  const out = new BlockMap()
  let done = false
  for (const [cid, bytes] of blocks) {
    // Records are the blocks that carry a $type; commit and MST nodes do not.
    if (!done && !cid.equals(root) && new TextDecoder('utf-8', { fatal: false }).decode(bytes).includes('$type')) {
      const changed = new Uint8Array(bytes)
      changed[changed.length - 1] = changed[changed.length - 1]! ^ 0x01
      out.set(cid, changed)
      done = true
    } else {
      out.set(cid, bytes)
    }
  }
  if (!done) throw new Error('tampering proxy: no record block to corrupt')
  return blocksToCarFile(root, out)
}

/** Flips a bit of the commit signature and re-encodes the commit under its new CID. */
async function breakSignature(car: Uint8Array): Promise<Uint8Array> {
  const { root, blocks } = await readCarWithRoot(car)
  const commit = cborDecode(blocks.get(root)!) as Record<string, unknown> & { sig: Uint8Array }
  const sig = new Uint8Array(commit.sig)
  sig[0] = sig[0]! ^ 0x01
  const out = new BlockMap()
  for (const [cid, bytes] of blocks) if (!cid.equals(root)) out.set(cid, bytes)
  const newRoot = await out.add({ ...commit, sig } as never)
  return blocksToCarFile(newRoot, out)
}

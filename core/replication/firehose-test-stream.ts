/**
 * Test-only: a TAMPERING STAND-IN for a subscribeRepos stream. It relays the real local PDS's
 * stream frame by frame (a real PDS cannot be made to send forged or missing frames), and lets a
 * test drop, alter or inject frames, or cut every connection. Also builders of forged `#commit`
 * frames from real ones.
 */
import type { AddressInfo } from 'node:net'
import { encode } from '@atproto/lex-cbor'
import { BlockMap, blocksToCarFile, readCarWithRoot } from '@atproto/repo'
import { decode as cborDecode } from '@atproto/lex-cbor'
import type { Keypair } from '@atproto/crypto'
import type { Cid } from '@atproto/lex-data'
import WebSocket, { WebSocketServer } from 'ws'
import { decodeFrame } from './firehose-frame.js'

/** What to do with an upstream frame: pass it (`undefined`), drop it (`[]`), or send these instead. */
export type FrameTransform = (frame: Uint8Array) => Uint8Array[] | undefined

export interface TestStream {
  /** `ws://127.0.0.1:PORT/xrpc/com.atproto.sync.subscribeRepos`: use as FIREHOSE_URL. */
  readonly url: string
  /** Applied to every upstream frame; null passes all. */
  transform: FrameTransform | null
  /** Cursors clients asked with, in order of connection (null: none). */
  readonly connections: Array<number | null>
  /** Upstream frames relayed so far (after transform). */
  readonly relayed: Uint8Array[]
  /** Sends a frame to every connected client. */
  inject(frame: Uint8Array): void
  /** Closes every client connection (they are expected to reconnect). */
  dropConnections(): void
  /** The connections open now go silent: kept open, relaying nothing, ignoring pings (a stalled stream). New connections are served. */
  stall(): void
  close(): Promise<void>
}

/** Starts a stand-in in front of `upstream` (the PDS's `ws://…/xrpc/com.atproto.sync.subscribeRepos`). */
export async function startTestStream(upstream: string): Promise<TestStream> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const clients = new Set<WebSocket>()
  const stalled = new WeakSet<WebSocket>()
  const stream: TestStream = {
    url: `ws://127.0.0.1:${port}/xrpc/com.atproto.sync.subscribeRepos`,
    transform: null,
    connections: [],
    relayed: [],
    inject(frame) {
      for (const c of clients) c.send(frame)
    },
    dropConnections() {
      for (const c of clients) c.terminate()
    },
    stall() {
      for (const c of clients) stalled.add(c)
    },
    async close() {
      for (const c of clients) c.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('connection', (client, req) => {
    const cursor = new URL(req.url ?? '/', 'ws://x').searchParams.get('cursor')
    stream.connections.push(cursor === null ? null : Number(cursor))
    clients.add(client)
    const up = new WebSocket(`${upstream}${cursor === null ? '' : `?cursor=${cursor}`}`)
    client.on('ping', (data) => {
      if (!stalled.has(client)) client.pong(data)
    })
    up.on('message', (data: Buffer) => {
      if (stalled.has(client) || client.readyState !== WebSocket.OPEN) return
      const frame = new Uint8Array(data)
      const out = stream.transform?.(frame) ?? [frame]
      for (const f of out) {
        stream.relayed.push(f)
        client.send(f)
      }
    })
    up.on('close', () => client.terminate())
    up.on('error', () => client.terminate())
    client.on('close', () => {
      clients.delete(client)
      up.terminate()
    })
  })
  return stream
}

/** A frame: header and body as DAG-CBOR, back to back. */
export function encodeFrame(t: string, body: Record<string, unknown>): Uint8Array {
  return Buffer.concat([encode({ op: 1, t } as never), encode(body as never)])
}

/** The body of a `#commit` frame, decoded (CIDs and bytes as values). */
export function commitBody(frame: Uint8Array): Record<string, unknown> | null {
  const { header, body } = decodeFrame(frame)
  return header.t === '#commit' ? body : null
}

/**
 * Re-signs the commit of a `#commit` body with `key` after changing its fields, and rebuilds the
 * body's blocks and `commit`/`rev` to match: a well-formed commit a forger could send.
 */
export async function resignCommit(body: Record<string, unknown>, key: Keypair, change: { did?: string; rev?: string } = {}): Promise<Record<string, unknown>> {
  const car = await readCarWithRoot(body.blocks as Uint8Array)
  const commit = cborDecode(car.blocks.get(car.root)!) as Record<string, unknown>
  const { sig: _sig, ...unsigned } = commit
  const next = { ...unsigned, ...(change.did ? { did: change.did } : {}), ...(change.rev ? { rev: change.rev } : {}) }
  const sig = await key.sign(encode(next as never))
  const blocks = new BlockMap()
  for (const [cid, bytes] of car.blocks) if (!cid.equals(car.root)) blocks.set(cid, bytes)
  const root: Cid = await blocks.add({ ...next, sig } as never)
  return { ...body, blocks: await blocksToCarFile(root, blocks), commit: root, rev: next.rev }
}

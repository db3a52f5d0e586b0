/**
 * Helpers for replication tests against the real local network (`core/testing`): resolving an
 * account's identity through the network's PLC, listing what the PDS holds, counting the bytes
 * of HTTP bodies, bulk writes, and collecting streams.
 */
import { AtpAgent } from '@atproto/api'
import { DidResolver } from '@atproto/identity'
import type { TestAccount } from '../testing/builders.js'
import type { TestNetwork } from '../testing/network.js'
import type { P2pdsNode } from '../node.js'
import type { AccountIdentity } from '../storage/types.js'
import type { FetchLike } from './pds-client.js'

/** The account's identity as resolution gives it: PDS from its DID document, key from PLC. */
export async function resolveIdentity(net: Pick<TestNetwork, 'plcUrl'>, did: string): Promise<AccountIdentity> {
  // DidResolver refuses plain-http PLC URLs with its default (SSRF-safe) fetch; the test network is http.
  const resolver = new DidResolver({ plcUrl: net.plcUrl, fetch: globalThis.fetch })
  const data = await resolver.resolveAtprotoData(did)
  return { did, handle: data.handle, pdsUrl: data.pds, signingKey: data.signingKey }
}

/** Every record the PDS lists for the account, as `collection/rkey` → CID, over all collections. */
export async function pdsRecords(pdsUrl: string, did: string): Promise<Map<string, string>> {
  const agent = new AtpAgent({ service: pdsUrl })
  const { data } = await agent.com.atproto.repo.describeRepo({ repo: did })
  const out = new Map<string, string>()
  for (const collection of data.collections) {
    let cursor: string | undefined
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
      for (const r of page.data.records) out.set(r.uri.split('/').slice(-2).join('/'), r.cid)
      cursor = page.data.records.length === 100 ? page.data.cursor : undefined
    } while (cursor !== undefined)
  }
  return out
}

/** A fetch that counts the bytes of every response body read through it. */
export function countingFetch(inner: FetchLike = globalThis.fetch): FetchLike & { bytes: number; requests: string[] } {
  const counter = Object.assign(
    async (input: string | URL, init?: RequestInit): Promise<Response> => {
      counter.requests.push(String(input))
      const res = await inner(input, init)
      if (res.body === null) return res
      const counted = res.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            counter.bytes += chunk.byteLength
            controller.enqueue(chunk)
          },
        }),
      )
      return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers })
    },
    { bytes: 0, requests: [] as string[] },
  )
  return counter
}

/** Creates `count` like records in one go per 50 (`applyWrites`), liking `subject`. */
export async function addLikes(account: TestAccount, count: number, subject: { uri: string; cid: string }): Promise<void> {
  for (let i = 0; i < count; i += 50) {
    const writes = Array.from({ length: Math.min(50, count - i) }, (_, k) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: 'app.bsky.feed.like',
      value: { $type: 'app.bsky.feed.like', subject, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i + k)).toISOString() },
    }))
    await account.agent.com.atproto.repo.applyWrites({ repo: account.did, writes })
  }
}

/** Posts `count` short text posts; returns their URIs. */
export async function addPosts(account: TestAccount, count: number, text = 'post'): Promise<string[]> {
  const uris: string[] = []
  for (let i = 0; i < count; i++) {
    const res = await account.agent.com.atproto.repo.createRecord({
      repo: account.did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: `${text} ${i}`, createdAt: new Date().toISOString() },
    })
    uris.push(res.data.uri)
  }
  return uris
}

/** All chunks of a stream, concatenated. */
export async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** The raw CAR the PDS serves for `getRepo` (optionally `since`), fetched directly. */
export async function fetchRepoCar(pdsUrl: string, did: string, since?: string): Promise<Buffer> {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', pdsUrl)
  url.searchParams.set('did', did)
  if (since !== undefined) url.searchParams.set('since', since)
  const res = await fetch(url)
  if (!res.ok) throw new Error(`getRepo answered ${res.status}`)
  return Buffer.from(await res.arrayBuffer())
}

/** Polls `fn` every 50 ms until it gives something other than undefined or false. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Every record a node holds for the account at its head, as `collection/rkey` → CID (through the API). */
export async function heldRecords(node: P2pdsNode, did: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const c of await node.api.records.collections({ did })) {
    let cursor: string | undefined
    do {
      const page = await node.api.records.list({ did, collection: c.nsid, cursor, limit: 500 })
      for (const r of page.records) out.set(`${r.collection}/${r.rkey}`, r.cid)
      cursor = page.cursor ?? undefined
    } while (cursor !== undefined)
  }
  return out
}

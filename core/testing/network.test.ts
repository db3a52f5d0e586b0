import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, type AddressInfo, type Server } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSampleAccounts, recordCounts, type SampleAccounts, type UploadedBlob } from './builders.js'
import { isPng } from './images.js'
import { LOOPBACK, startTestNetwork, type TestNetwork } from './network.js'

describe('startTestNetwork + createSampleAccounts', () => {
  let net: TestNetwork
  let sample: SampleAccounts
  let reader: AtpAgent

  beforeAll(async () => {
    let t = Date.now()
    net = await startTestNetwork()
    const startMs = Date.now() - t
    t = Date.now()
    sample = await createSampleAccounts(net)
    const sampleMs = Date.now() - t
    console.log(`network start ${startMs} ms, sample accounts ${sampleMs} ms`)
    // Read with an agent that is not logged in: what a backup node sees.
    reader = new AtpAgent({ service: net.pdsUrl })
  })

  afterAll(async () => {
    await net?.close()
  })

  it('gives URLs in the form dev-env and OAuth expect, and an env for a node', () => {
    expect(net.pdsUrl).toBe(`http://localhost:${net.pdsPort}`)
    expect(net.plcUrl).toBe(`http://localhost:${net.plcPort}`)
    expect(net.pdsPort).not.toBe(net.plcPort)
    expect(net.handleDomain).toBe('.test')
    expect(net.env).toEqual({
      PLC_URL: net.plcUrl,
      HANDLE_RESOLVER_URL: net.pdsUrl,
      FIREHOSE_URL: `ws://localhost:${net.pdsPort}/xrpc/com.atproto.sync.subscribeRepos`,
      ALLOW_PRIVATE_NETWORK: 'true',
    })
  })

  it('binds the PDS and PLC to 127.0.0.1 only', async () => {
    for (const server of [net.pds.server.server, net.plc.server.server] as Array<Server | undefined>) {
      const address = server?.address() as AddressInfo | null | undefined
      expect(address?.address).toBe(LOOPBACK)
    }
    // Where the machine has another address, the ports are closed on it.
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i !== undefined && !i.internal && i.family === 'IPv4')
      .map((i) => i!.address)
    for (const host of others) {
      for (const port of [net.pdsPort, net.plcPort]) expect(await canConnect(host, port)).toBe(false)
    }
  })

  it('creates the three accounts, resolvable by handle and in PLC with the PDS as endpoint', async () => {
    expect(sample.all.map((a) => a.handle)).toEqual(['alice.test', 'bob.test', 'carol.test'])
    for (const account of sample.all) {
      const res = await fetch(`${net.env.HANDLE_RESOLVER_URL}/xrpc/com.atproto.identity.resolveHandle?handle=${account.handle}`)
      expect(await res.json()).toEqual({ did: account.did })
      const doc = (await (await fetch(`${net.plcUrl}/${account.did}`)).json()) as { service: Array<{ id: string; serviceEndpoint: string }> }
      expect(doc.service.find((s) => s.id === '#atproto_pds')?.serviceEndpoint).toBe(net.pdsUrl)
    }
  })

  it('has every record the builders reported, with the same CIDs', async () => {
    for (const account of sample.all) {
      const counts = recordCounts(account.created)
      expect(counts['app.bsky.feed.post']).toBeGreaterThanOrEqual(20)
      for (const [collection, count] of Object.entries(counts)) {
        const listed = await listAll(reader, account.did, collection)
        expect(listed.length, `${account.handle} ${collection}`).toBe(count)
      }
      const posts = new Map((await listAll(reader, account.did, 'app.bsky.feed.post')).map((r) => [r.uri, r.cid]))
      for (const p of [...account.created.posts, ...account.created.replies]) expect(posts.get(p.uri)).toBe(p.cid)
    }
    const { alice, bob, carol } = sample
    expect(alice.created.follows.map((f) => f.subject).sort()).toEqual([bob.did, carol.did].sort())
    // Threads span accounts: some of alice's replies answer bob's replies to her own posts.
    const bobReplies = new Set(bob.created.replies.map((r) => r.uri))
    expect(alice.created.replies.some((r) => r.parent !== undefined && bobReplies.has(r.parent.uri))).toBe(true)
    expect(carol.created.likes.length).toBeGreaterThan(0)
  })

  it('stores posts with images and alt text as app.bsky.embed.images', async () => {
    const post = sample.carol.created.posts.find((p) => p.images.length >= 2)
    expect(post).toBeDefined()
    const rkey = post!.uri.split('/').pop()!
    const res = await reader.com.atproto.repo.getRecord({ repo: sample.carol.did, collection: 'app.bsky.feed.post', rkey })
    const embed = (res.data.value as { embed: { $type: string; images: Array<{ alt: string; image: { ref: { toString(): string } } }> } }).embed
    expect(embed.$type).toBe('app.bsky.embed.images')
    expect(embed.images.map((i) => i.alt)).toEqual(post!.alts)
    expect(embed.images.map((i) => i.image.ref.toString())).toEqual(post!.images.map((b) => b.cid))
  })

  it('stores the profile with avatar and banner PNGs byte-identical to the upload', async () => {
    for (const account of sample.all) {
      const profile = account.created.profile!
      const res = await reader.com.atproto.repo.getRecord({ repo: account.did, collection: 'app.bsky.actor.profile', rkey: 'self' })
      expect(res.data.cid).toBe(profile.cid)
      const value = res.data.value as { displayName: string; avatar: { ref: unknown }; banner: { ref: unknown } }
      expect(value.displayName).toBe(profile.displayName)
      expect(String(value.avatar.ref)).toBe(profile.avatar!.cid)
      expect(String(value.banner.ref)).toBe(profile.banner!.cid)
      for (const blob of [profile.avatar!, profile.banner!]) {
        const bytes = await getBlob(reader, account.did, blob)
        expect(isPng(bytes)).toBe(true)
        expect(Buffer.from(bytes).equals(Buffer.from(blob.bytes))).toBe(true)
      }
    }
  })

  it('lists exactly the uploaded blobs, each distinct and served byte for byte', async () => {
    const allCids = new Set<string>()
    for (const account of sample.all) {
      const listed: string[] = []
      let cursor: string | undefined
      do {
        const res = await reader.com.atproto.sync.listBlobs({ did: account.did, cursor, limit: 500 })
        listed.push(...res.data.cids)
        cursor = res.data.cids.length > 0 ? res.data.cursor : undefined
      } while (cursor !== undefined)
      expect(listed.sort()).toEqual(account.created.blobs.map((b) => b.cid).sort())
      for (const blob of account.created.blobs) {
        expect(allCids.has(blob.cid)).toBe(false)
        allCids.add(blob.cid)
        const bytes = await getBlob(reader, account.did, blob)
        expect(Buffer.from(bytes).equals(Buffer.from(blob.bytes))).toBe(true)
      }
    }
    expect(allCids.size).toBeGreaterThanOrEqual(20)
  })

  it('serves the firehose at env.FIREHOSE_URL (ws://localhost)', async () => {
    const ws = new WebSocket(`${net.env.FIREHOSE_URL}?cursor=0`)
    try {
      const first = await new Promise<unknown>((resolve, reject) => {
        ws.binaryType = 'arraybuffer'
        ws.onmessage = (e) => resolve(e.data)
        ws.onerror = () => reject(new Error('firehose connection failed'))
      })
      expect(first).toBeInstanceOf(ArrayBuffer)
    } finally {
      ws.close()
    }
  })
})

describe('TestNetwork.close', () => {
  it('stops both servers, removes the temp folder and leaves TMPDIR as it was', async () => {
    const root = await mkdtemp(join(tmpdir(), 'p2pds-net-test-'))
    const savedTmpdir = process.env.TMPDIR
    try {
      const net = await startTestNetwork({ tmpRoot: root })
      expect(process.env.TMPDIR).toBe(savedTmpdir)
      expect(net.tmpDir.startsWith(root)).toBe(true)
      expect(readdirSync(net.tmpDir).length).toBeGreaterThan(0) // the PDS's databases
      expect(await canConnect(LOOPBACK, net.pdsPort)).toBe(true)
      await net.close()
      await net.close() // idempotent
      expect(existsSync(net.tmpDir)).toBe(false)
      expect(readdirSync(root)).toEqual([])
      expect(await canConnect(LOOPBACK, net.pdsPort)).toBe(false)
      expect(await canConnect(LOOPBACK, net.plcPort)).toBe(false)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})

async function listAll(agent: AtpAgent, repo: string, collection: string): Promise<Array<{ uri: string; cid: string }>> {
  const out: Array<{ uri: string; cid: string }> = []
  let cursor: string | undefined
  do {
    const res = await agent.com.atproto.repo.listRecords({ repo, collection, limit: 100, cursor })
    out.push(...res.data.records.map((r) => ({ uri: r.uri, cid: r.cid })))
    cursor = res.data.records.length > 0 ? res.data.cursor : undefined
  } while (cursor !== undefined)
  return out
}

async function getBlob(agent: AtpAgent, did: string, blob: UploadedBlob): Promise<Uint8Array> {
  const res = await agent.com.atproto.sync.getBlob({ did, cid: blob.cid })
  expect(res.headers['content-type']).toBe(blob.mimeType)
  return res.data
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

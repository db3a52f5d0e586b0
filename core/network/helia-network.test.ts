// HeliaNetworkService on loopback TCP with real SQLite block stores: the conformance suite, the
// persisted PeerID, bitswap serving the same `blocks` table (no second copy), and announcing.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as raw from 'multiformats/codecs/raw'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../storage/database.js'
import { migrate } from '../storage/migrations.js'
import { SqliteBlockStore } from '../storage/sqlite-block-store.js'
import { HeliaNetworkService } from './helia-network.js'
import { describeNetworkService } from './network-service.conformance.js'
import { loadOrCreatePeerKey, PEER_KEY_FILE } from './peer-key.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

async function makeService(opts: { networking?: boolean } = {}): Promise<{ service: HeliaNetworkService; blocks: SqliteBlockStore; db: Database; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-helia-'))
  const db = openDatabase(join(dir, 'pds.db'))
  migrate(db)
  const blocks = new SqliteBlockStore({ db })
  const service = new HeliaNetworkService({ blocks, privateKey: await loadOrCreatePeerKey(dir), listenAddrs: ['/ip4/127.0.0.1/tcp/0'], networking: opts.networking })
  await service.start()
  cleanup.push(async () => {
    await service.stop()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { service, blocks, db, dir }
}

describeNetworkService('HeliaNetworkService (libp2p over loopback TCP)', async () => {
  const [a, b] = [await makeService(), await makeService()]
  return { a: a.service, b: b.service, bTarget: { peerId: b.service.peerId, multiaddrs: b.service.info().multiaddrs }, close: async () => undefined }
})

async function rawBlock(text: string): Promise<{ cid: string; bytes: Uint8Array }> {
  const bytes = new TextEncoder().encode(text)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString(), bytes }
}

describe('HeliaNetworkService', () => {
  it('keeps its key in the data dir (0600): the same PeerID after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-key-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    const first = (await loadOrCreatePeerKey(dir)).publicKey.toString()
    expect(statSync(join(dir, PEER_KEY_FILE)).mode & 0o777).toBe(0o600)
    expect((await loadOrCreatePeerKey(dir)).publicKey.toString()).toBe(first)
  })

  it('serves blocks of the SQLite store over bitswap; the fetcher stores them once, in its own table', async () => {
    const a = await makeService()
    const b = await makeService()
    const block = await rawBlock('held by a')
    await a.blocks.putBlock(block.cid, block.bytes)
    const rowsBefore = a.db.prepare('SELECT COUNT(*) AS n FROM blocks').get() as { n: number }
    await b.service.connect({ peerId: a.service.peerId, multiaddrs: a.service.info().multiaddrs })
    expect(b.service.isConnected(a.service.peerId)).toBe(true)
    const bytes = await b.service.getBlock(block.cid, { timeoutMs: 5000 })
    expect(Buffer.from(bytes).equals(Buffer.from(block.bytes))).toBe(true)
    expect(await b.blocks.hasBlock(block.cid)).toBe(true)
    expect((a.db.prepare('SELECT COUNT(*) AS n FROM blocks').get() as { n: number }).n).toBe(rowsBefore.n)
    // A block no one has: a clear, coded failure once the time is up.
    const missing = await rawBlock('held by nobody')
    await expect(b.service.getBlock(missing.cid, { timeoutMs: 500 })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' })
  }, 30_000)

  it('announces without failing when no DHT server is reachable (best effort)', async () => {
    const a = await makeService()
    const block = await rawBlock('announce me')
    const result = await a.service.provide([block.cid])
    expect(result.provided + result.failed).toBe(1)
  }, 30_000)

  it('with networking off: no listener, signing still works, requests refuse with a clear error', async () => {
    const a = await makeService({ networking: false })
    expect(a.service.info()).toMatchObject({ networking: false, multiaddrs: [], connections: 0 })
    expect((await a.service.sign(new Uint8Array([1]))).length).toBeGreaterThan(0)
    await expect(a.service.request({ multiaddrs: ['/ip4/127.0.0.1/tcp/1'] }, '/x/1.0.0', new Uint8Array())).rejects.toMatchObject({ code: 'ERR_NETWORK_DISABLED' })
  })

  it('refuses an answer from a PeerID other than the one dialled', async () => {
    const a = await makeService()
    const b = await makeService()
    const c = await makeService()
    await expect(a.service.request({ peerId: c.service.peerId, multiaddrs: b.service.info().multiaddrs }, '/x/1.0.0', new Uint8Array())).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_PEER_(PROTOCOL|UNREACHABLE)/),
    })
  }, 30_000)
})

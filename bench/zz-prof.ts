// Temporary: where does peer-first sync time go?
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { HeliaNetworkService } from '../core/network/helia-network.js'
import { peerFirstSync, serveRepos } from '../core/replication/peer-sync-repo.js'
import { exportCar } from '../core/replication/export.js'
import { syncRepo } from '../core/replication/repo-sync.js'
import { resolveIdentity } from '../core/replication/test-helpers.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import { startTestNetwork } from '../core/testing/network.js'
import { generateRepo, startRepoServer } from './sync-fixture.js'

const RECORDS = Number(process.env.N ?? 20000)
const net = await startTestNetwork()
const server = await startRepoServer()
const fresh = () => { const d = mkdtempSync(join(tmpdir(), 'prof-')); const db = openDatabase(join(d, 'pds.db')); migrate(db); return db }
const svc = async (db: any) => { const s = new HeliaNetworkService({ blocks: createSqliteStorage(db).blocks, privateKey: await generateKeyPair('Ed25519'), listenAddrs: ['/ip4/127.0.0.1/tcp/0'] }); await s.start(); return s }
const repo = await generateRepo(net, server.url, RECORDS, 'prof')
server.add(repo)
const identity = await resolveIdentity(net, repo.did)
const hdb = fresh(); const holder = createSqliteStorage(hdb)
await syncRepo(holder, identity, { mode: 'full' })
const hnet = await svc(hdb); await serveRepos(hnet, holder)
await hnet.handleStream('/prof/mem/1.0.0', async () => (async function* () { for (let i = 0; i < repo.car.length; i += 65536) yield repo.car.subarray(i, i + 65536) })())
const peer = { peerId: hnet.peerId, multiaddrs: hnet.info().multiaddrs }
const t = async (label: string, fn: () => Promise<unknown>) => { const s = performance.now(); await fn(); console.log(label, ((performance.now() - s) / 1000).toFixed(2), 's') }
const fdb = fresh(); const fnet = await svc(fdb)
for (let r = 0; r < 2; r++) {
  await t('export drain', async () => { let n = 0; for await (const c of (await exportCar(holder, repo.did, { order: process.env.ORDER as 'key' })).car) n += c.length })
  await t('stream mem car', async () => { const s = await fnet.openStream(peer, '/prof/mem/1.0.0', new Uint8Array(1)); for await (const c of s.chunks) void c })
  await t('stream export car', async () => { const s = await fnet.openStream(peer, '/p2pds/repo/1.0.0', new TextEncoder().encode(JSON.stringify({ did: repo.did }))); for await (const c of s.chunks) void c })
  await t('http sync', async () => { const db = fresh(); await syncRepo(createSqliteStorage(db), identity, { mode: 'full' }) })
  await t('peer sync', async () => { const db = fresh(); await peerFirstSync(createSqliteStorage(db), identity, { network: fnet, peers: [peer], fetch: globalThis.fetch, mode: 'full' }) })
}
console.log('car MB', (repo.car.length / 1048576).toFixed(1))
await fnet.stop(); await hnet.stop(); await server.close(); await net.close()
process.exit(0)

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportCar } from '../core/replication/export.js'
import { syncRepo } from '../core/replication/repo-sync.js'
import { resolveIdentity } from '../core/replication/test-helpers.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import { startTestNetwork } from '../core/testing/network.js'
import { generateRepo, startRepoServer } from './sync-fixture.js'
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
const net = await startTestNetwork()
const server = await startRepoServer()
const repo = await generateRepo(net, server.url, 20000, 'prof2')
server.add(repo)
const identity = await resolveIdentity(net, repo.did)
const d = mkdtempSync(join(tmpdir(), 'prof-')); const db = openDatabase(join(d, 'pds.db')); migrate(db)
const holder = createSqliteStorage(db)
await syncRepo(holder, identity, { mode: 'full' })
const drain = async () => { let n = 0; for await (const c of (await exportCar(holder, repo.did, { order: process.env.ORDER as 'key' })).car) n += c.length; return n }
await drain()
const s = new Session(); s.connect(); await s.post('Profiler.enable'); await s.post('Profiler.start')
const t = performance.now(); await drain(); await drain(); console.log('2 drains', performance.now() - t)
const { profile } = await s.post('Profiler.stop'); writeFileSync('/tmp/export.cpuprofile', JSON.stringify(profile))
console.log('blocks', db.prepare('select count(*) n from block_refs where did=?').get(repo.did))
await server.close(); await net.close(); process.exit(0)

// Child process of the sync benchmark: one full sync of the account in P2PDS_BENCH_SYNC_ACCOUNT
// (JSON AccountIdentity) into a fresh pds.db, with the RSS sampled every 20 ms. Run alone, so the
// generator's and the server's memory (in the parent) does not count. Prints one JSON line:
// {"peak_rss":bytes,"start_rss":bytes,"seconds":…,"records":…}.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { syncRepo } from '../core/replication/repo-sync.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import type { AccountIdentity } from '../core/storage/types.js'
import { sampleRss } from './sync-fixture.js'

const account = JSON.parse(process.env.P2PDS_BENCH_SYNC_ACCOUNT ?? 'null') as AccountIdentity | null
if (account === null) {
  console.error('sync-rss: P2PDS_BENCH_SYNC_ACCOUNT is not set (this runs as a child of sync.bench.js)')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-sync-'))
const db = openDatabase(join(dir, 'pds.db'))
try {
  migrate(db)
  const storage = createSqliteStorage(db)
  globalThis.gc?.()
  const startRss = process.memoryUsage.rss()
  const rss = sampleRss(20)
  const t = performance.now()
  const summary = await syncRepo(storage, account, { mode: 'full' })
  const seconds = (performance.now() - t) / 1000
  const peak = await rss.stop()
  console.log(JSON.stringify({ peak_rss: peak, start_rss: startRss, seconds, records: summary.creates }))
} finally {
  db.close()
  rmSync(dir, { recursive: true, force: true })
}

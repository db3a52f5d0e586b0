// What indexing one account's records costs: the first time (every record block decoded for its
// $type) and a recompute after a change (types already known, counted in SQL), against a baseline
// in the same process: counting the same records by collection in SQL alone. Prints
// {"bench":"lexicon-index","records":N,"first_index_ms":…,"reindex_ms":…,"collection_count_ms":…,…}.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { cidForLex, encode } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-data'
import { SqliteLexiconIndex } from '../core/replication/lexicon-index.js'
import { openDatabase } from '../core/storage/database.js'
import { migrate } from '../core/storage/migrations.js'

const RECORDS = Number(process.env.BENCH_RECORDS ?? 20_000)
const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow', 'app.bsky.feed.repost']
const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-'))
const db = openDatabase(join(dir, 'pds.db'))
try {
  migrate(db)
  db.prepare('INSERT INTO accounts (did, pds_url, signing_key, added_at, head_cid) VALUES (?, ?, ?, ?, ?)').run(did, 'https://pds.example', 'did:key:z', 0, 'h')
  const putBlock = db.prepare('INSERT OR IGNORE INTO blocks (cid, bytes, size) VALUES (?, ?, ?)')
  const putRecord = db.prepare('INSERT INTO records (did, collection, rkey, cid) VALUES (?, ?, ?, ?)')
  const rows: Array<[string, string, string, Uint8Array]> = []
  for (let i = 0; i < RECORDS; i++) {
    const collection = COLLECTIONS[i % COLLECTIONS.length]!
    const value = { $type: collection, text: `record ${i} with some text to decode, as a post has`, createdAt: new Date(i * 1000).toISOString() }
    rows.push([collection, `r${i}`, (await cidForLex(value as LexValue)).toString(), encode(value as LexValue)])
  }
  db.transaction(() => {
    for (const [collection, rkey, cid, bytes] of rows) {
      putBlock.run(cid, bytes, bytes.length)
      putRecord.run(did, collection, rkey, cid)
    }
  })()
  const index = new SqliteLexiconIndex({ db })
  const count = db.prepare('SELECT collection, COUNT(*) FROM records WHERE did = ? GROUP BY collection')
  // First index: every record block decoded once (what a new account costs). The event loop's
  // longest stall shows that the work is sliced (pages of 500 records).
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  let t = performance.now()
  await index.indexAccount(did)
  const firstMs = performance.now() - t
  delay.disable()
  count.all(did)
  // Recomputes after a change: only new records are decoded (here none); types come from memory.
  const runs = 5
  t = performance.now()
  for (let i = 0; i < runs; i++) await index.indexAccount(did)
  const indexMs = (performance.now() - t) / runs
  t = performance.now()
  for (let i = 0; i < runs; i++) count.all(did)
  const countMs = (performance.now() - t) / runs
  console.log(
    JSON.stringify({
      bench: 'lexicon-index',
      records: RECORDS,
      first_index_ms: Math.round(firstMs * 10) / 10,
      reindex_ms: Math.round(indexMs * 10) / 10,
      max_event_loop_stall_ms: Math.round(delay.max / 1e6),
      collection_count_ms: Math.round(countMs * 10) / 10,
      ratio_reindex_vs_count: Math.round((indexMs / countMs) * 10) / 10,
      ratio_first_vs_count: Math.round((firstMs / countMs) * 10) / 10,
    }),
  )
} finally {
  db.close()
  rmSync(dir, { recursive: true, force: true })
}

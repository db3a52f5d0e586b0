// What the live settings cost on the sync path, each against a baseline in the same process:
// - blocks inserted with the storage-usage triggers of migration 5 vs the same schema without them
//   (the storage cap reads usage in O(1) instead of summing the table);
// - a body read through the token bucket with no cap (the node now always wraps PDS fetches so a
//   cap set later applies at once) vs the same body read directly.
// Prints {"bench":"settings",...}.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { throttle, TokenBucket } from '../core/network/bandwidth.js'
import { openDatabase } from '../core/storage/database.js'
import { migrate } from '../core/storage/migrations.js'

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 100_000)
const BODY_MB = Number(process.env.BENCH_BODY_MB ?? 256)
const ROUNDS = 3

const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-settings-'))
try {
  const rows = Array.from({ length: BLOCKS }, () => {
    const bytes = randomBytes(1024)
    return { cid: createHash('sha256').update(bytes).digest('hex'), bytes }
  }).sort((a, b) => (a.cid < b.cid ? -1 : 1))

  const insertMs = (triggers: boolean, round: number): number => {
    const db = openDatabase(join(dir, `${triggers ? 'with' : 'without'}-${round}.db`))
    migrate(db)
    if (!triggers) db.exec('DROP TRIGGER storage_usage_insert; DROP TRIGGER storage_usage_delete; DROP TRIGGER storage_usage_update;')
    const insert = db.prepare('INSERT INTO blocks (cid, bytes, size) VALUES (?, ?, ?) ON CONFLICT (cid) DO NOTHING')
    const t = performance.now()
    db.transaction(() => {
      for (const r of rows) insert.run(r.cid, r.bytes, r.bytes.byteLength)
    })()
    const ms = performance.now() - t
    db.close()
    return ms
  }

  const body = (): ReadableStream<Uint8Array> => {
    const chunk = new Uint8Array(64 * 1024)
    let left = (BODY_MB * 1024 * 1024) / chunk.byteLength
    return new ReadableStream({
      pull(c) {
        if (left-- <= 0) c.close()
        else c.enqueue(chunk)
      },
    })
  }
  const readMs = async (stream: ReadableStream<Uint8Array>): Promise<number> => {
    const t = performance.now()
    const reader = stream.getReader()
    let n = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      n += value.byteLength
    }
    if (n !== BODY_MB * 1024 * 1024) throw new Error('short read')
    return performance.now() - t
  }

  const best = (xs: number[]) => Math.min(...xs)
  const withT: number[] = []
  const withoutT: number[] = []
  const direct: number[] = []
  const bucket: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    withoutT.push(insertMs(false, i))
    withT.push(insertMs(true, i))
    direct.push(await readMs(body()))
    bucket.push(await readMs(throttle(body(), new TokenBucket({ bytesPerSec: null }))))
  }
  console.log(
    JSON.stringify({
      bench: 'settings',
      blocks: BLOCKS,
      insert_ms_without_usage_triggers: Math.round(best(withoutT)),
      insert_ms_with_usage_triggers: Math.round(best(withT)),
      ratio_insert_with_vs_without: Math.round((best(withT) / best(withoutT)) * 100) / 100,
      body_mb: BODY_MB,
      read_ms_direct: Math.round(best(direct)),
      read_ms_through_uncapped_bucket: Math.round(best(bucket)),
      ratio_read_bucket_vs_direct: Math.round((best(bucket) / best(direct)) * 100) / 100,
    }),
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}

// How much the local API (HTTP + secret + validation) costs over calling the node in process.
// Prints {"bench":"local-api","calls":N,"http_calls_per_s":…,"direct_calls_per_s":…,"ratio_http_vs_direct":…}.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../core/config.js'
import { createNode } from '../core/node.js'

const CALLS = Number(process.env.BENCH_CALLS ?? 2000)
const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-'))
const node = await createNode({ config: loadConfig({ env: { DATA_DIR: dir, PORT: '0' } }), host: 'test' })
await node.start()
try {
  const headers = { authorization: `Bearer ${node.secret}` }
  const url = `${node.uiUrl}/api/node.status`
  // Warm up both paths.
  for (let i = 0; i < 100; i++) {
    await node.api.node.status()
    await (await fetch(url, { method: 'POST', headers })).json()
  }
  let t = performance.now()
  for (let i = 0; i < CALLS; i++) await node.api.node.status()
  const direct = (performance.now() - t) / 1000
  t = performance.now()
  for (let i = 0; i < CALLS; i++) await (await fetch(url, { method: 'POST', headers })).json()
  const http = (performance.now() - t) / 1000
  console.log(
    JSON.stringify({
      bench: 'local-api',
      calls: CALLS,
      http_calls_per_s: Math.round(CALLS / http),
      direct_calls_per_s: Math.round(CALLS / direct),
      ratio_http_vs_direct: Math.round((http / direct) * 10) / 10,
      peak_rss_mb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    }),
  )
} finally {
  await node.stop()
  rmSync(dir, { recursive: true, force: true })
}

#!/usr/bin/env node
// `npm run bench [-- NAME…]`: runs the built benchmarks (dist/bench/NAME.bench.js), each in its
// own process so one's memory does not colour another's. Each prints one JSON object per line:
// {"bench": "<name>", ...figures}.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bench')
if (!existsSync(dir)) {
  console.error('bench: not built; run `npm run build`.')
  process.exit(1)
}
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js'))
  .map((f) => f.replace(/\.bench\.js$/, ''))
  .sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  console.error(`bench: no benchmark named ${unknown.join(', ')}; there are: ${all.join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const name of wanted.length > 0 ? wanted : all) {
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, `${name}.bench.js`)], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) {
    console.error(`bench: ${name} failed (exit ${r.status})`)
    failed++
  }
}
process.exit(failed > 0 ? 1 : 0)

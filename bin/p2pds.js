#!/usr/bin/env node
// The `p2pds` command. The TypeScript sources are built to dist/ by `npm run build`.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/core/cli.js', import.meta.url)
if (!existsSync(cli)) {
  console.error('p2pds: not built yet. Run `npm run build` in the P2PDS folder first.')
  process.exit(1)
}
const { main } = await import(cli.href)
process.exitCode = await main(process.argv.slice(2))

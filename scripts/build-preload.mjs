#!/usr/bin/env node
// Bundles the two bridges (run by scripts/build.mjs; `node scripts/build-preload.mjs` alone):
// - preload/index.ts   -> dist/preload/index.cjs  Electron's sandboxed preload: CommonJS, may only
//                                                 require('electron'), so everything else is inlined.
// - preload/browser.ts -> dist/preload/browser.js browser mode, served by the node at /bridge.js.
import { build } from 'esbuild'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, 'dist', 'preload')

const common = {
  bundle: true,
  absWorkingDir: root,
  logLevel: 'warning',
  legalComments: 'none',
  sourcemap: false,
  charset: 'utf8',
}

try {
  await Promise.all([
    build({
      ...common,
      entryPoints: [join(root, 'preload', 'index.ts')],
      outfile: join(outDir, 'index.cjs'),
      format: 'cjs',
      platform: 'node',
      // Electron 45 runs Chromium 140 or later.
      target: 'chrome140',
      external: ['electron'],
    }),
    build({
      ...common,
      entryPoints: [join(root, 'preload', 'browser.ts')],
      outfile: join(outDir, 'browser.js'),
      format: 'iife',
      platform: 'browser',
      // Any current browser: Chromium, Firefox and Safari releases of the last two years.
      target: ['chrome120', 'firefox121', 'safari17'],
    }),
  ])
} catch {
  // esbuild has already printed the errors.
  console.error('build-preload: bundling the bridges failed')
  process.exit(1)
}

#!/usr/bin/env node
// Builds everything the hosts run: core + main (tsc), the two preloads (esbuild), the renderer
// (Vite) and the raster icons (from assets/*.svg). `npm run build`.
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)

function run(what, cmd, args) {
  const started = Date.now()
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`build: ${what} failed`)
    process.exit(r.status ?? 1)
  }
  if (process.env.BUILD_VERBOSE) console.error(`build: ${what} ${Date.now() - started} ms`)
}

rmSync(join(root, 'dist', 'core'), { recursive: true, force: true })
rmSync(join(root, 'dist', 'main'), { recursive: true, force: true })
run('core + main', bin('tsc'), ['-p', 'tsconfig.build.json'])
if (existsSync(join(root, 'scripts', 'build-preload.mjs'))) run('preload', process.execPath, ['scripts/build-preload.mjs'])
if (existsSync(join(root, 'renderer', 'vite.config.ts'))) run('renderer', bin('vite'), ['build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'])
if (existsSync(join(root, 'scripts', 'build-assets.mjs'))) run('assets', process.execPath, ['scripts/build-assets.mjs'])

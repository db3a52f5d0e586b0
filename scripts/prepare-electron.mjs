#!/usr/bin/env node
// Gets the desktop app ready to run (`npm start` runs this before `electron .`):
// 1. the Electron binary: when node_modules/electron/dist is missing, runs electron's own
//    install.js (it downloads from GitHub; honours ELECTRON_MIRROR, electron_config_cache, ...);
// 2. better-sqlite3 built for Electron's ABI, in .native/electron-<version>/better_sqlite3.node.
//    main/startup.ts looks there (keep the two in step). node_modules/better-sqlite3/build is
//    never touched: it stays built for Node, which the CLI, `p2pds serve` and the tests use.
//    The package is copied to a temp dir and rebuilt there with node-gyp against Electron's
//    headers, as in https://www.electronjs.org/docs/latest/tutorial/using-native-node-modules
//    ("Manually building for Electron"). Skipped when already built for this Electron, arch and
//    better-sqlite3 version.
// Exits 1 with one sentence saying what failed and what to do.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const electronDir = join(root, 'node_modules', 'electron')
const sqliteDir = join(root, 'node_modules', 'better-sqlite3')

function fail(sentence) {
  console.error(`prepare-electron: ${sentence}`)
  process.exit(1)
}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}

if (!existsSync(join(electronDir, 'package.json'))) fail('Electron is not installed: run `npm install` first.')
if (!existsSync(join(sqliteDir, 'package.json'))) fail('better-sqlite3 is not installed: run `npm install` first.')
const electronVersion = readJson(join(electronDir, 'package.json')).version
const sqliteVersion = readJson(join(sqliteDir, 'package.json')).version
// Same precedence as electron's install.js, so the binding matches the binary it downloads.
const arch = process.env.ELECTRON_INSTALL_ARCH || process.env.npm_config_arch || process.arch

// ---- 1. The Electron binary ------------------------------------------------------------------

function electronInstalled() {
  const pathFile = join(electronDir, 'path.txt')
  if (!existsSync(pathFile)) return false
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH || join(electronDir, 'dist')
  return existsSync(join(dist, readFileSync(pathFile, 'utf8').trim()))
}

if (!electronInstalled()) {
  console.error(`prepare-electron: downloading Electron ${electronVersion}…`)
  const r = spawnSync(process.execPath, [join(electronDir, 'install.js')], { cwd: electronDir, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' })
  if (r.status !== 0 || !electronInstalled()) {
    if (process.env.P2PDS_VERBOSE) process.stderr.write(r.stderr ?? '')
    const reason = (r.stderr ?? '').split('\n').find((l) => l.trim() !== '')?.trim() ?? `exit code ${r.status}`
    fail(
      `Electron ${electronVersion} could not be downloaded (${reason}): check the network connection (or set ELECTRON_MIRROR), ` +
        'then run `npm start` again; `p2pds serve` runs the same app in a browser without Electron.',
    )
  }
}

// ---- 2. better-sqlite3 for Electron ----------------------------------------------------------

const outDir = join(root, '.native', `electron-${electronVersion}`)
const outFile = join(outDir, 'better_sqlite3.node')
const infoFile = join(outDir, 'build-info.json')
const wanted = { electron: electronVersion, arch, betterSqlite3: sqliteVersion }

function alreadyBuilt() {
  if (!existsSync(outFile) || !existsSync(infoFile)) return false
  try {
    const info = readJson(infoFile)
    return info.electron === wanted.electron && info.arch === wanted.arch && info.betterSqlite3 === wanted.betterSqlite3
  } catch {
    return false
  }
}

/** node-gyp: the one npm installed in node_modules (as linked from node_modules/.bin), else npm's own. */
function nodeGypScript() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js')
  } catch {
    // npm sets this for scripts it runs; it points at the node-gyp bundled with npm.
    const fromNpm = process.env.npm_config_node_gyp
    return fromNpm && existsSync(fromNpm) ? fromNpm : undefined
  }
}

/**
 * The environment for node-gyp, without npm settings that would override the Electron target:
 * node-gyp reads every npm_config_<option> variable and lets it win over the command line, and
 * a `npm_config_nodedir` (set on these machines so native addons build for Node 22) would
 * silently compile against Node's headers instead of Electron's.
 */
function gypEnv() {
  const overriding = new Set(['nodedir', 'target', 'target_arch', 'arch', 'disturl', 'dist_url', 'devdir', 'runtime', 'tarball', 'build_from_source'])
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    const m = /^(?:npm_config_|npm_package_config_node_gyp_)(.+)$/i.exec(key)
    if (m && overriding.has(m[1].toLowerCase().replaceAll('-', '_'))) continue
    env[key] = value
  }
  return env
}

if (alreadyBuilt()) {
  console.error(`prepare-electron: better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (${arch}) is already built`)
  process.exit(0)
}

const gyp = nodeGypScript()
if (gyp === undefined) fail('node-gyp was not found (neither in node_modules nor with npm): run `npm install`, then `npm start` again.')

const work = mkdtempSync(join(tmpdir(), 'p2pds-sqlite-electron-'))
let failure
try {
  const pkgCopy = join(work, 'better-sqlite3')
  // The sources only: not its Node build (build/) and not its own node_modules.
  cpSync(sqliteDir, pkgCopy, {
    recursive: true,
    filter: (src) => {
      const rel = relative(sqliteDir, src)
      const top = rel.split(sep)[0]
      return top !== 'build' && top !== 'node_modules'
    },
  })
  console.error(`prepare-electron: building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (${arch}); this takes a minute or two…`)
  const args = [
    gyp,
    'rebuild',
    '--release',
    `--target=${electronVersion}`,
    `--arch=${arch}`,
    '--dist-url=https://electronjs.org/headers',
    '--runtime=electron',
    // Electron's headers apart from Node's (the Electron docs use ~/.electron-gyp too).
    `--devdir=${join(homedir(), '.electron-gyp')}`,
  ]
  const r = spawnSync(process.execPath, args, { cwd: pkgCopy, env: gypEnv(), stdio: 'inherit' })
  const built = join(pkgCopy, 'build', 'Release', 'better_sqlite3.node')
  if (r.status !== 0 || !existsSync(built)) {
    failure =
      `better-sqlite3 could not be built for Electron ${electronVersion} (node-gyp exited with ${r.status ?? r.signal}; its output is above): ` +
      'the build downloads Electron headers from https://electronjs.org/headers and needs Python 3, make and a C++ compiler.'
  } else {
    mkdirSync(outDir, { recursive: true })
    // Copy then rename, so a half-written file is never taken for a build.
    cpSync(built, `${outFile}.tmp`)
    renameSync(`${outFile}.tmp`, outFile)
    writeFileSync(infoFile, JSON.stringify({ ...wanted, builtAt: new Date().toISOString() }, null, 2) + '\n')
    console.error(`prepare-electron: built ${relative(root, outFile)}`)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
if (failure !== undefined) fail(failure)

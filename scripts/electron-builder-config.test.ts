// electron-builder.yml checked offline by electron-builder's own code, the same calls its Packager
// makes before building (Packager.validateConfig): getConfig loads the YAML, checkMetadata checks
// package.json, validateConfiguration checks the result against electron-builder's JSON schema.
// Installers cannot be built here (no Electron binary), so this is what guards the config.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

// Internal modules of app-builder-lib 26 (the package has no "exports" map, so these paths resolve).
// If an upgrade moves them, these requires fail loudly rather than the test passing vacuously.
interface Configuration {
  directories: { output: string; buildResources: string }
  extraResources: { from: string; to: string; filter?: string[] }[]
  linux: { icon: string; target: string[] }
  mac: { icon: string }
  win: { icon: string }
  [key: string]: unknown
}
const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: null): Promise<Configuration>
  validateConfiguration(config: unknown, debugLogger: unknown): Promise<void>
}
const { checkMetadata } = require('app-builder-lib/out/util/packageMetadata.js') as {
  checkMetadata(metadata: unknown, devMetadata: unknown, appPackageFile: string, devPackageFile: string): void
}
const { convertIcon } = require('app-builder-lib/out/util/iconConverter.js') as {
  convertIcon(o: { sources: string[]; fallbackSources: string[]; roots: string[]; format: 'set' | 'ico' | 'icns'; outDir: string }): Promise<{
    icons: { file: string; size: number }[]
    isFallback: boolean
  }>
}
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled?: boolean) => unknown }
type PathFilter = (file: string, stat: { isDirectory(): boolean }) => boolean
interface FileMatcher {
  createFilter(): PathFilter
}
const { getMainFileMatchers, getNodeModuleFileMatcher } = require('app-builder-lib/out/fileMatcher.js') as {
  getMainFileMatchers(appDir: string, to: string, expand: (s: string) => string, platformOptions: object, platformPackager: object, outDir: string, isElectronCompile: boolean): FileMatcher[]
  getNodeModuleFileMatcher(appDir: string, to: string, expand: (s: string) => string, platformOptions: object, packager: object): FileMatcher
}

const validate = (config: unknown) => validateConfiguration(config, new DebugLogger(false))
const load = (projectDir: string, file: string) => getConfig(projectDir, file, null)

/** Width, height and colour type from a PNG's IHDR chunk. */
function pngHeader(file: string) {
  const b = readFileSync(file)
  expect(b.subarray(0, 8).toString('hex'), `${file} is a PNG`).toBe('89504e470d0a1a0a')
  expect(b.subarray(12, 16).toString('latin1')).toBe('IHDR')
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), colourType: b[25] }
}

let config: Configuration
let scratch: string

beforeAll(async () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-assets.mjs')], { cwd: root, encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  config = await load(root, 'electron-builder.yml')
  scratch = mkdtempSync(join(tmpdir(), 'p2pds-eb-config-'))
})

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

describe('electron-builder.yml', () => {
  it('passes electron-builder’s schema validation and package.json checks', async () => {
    const pkgFile = join(root, 'package.json')
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'))
    expect(() => checkMetadata(pkg, pkg, pkgFile, pkgFile)).not.toThrow()
    await expect(validate(config)).resolves.toBeUndefined()
  })

  it('holds the settings the app relies on', () => {
    expect(config).toMatchObject({
      appId: 'org.p2pds.desktop',
      productName: 'P2PDS',
      directories: { output: 'release', buildResources: 'assets/build' },
      npmRebuild: false,
      linux: { target: ['AppImage', 'deb'], category: 'Utility' },
      mac: { target: 'dmg', category: 'public.app-category.utilities', hardenedRuntime: true },
      win: { target: 'nsis' },
      nsis: { oneClick: false, allowToChangeInstallationDirectory: true },
    })
    expect(config.asarUnpack).toEqual(expect.arrayContaining(['**/*.node', 'node_modules/better-sqlite3/**', '.native/**']))
    // electron-builder adds production dependencies itself; an include pattern for node_modules
    // would make it copy the whole folder, dev dependencies and all.
    // getConfig normalizes `files` to [{ filter: [...] }].
    const files = (config.files as { filter: string[] }[]).flatMap((f) => f.filter)
    expect(files.filter((p) => !p.startsWith('!') && p.includes('node_modules'))).toEqual([])
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/**']))
  })

  // Each broken copy must be rejected, or the passing test above proves nothing.
  it.each([
    ['an unknown top-level property', (c: Configuration) => ({ ...c, iconn: 'assets/build/icon.png' })],
    ['an unknown property inside linux', (c: Configuration) => ({ ...c, linux: { ...c.linux, categroy: 'Utility' } })],
    ['a string where a boolean belongs', (c: Configuration) => ({ ...c, nsis: { ...(c.nsis as object), oneClick: 'sometimes' } })],
    ['an object where a list of patterns belongs', (c: Configuration) => ({ ...c, asarUnpack: { native: true } })],
    ['an architecture that does not exist', (c: Configuration) => ({ ...c, mac: { ...c.mac, target: { target: 'dmg', arch: ['sparc'] } } })],
  ])('rejects %s', async (_what, breakIt) => {
    await expect(validate(breakIt(structuredClone(config)))).rejects.toThrow(/Invalid configuration object/)
  })

  it('rejects a broken copy of the YAML file itself', async () => {
    const yml = readFileSync(join(root, 'electron-builder.yml'), 'utf8')
    const dir = join(scratch, 'broken-yaml')
    mkdirSync(dir)
    writeFileSync(join(dir, 'package.json'), readFileSync(join(root, 'package.json')))
    writeFileSync(join(dir, 'electron-builder.yml'), yml.replace(/^nsis:\n/m, 'nsis:\n  oneClik: false\n'))
    const broken = await load(dir, 'electron-builder.yml')
    await expect(validate(broken)).rejects.toThrow(/configuration\.nsis/)
  })

  // The same matchers electron-builder builds from `files` when it copies the app and its
  // production dependencies, run over paths (nothing is read from disk).
  it('selects the built app and the runtime parts of dependencies, not sources or build leftovers', () => {
    const expand = (s: string) => s
    const info = { projectDir: root, buildResourcesDir: config.directories.buildResources, isPrepackedAppAsar: false, config, debugLogger: new DebugLogger(false) }
    const outDir = resolve(root, config.directories.output)
    const app = getMainFileMatchers(root, '/app', expand, {}, { info }, outDir, false)[0]!.createFilter()
    const deps = getNodeModuleFileMatcher(root, '/app', expand, {}, info).createFilter()
    const file = { isDirectory: () => false }
    const picked = (filter: PathFilter, paths: string[]) => paths.filter((p) => filter(join(root, p), file))

    const appIn = ['package.json', 'dist/main/index.js', 'dist/renderer/index.html', 'dist/preload/index.cjs', 'bin/p2pds.js', 'lexicons/org/p2pds/backup.json']
    const appOut = ['dist/main/index.js.map', 'dist/core/node.test.js', 'core/node.ts', 'main/index.ts', 'scripts/build.mjs', 'assets/icon.svg',
      'assets/build/icon.png', 'release/P2PDS-0.1.0.AppImage', 'electron-builder.yml', 'node_modules/electron/index.js', 'tsconfig.json']
    expect(picked(app, [...appIn, ...appOut])).toEqual(appIn)

    const sqlite = 'node_modules/better-sqlite3'
    const depsIn = [`${sqlite}/package.json`, `${sqlite}/lib/index.js`, `${sqlite}/build/Release/better_sqlite3.node`, 'node_modules/hono/dist/index.js']
    const depsOut = [`${sqlite}/deps/sqlite3/sqlite3.c`, `${sqlite}/src/better_sqlite3.cpp`, `${sqlite}/build/Release/obj.target/better_sqlite3.node`,
      `${sqlite}/build/Release/test_extension.node`, `${sqlite}/build/Makefile`, `${sqlite}/build/config.gypi`, 'node_modules/hono/dist/index.js.map', 'node_modules/hono/src/index.ts']
    expect(picked(deps, [...depsIn, ...depsOut])).toEqual(depsIn)
  })
})

describe('files the config points at (after scripts/build-assets.mjs)', () => {
  const fromRoot = (p: string) => resolve(root, p)

  it('mac icon is a square PNG of at least 512 px (electron-builder makes the .icns from it)', () => {
    const { width, height } = pngHeader(fromRoot(config.mac.icon))
    expect(width).toBe(1024)
    expect(height).toBe(1024)
  })

  it('linux icon set holds every size, each file as large as its name says', async () => {
    const { icons, isFallback } = await convertIcon({
      sources: [config.linux.icon],
      fallbackSources: [],
      roots: [fromRoot(config.directories.buildResources), root],
      format: 'set',
      outDir: join(scratch, 'icon-set'),
    })
    expect(isFallback).toBe(false)
    expect(icons.map((i) => i.size)).toEqual([16, 32, 48, 64, 128, 256, 512])
    for (const { file, size } of icons) {
      expect(file.startsWith(fromRoot(config.linux.icon))).toBe(true)
      expect(pngHeader(file)).toMatchObject({ width: size, height: size })
    }
  })

  it('windows icon is an .ico electron-builder accepts, with 16–256 px images', async () => {
    const { icons } = await convertIcon({
      sources: [config.win.icon],
      fallbackSources: [],
      roots: [fromRoot(config.directories.buildResources), root],
      format: 'ico',
      outDir: join(scratch, 'icon-ico'),
    })
    expect(icons).toEqual([{ file: fromRoot(config.win.icon), size: 256 }])
    const ico = readFileSync(fromRoot(config.win.icon))
    const sizes = Array.from({ length: ico.readUInt16LE(4) }, (_, i) => ico[6 + 16 * i] || 256)
    expect(sizes).toEqual([16, 24, 32, 48, 64, 128, 256])
  })

  it('extraResources sources exist, and the tray folder has every state in both styles', () => {
    for (const { from } of config.extraResources) expect(existsSync(fromRoot(from)), from).toBe(true)
    const tray = config.extraResources.find((r) => r.to === 'tray')
    expect(tray).toBeDefined()
    const names = readdirSync(fromRoot(tray!.from)).sort()
    for (const state of ['idle', 'syncing', 'attention']) {
      const Template = `tray${state[0]!.toUpperCase()}${state.slice(1)}Template`
      for (const [name, size] of [
        [`tray-${state}.png`, 16],
        [`tray-${state}@2x.png`, 32],
        [`${Template}.png`, 16],
        [`${Template}@2x.png`, 32],
      ] as const) {
        expect(names).toContain(name)
        expect(pngHeader(join(fromRoot(tray!.from), name))).toMatchObject({ width: size, height: size, colourType: 6 })
      }
    }
  })
})

/**
 * The desktop journey in real Electron (Playwright's `_electron`): the app starts its node on a
 * temp data dir, the window shows the node as Running, and quitting stops the node cleanly.
 *
 * Runs only where the Electron binary is installed (a developer machine after `npm install`).
 * Where its download is impossible it is skipped, saying why; the browser-mode e2e covers the UI.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { _electron as electron } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const electronPackage = join(root, 'node_modules', 'electron')

/**
 * The Electron executable, or undefined when it is not installed. Deliberately not
 * `require('electron')`: when the binary is missing, that require tries to download it.
 */
function electronExecutable(): string | undefined {
  const pathFile = join(electronPackage, 'path.txt')
  if (!existsSync(pathFile)) return undefined
  const relative = readFileSync(pathFile, 'utf8').trim()
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? join(electronPackage, 'dist')
  const executable = join(dist, relative)
  return existsSync(executable) ? executable : undefined
}

const executable = electronExecutable()
if (executable === undefined) {
  console.log('Electron binary not installed (node_modules/electron/dist missing): skipping Electron e2e; browser-mode e2e covers the UI')
}

describe('Electron app', () => {
  let dataDir: string

  beforeAll(() => {
    if (executable === undefined) return
    dataDir = mkdtempSync(join(tmpdir(), 'p2pds-electron-e2e-'))
    // The app runs from dist/ and needs better-sqlite3 built for Electron.
    for (const script of ['scripts/build.mjs', 'scripts/prepare-electron.mjs']) {
      const r = spawnSync(process.execPath, [join(root, script)], { cwd: root, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`${script} failed:\n${r.stdout}\n${r.stderr}`)
    }
  }, 600_000)

  afterAll(() => {
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  })

  it.skipIf(executable === undefined)(
    'starts the node, shows it Running, and stops it on quit',
    async () => {
      const env: Record<string, string> = {}
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
      Object.assign(env, { DATA_DIR: dataDir, PORT: '0', UI_PORT: '0' })
      delete env.ELECTRON_RUN_AS_NODE // would start Electron as plain Node, with no window
      // Chromium refuses to run as root with its OS sandbox (CI containers).
      const args = process.getuid?.() === 0 ? ['--no-sandbox', root] : [root]
      const app = await electron.launch({ executablePath: executable!, args, env, cwd: root, timeout: 60_000 })
      try {
        const window = await app.firstWindow()
        await window.locator('[data-testid=node-state]').filter({ hasText: 'Running' }).waitFor({ timeout: 30_000 })
        // The window has the contract's bridge and nothing of Node.
        const surface = await window.evaluate(() => ({
          bridge: typeof (window as unknown as { p2pds?: unknown }).p2pds,
          require: typeof (window as unknown as { require?: unknown }).require,
          process: typeof (window as unknown as { process?: unknown }).process,
        }))
        expect(surface).toEqual({ bridge: 'object', require: 'undefined', process: 'undefined' })
        expect(existsSync(join(dataDir, 'api.json'))).toBe(true)
      } finally {
        await app.close()
      }
      // Quit waited for the node to stop: its lock and api.json are gone.
      expect(existsSync(join(dataDir, 'api.json'))).toBe(false)
      expect(existsSync(join(dataDir, 'node.lock'))).toBe(false)
    },
    180_000,
  )
})

/**
 * The desktop journey in real Electron (Playwright's `_electron`): the app starts its node on a
 * temp data dir and the window shows it Running; the tray shows the node's state; an account
 * added through the bridge syncs from a local PDS; File → Export CAR… writes its CAR through the
 * menu's own handler (the save dialog answered by a stand-in set with `electronApp.evaluate`);
 * closing the window leaves the node running in the tray with a one-time hint; quitting stops the
 * node cleanly.
 *
 * The main process is observed through the hook main/e2e-hook.ts installs when P2PDS_E2E=1.
 *
 * Runs only where the Electron binary is installed (a developer machine after `npm install`).
 * Where its download is impossible it is skipped, saying why; the browser-mode e2e covers the UI.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readCarWithRoot } from '@atproto/repo'
import { _electron as electron, type ElectronApplication } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AccountDto, P2pdsBridge } from '../core/api.js'
import { createAccount, populateAccount, type PopulatedAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import type { E2eHook } from '../main/e2e-hook.js'
import type { Notice } from '../main/notifications.js'
import type { TrayState } from '../main/tray-state.js'

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

/** The main process's e2e hook (evaluated in the main process, where the hook lives). */
type HookGlobal = typeof globalThis & { __p2pdsE2E: E2eHook }

const trayState = (app: ElectronApplication) => app.evaluate(() => (globalThis as HookGlobal).__p2pdsE2E.trayState()) as Promise<TrayState | null>
const notices = (app: ElectronApplication) => app.evaluate(() => (globalThis as HookGlobal).__p2pdsE2E.notices()) as Promise<Notice[]>

describe('Electron app', () => {
  let dir: string
  let net: TestNetwork | undefined
  let alice: PopulatedAccount

  beforeAll(async () => {
    if (executable === undefined) return
    dir = mkdtempSync(join(tmpdir(), 'p2pds-electron-e2e-'))
    // The app runs from dist/ and needs better-sqlite3 built for Electron.
    for (const script of ['scripts/build.mjs', 'scripts/prepare-electron.mjs']) {
      const r = spawnSync(process.execPath, [join(root, script)], { cwd: root, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`${script} failed:\n${r.stdout}\n${r.stderr}`)
    }
    net = await startTestNetwork()
    alice = await populateAccount(await createAccount(net, { handle: 'alice' }), { posts: 5, imagePosts: 1, seed: 8100 })
  }, 600_000)

  afterAll(async () => {
    await net?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it.skipIf(executable === undefined)(
    'starts the node, shows it in the window and the tray, exports a CAR from the menu, keeps running when closed, stops on quit',
    async () => {
      const dataDir = join(dir, 'data')
      const userData = join(dir, 'user-data')
      const carPath = join(dir, 'export', 'alice.car')
      mkdirSync(dirname(carPath), { recursive: true })
      const env: Record<string, string> = {}
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
      Object.assign(env, net!.env, { DATA_DIR: dataDir, PORT: '0', UI_PORT: '0', P2PDS_E2E: '1', P2PDS_E2E_USER_DATA: userData })
      delete env.ELECTRON_RUN_AS_NODE // would start Electron as plain Node, with no window
      // Chromium refuses to run as root with its OS sandbox (CI containers).
      const args = process.getuid?.() === 0 ? ['--no-sandbox', root] : [root]
      const app = await electron.launch({ executablePath: executable!, args, env, cwd: root, timeout: 60_000 })
      try {
        // --- The window shows the node Running; the page has the bridge and nothing of Node --------
        const window = await app.firstWindow()
        await window.locator('[data-testid=node-state]').filter({ hasText: 'Running' }).waitFor({ timeout: 30_000 })
        const surface = await window.evaluate(() => ({
          bridge: typeof (window as unknown as { p2pds?: unknown }).p2pds,
          require: typeof (window as unknown as { require?: unknown }).require,
          process: typeof (window as unknown as { process?: unknown }).process,
          hook: typeof (globalThis as unknown as { __p2pdsE2E?: unknown }).__p2pdsE2E,
        }))
        // The e2e hook lives in the main process only.
        expect(surface).toEqual({ bridge: 'object', require: 'undefined', process: 'undefined', hook: 'undefined' })
        expect(existsSync(join(dataDir, 'api.json'))).toBe(true)

        // --- The tray: idle, nothing to sync yet ---------------------------------------------------
        expect(await trayState(app)).toMatchObject({ icon: 'idle', statusLine: 'No accounts backed up yet', canSync: false })

        // --- An account added through the bridge syncs; the tray follows -----------------------------
        await window.evaluate((handle) => (window as unknown as { p2pds: P2pdsBridge }).p2pds.accounts.add({ handleOrDid: handle }), alice.handle)
        await expect
          .poll(async () => (await window.evaluate(() => (window as unknown as { p2pds: P2pdsBridge }).p2pds.accounts.list())) as AccountDto[], { timeout: 60_000 })
          .toEqual([expect.objectContaining({ did: alice.did, head: expect.objectContaining({ cid: expect.any(String) }), syncing: false })])
        await expect.poll(() => trayState(app), { timeout: 15_000 }).toMatchObject({ icon: 'idle', statusLine: '1 account backed up', canSync: true })
        const [account] = (await window.evaluate(() => (window as unknown as { p2pds: P2pdsBridge }).p2pds.accounts.list())) as AccountDto[]

        // --- File → Export CAR… → alice, with the save dialog answered by a stand-in -----------------
        await app.evaluate(({ dialog }, path) => {
          const answer = async () => ({ canceled: false, filePath: path })
          dialog.showSaveDialog = answer as typeof dialog.showSaveDialog
        }, carPath)
        // The menu is rebuilt when the accounts change: click once alice's item is there.
        await expect
          .poll(() => app.evaluate((_electron, id) => (globalThis as HookGlobal).__p2pdsE2E.clickMenuItem(id), `export-car:${alice.did}`), { timeout: 15_000 })
          .toBe(true)
        await expect.poll(async () => (await notices(app)).map((n) => n.kind), { timeout: 30_000 }).toContain('export-finished')
        const done = (await notices(app)).find((n) => n.kind === 'export-finished')!
        expect(done.body).toContain(carPath)
        const car = await readCarWithRoot(readFileSync(carPath))
        expect(car.root.toString()).toBe(account!.head!.cid)

        // --- Closing the window keeps the node in the tray, with a one-time hint --------------------
        if (process.platform !== 'darwin') {
          // As the title bar's close button does (a page close would skip the window's 'close').
          await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]?.close())
          await expect.poll(() => app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(0)
          await expect.poll(async () => (await notices(app)).map((n) => n.kind), { timeout: 10_000 }).toContain('close-hint')
          expect(existsSync(join(dataDir, 'api.json'))).toBe(true)
          expect(await trayState(app)).toMatchObject({ icon: 'idle' })
          expect(JSON.parse(readFileSync(join(userData, 'desktop-settings.json'), 'utf8'))).toMatchObject({ closeHintShown: true })
        }
      } finally {
        await app.close()
      }
      // Quit waited for the node to stop: its lock and api.json are gone.
      expect(existsSync(join(dataDir, 'api.json'))).toBe(false)
      expect(existsSync(join(dataDir, 'node.lock'))).toBe(false)
    },
    240_000,
  )
})

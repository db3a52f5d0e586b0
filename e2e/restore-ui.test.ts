// Browser mode, the Recovery page: the explanation of rotation keys, making one (shown once, as a
// phrase and a key file download), adding it through the PDS's email code, the dry run (which
// changes nothing), then the restore to a second PDS with its steps. Everything is real: a local PLC
// with two PDSes in this process, `p2pds serve` as its own process, the UI in Debian Chromium.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import BetterSqlite3 from 'better-sqlite3'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRotationKey } from '../core/identity/rotation-keys.js'
import { createAccount, populateAccount, type TestAccount } from '../core/testing/builders.js'
import { startExtraPds, startTestNetwork, type ExtraPds, type TestNetwork } from '../core/testing/network.js'
import { artifactPath, launchChromium, requireBuildAndChromium, runCli, startServe, stopServe, type ServeUi } from './helpers.js'

let net: TestNetwork
let pds2: ExtraPds
let dir: string
let ui: ServeUi | undefined
let browser: Browser
let alice: TestAccount

function plcToken(did: string): string {
  const db = new BetterSqlite3(net.pds.ctx.cfg.db.accountDbLoc, { readonly: true })
  try {
    return (db.prepare("SELECT token FROM email_token WHERE did = ? AND purpose = 'plc_operation'").get(did) as { token: string }).token
  } finally {
    db.close()
  }
}

async function auditLog(did: string): Promise<unknown[]> {
  return (await (await fetch(`${net.plcUrl}/${did}/log/audit`)).json()) as unknown[]
}

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-restore-ui-'))
  net = await startTestNetwork()
  pds2 = await startExtraPds(net)
  browser = await launchChromium()
  alice = await createAccount(net, { handle: 'alice' })
  await populateAccount(alice, { profile: true, posts: 2, imagePosts: 1 })
  const env = { ...net.env, P2PDS_SECRET: 'restore-ui-data-key', SECRET_KEY_FILE: join(dir, 'unused.key') }
  const backup = runCli(['backup', alice.did, '--data-dir', dir], env)
  expect(await backup.exited, backup.stderr()).toBe(0)
  ui = await startServe(dir, env)
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await stopServe(ui, 'SIGKILL')
  await pds2?.close()
  await net?.close().catch(() => undefined) // PDS-1 is closed by the test
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe('browser mode: the Recovery page', () => {
  it('explains rotation keys, makes and adds one, checks a restore without changing anything, then restores', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(ui!.link)
    await page.getByTestId('nav-recovery').click()
    const recovery = page.getByTestId('page-recovery')
    await expect.poll(() => recovery.isVisible()).toBe(true)
    expect(await recovery.textContent()).toMatch(/only a rotation key/)
    await expect.poll(() => page.getByTestId('no-held-key').isVisible(), { timeout: 15_000 }).toBe(true)

    // Make a key: the phrase is shown, and the key file downloads with the same key.
    await page.getByTestId('make-key').click()
    const phrase = ((await page.getByTestId('new-key-phrase').textContent({ timeout: 15_000 })) ?? '').trim()
    expect(phrase.split(' ')).toHaveLength(24)
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download key file' }).click()])
    const keyText = readFileSync((await download.path())!, 'utf8')
    expect(keyText).toMatch(/^[0-9a-f]{64}\n$/)
    const key = await parseRotationKey(keyText)
    expect((await parseRotationKey(phrase)).didKey).toBe(key.didKey)
    await page.screenshot({ path: artifactPath('recovery-new-key.png'), fullPage: true })

    // Add it: the PDS emails a code, the code adds the key, the table shows it first and held.
    await page.getByTestId('key-saved').check()
    await page.getByLabel('Account password').fill(alice.password)
    await page.getByTestId('add-key').click()
    await expect.poll(() => page.getByLabel('Code from the email').isVisible(), { timeout: 15_000 }).toBe(true)
    await page.getByLabel('Code from the email').fill(plcToken(alice.did))
    await page.getByTestId('add-key').click()
    await expect.poll(() => page.getByTestId('new-key').count(), { timeout: 15_000 }).toBe(0)
    await expect.poll(async () => (await page.getByTestId('rotation-keys').locator('tbody tr').first().textContent()) ?? '', { timeout: 15_000 }).toContain(key.didKey)
    expect(await page.getByTestId('no-held-key').count()).toBe(0)

    // PDS-1 goes away; the dry run passes and changes nothing.
    await net.pds.close()
    const before = await auditLog(alice.did)
    await page.getByLabel('New PDS address').fill(pds2.url)
    await page.getByLabel('Rotation key').fill(phrase)
    await page.getByLabel('Email').fill('alice@new.test')
    await page.getByTestId('restore-check').click()
    const plan = page.getByTestId('restore-plan')
    await expect.poll(() => plan.isVisible(), { timeout: 30_000 }).toBe(true)
    expect(await plan.locator('.warn-text').count()).toBe(0)
    expect(await auditLog(alice.did)).toEqual(before)
    await page.screenshot({ path: artifactPath('recovery-dry-run.png'), fullPage: true })

    // The restore, with its steps.
    await page.getByLabel('New password').fill('alice-ui-new-pw')
    await page.getByTestId('restore-start').click()
    await expect.poll(() => page.getByTestId('restore-done').isVisible(), { timeout: 120_000 }).toBe(true)
    const states = await page.getByTestId('restore-steps').locator('li').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))
    expect(states).toEqual(['done', 'done', 'done', 'done', 'done', 'done', 'done', 'done'])
    await page.screenshot({ path: artifactPath('recovery-restored.png'), fullPage: true })
    const agent = new AtpAgent({ service: pds2.url })
    await agent.login({ identifier: alice.handle, password: 'alice-ui-new-pw' })
    expect(errors).toEqual([])
  }, 240_000)
})

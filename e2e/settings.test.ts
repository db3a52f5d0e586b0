// The Settings page in browser mode, end to end: `p2pds serve` as its own process and the real UI
// in Debian Chromium. A change made in the form survives a reload and a restart of the node; bad
// input is refused beside its field; a value set by the environment is locked.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { artifactPath, launchChromium, requireBuildAndChromium, startServe, stopServe, type ServeUi } from './helpers.js'

let dir: string
let ui: ServeUi | undefined
let browser: Browser
// SYNC_INTERVAL_SEC comes from the environment: the page must show it locked.
const ENV = { SYNC_INTERVAL_SEC: '120' }

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-settings-'))
  ui = await startServe(dir, ENV)
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await stopServe(ui, 'SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

async function openSettings(page: Page, link: string): Promise<void> {
  await page.goto(link)
  await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
  await page.getByTestId('nav-settings').click()
  await expect.poll(() => page.getByTestId('settings-form-transfer').isVisible(), { timeout: 15_000 }).toBe(true)
}

const text = (page: Page, id: string) => page.getByTestId(id).textContent()

describe('Settings page (browser mode)', () => {
  it('saves a setting from the form; it is still there after a reload and after the node restarts', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await openSettings(page, ui!.link)

    // Defaults, with their source; the environment's value is locked.
    expect(await text(page, 'setting-bandwidthLimitKbps-effective')).toBe('Now no cap, default.')
    expect(await page.getByTestId('setting-syncIntervalSec').isDisabled()).toBe(true)
    expect(await text(page, 'setting-syncIntervalSec-effective')).toBe('Now 2 min, set by SYNC_INTERVAL_SEC.')
    expect(await page.getByTestId('storage-usage-label').textContent()).toMatch(/stored \(no cap\)$/)
    // Browser mode cannot register login items: shown as unavailable, with the reason.
    expect(await page.getByTestId('setting-launchAtLogin').isDisabled()).toBe(true)
    expect(await text(page, 'setting-launchAtLogin-hint')).toMatch(/^Unavailable: Only the desktop app can open at login/)
    expect(await text(page, 'settings-data-dir')).toBe(dir)
    expect(await page.getByTestId('settings-open-data-dir').count()).toBe(0)

    // Bad input: an inline error, nothing sent.
    await page.getByTestId('setting-bandwidthLimitKbps').fill('fast')
    await page.getByTestId('settings-save-transfer').click()
    expect(await text(page, 'setting-bandwidthLimitKbps-error')).toBe('Bandwidth cap must be a whole number of KB/s, or empty for no cap.')
    expect(await text(page, 'setting-bandwidthLimitKbps-effective')).toBe('Now no cap, default.')

    // Saved, and applied at once.
    await page.getByTestId('setting-bandwidthLimitKbps').fill('256')
    await page.getByTestId('settings-save-transfer').click()
    await expect.poll(() => text(page, 'setting-bandwidthLimitKbps-effective')).toBe('Now 256 KB/s, saved in Settings.')
    expect(await page.getByTestId('settings-saved-transfer').isVisible()).toBe(true)

    // A storage cap brings the usage bar.
    await page.getByTestId('setting-storageLimitMb').fill('50')
    await page.getByTestId('settings-save-storage').click()
    await expect.poll(() => page.getByTestId('storage-usage-label').textContent()).toMatch(/ of 50\.0 MB \(0%\)$/)
    expect(await page.getByTestId('storage-bar').isVisible()).toBe(true)

    // A restart setting says what is in use until then.
    await page.getByTestId('setting-firehoseEnabled').uncheck()
    await page.getByTestId('settings-save-firehose').click()
    await expect.poll(() => page.getByTestId('settings-form-firehose').textContent()).toContain('Applies at the next start; in use until then: on.')
    await page.screenshot({ path: artifactPath('browser-settings-saved.png'), fullPage: true })

    await page.reload()
    await expect.poll(() => page.getByTestId('settings-form-transfer').isVisible(), { timeout: 15_000 }).toBe(true)
    expect(await page.getByTestId('setting-bandwidthLimitKbps').inputValue()).toBe('256')
    expect(await text(page, 'setting-bandwidthLimitKbps-effective')).toBe('Now 256 KB/s, saved in Settings.')
    expect(await page.getByTestId('setting-firehoseEnabled').isChecked()).toBe(false)
    expect(errors).toEqual([])
    await page.close()

    // Restarted on the same data folder: the saved settings are the node's, and now in use.
    ui!.serve.child.kill('SIGTERM')
    expect(await ui!.serve.exited).toBe(0)
    ui = await startServe(dir, ENV)
    const again = await browser.newPage()
    await openSettings(again, ui.link)
    expect(await again.getByTestId('setting-bandwidthLimitKbps').inputValue()).toBe('256')
    expect(await again.getByTestId('setting-storageLimitMb').inputValue()).toBe('50')
    expect(await again.getByTestId('settings-form-firehose').textContent()).toContain('Applies at the next start of P2PDS.')
    // Back to the default.
    await again.getByTestId('settings-reset-transfer').click()
    await expect.poll(() => text(again, 'setting-bandwidthLimitKbps-effective')).toBe('Now no cap, default.')
    expect(await again.getByTestId('setting-bandwidthLimitKbps').inputValue()).toBe('')
    await again.close()
  }, 90_000)
})

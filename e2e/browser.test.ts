// Browser mode end to end: `p2pds serve` as its own process, the real UI in Debian Chromium.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { artifactPath, launchChromium, requireBuildAndChromium, runCli, type CliProcess } from './helpers.js'

let dir: string
let serve: CliProcess
let browser: Browser
let link: string
let origin: string

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-'))
  serve = runCli(['serve', '--data-dir', dir, '--port', '0'])
  const m = await serve.waitFor(/UI:\s+(http:\/\/127\.0\.0\.1:\d+)\/#secret=[\w-]+/)
  link = m[0].replace(/^UI:\s+/, '')
  origin = m[1]!
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  if (serve !== undefined && serve.child.exitCode === null) {
    serve.child.kill('SIGKILL')
    await serve.exited
  }
  rmSync(dir, { recursive: true, force: true })
})

describe('browser mode', () => {
  it('shows live node status from the running node', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    await page.goto(link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    // The secret leaves the address bar once the bridge has it.
    expect(page.url()).not.toContain('secret=')
    // Live: the uptime shown moves on without a reload (the node pushes status every 5 s).
    const first = await page.getByTestId('node-uptime').textContent()
    await expect.poll(() => page.getByTestId('node-uptime').textContent(), { timeout: 15_000, interval: 250 }).not.toBe(first)
    await page.screenshot({ path: artifactPath('browser-overview.png'), fullPage: true })
    // A reload keeps working (the secret is kept for the tab's session).
    await page.reload()
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    expect(errors).toEqual([])
    await page.close()
  })

  it('navigates every section', async () => {
    const page = await browser.newPage()
    await page.goto(link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    for (const name of ['accounts', 'offers', 'verification', 'identity', 'lexicons', 'settings']) {
      await page.getByTestId(`nav-${name}`).click()
      await expect.poll(() => page.getByTestId(`page-${name}`).isVisible()).toBe(true)
      await page.screenshot({ path: artifactPath(`browser-${name}.png`), fullPage: true })
    }
    await page.close()
  })

  it('a page opened without the secret cannot reach the API and says what to do', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(origin + '/')
    await expect.poll(() => page.getByTestId('connection-error').isVisible(), { timeout: 15_000 }).toBe(true)
    expect(await page.getByTestId('connection-error').textContent()).toMatch(/p2pds serve/)
    await context.close()
  })

  it('a page on another origin cannot drive the node', async () => {
    const page = await browser.newPage()
    await page.goto('about:blank')
    const secret = new URL(link).hash.replace('#secret=', '')
    const result = await page.evaluate(
      async ({ origin, secret }) => {
        try {
          const r = await fetch(`${origin}/api/node.status`, { method: 'POST', headers: { authorization: `Bearer ${secret}` } })
          return `status ${r.status}`
        } catch (e) {
          return `blocked: ${(e as Error).message}`
        }
      },
      { origin, secret },
    )
    // Either the browser blocks it (CORS preflight fails) or the server refuses it: never a 200.
    expect(result).not.toBe('status 200')
    await page.close()
  })

  it('shows the node stopping, and stops cleanly on SIGTERM', async () => {
    const page = await browser.newPage()
    await page.goto(link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    serve.child.kill('SIGTERM')
    expect(await serve.exited).toBe(0)
    expect(serve.stderr()).toContain('stopped')
    await expect.poll(() => page.getByTestId('connection-error').isVisible(), { timeout: 15_000 }).toBe(true)
    await page.close()
  })
})

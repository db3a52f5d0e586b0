// Browser mode: the Identity page shows the PLC mirror of a held account (operations, last fetch,
// validation, refresh now) and the Lexicons page its record types in a searchable table. Real
// local PLC + PDS in this process, `p2pds serve` as its own process, the UI in Debian Chromium.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAccount, populateAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { artifactPath, launchChromium, requireBuildAndChromium, runCli, startServe, stopServe, type ServeUi } from './helpers.js'

let net: TestNetwork
let dir: string
let ui: ServeUi | undefined
let browser: Browser
let alice: TestAccount

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-identity-'))
  net = await startTestNetwork()
  browser = await launchChromium()
  alice = await createAccount(net, { handle: 'alice' })
  const bob = await createAccount(net, { handle: 'bob' })
  await populateAccount(alice, { posts: 3, follows: [bob] })
  ui = await startServe(dir, { ...net.env })
  const backup = runCli(['backup', alice.did, '--data-dir', dir], { ...net.env })
  expect(await backup.exited).toBe(0)
})

afterAll(async () => {
  await browser?.close()
  await stopServe(ui)
  await net?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('identity and lexicons pages (browser mode)', () => {
  it('shows the mirrored PLC log of a held account, and refreshes it on demand', async () => {
    const page = await browser.newPage()
    await page.goto(ui!.link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    await page.getByTestId('nav-identity').click()
    const row = page.getByTestId(`plc-row-${alice.did}`)
    await expect.poll(() => row.getByTestId('plc-validation').textContent(), { timeout: 15_000 }).toBe('Valid')
    const ops = ((await (await fetch(`${net.plcUrl}/${alice.did}/log/audit`)).json()) as unknown[]).length
    expect(await row.getByTestId('plc-operations').textContent()).toContain(`${ops} operation`)
    expect(await row.textContent()).toContain(alice.handle)

    // A handle change, then "Refresh now": one more operation.
    await alice.agent.com.atproto.identity.updateHandle({ handle: `alice2${net.handleDomain}` })
    await row.getByTestId('plc-refresh').click()
    await expect.poll(() => row.getByTestId('plc-operations').textContent(), { timeout: 15_000 }).toContain(`${ops + 1} operations`)
    await page.screenshot({ path: artifactPath('browser-identity-plc.png'), fullPage: true })
    await page.close()
  })

  it('lists the record types held in a searchable table', async () => {
    const page = await browser.newPage()
    await page.goto(ui!.link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    await page.getByTestId('nav-lexicons').click()
    const post = page.getByTestId('lexicon-row-app.bsky.feed.post')
    await expect.poll(() => post.getByTestId('lexicon-records').textContent(), { timeout: 15_000 }).toBe('3')
    expect(await post.getByTestId('lexicon-repos').textContent()).toBe('1')
    expect(await page.getByTestId('lexicon-row-app.bsky.graph.follow').getByTestId('lexicon-records').textContent()).toBe('1')

    await page.getByTestId('lexicon-search').fill('app.bsky.graph')
    await expect.poll(() => post.isVisible()).toBe(false)
    await expect.poll(() => page.getByTestId('lexicon-row-app.bsky.graph.follow').isVisible()).toBe(true)
    await page.getByTestId('lexicon-search').fill('com.example')
    await expect.poll(() => page.getByTestId('lexicon-empty').isVisible()).toBe(true)
    await page.getByTestId('lexicon-search').fill('')
    await expect.poll(() => post.isVisible()).toBe(true)
    await page.screenshot({ path: artifactPath('browser-lexicons.png'), fullPage: true })
    await page.close()
  })
})

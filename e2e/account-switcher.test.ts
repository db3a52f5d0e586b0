// Browser mode, several accounts on one node: Alice and Bob are logged in on the same `p2pds serve`
// (app passwords through its local API), and what the Offers page does is published from the
// repo of the account chosen in the account switcher: Bob's consent record, then Alice's offer,
// each read back from the PDS in the right repo and absent from the other. The same page edits the
// archive policy of Carol (held one-way), and the Accounts page says why Carol is held. Everything
// is real: a local PLC + PDS in this process, `p2pds serve` as its own process, Debian Chromium.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../core/lexicons.js'
import { connectToRunningNode, type LocalApiClient } from '../core/server/local-client.js'
import { createAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { artifactPath, launchChromium, requireBuildAndChromium, startServe, stopServe, type ServeUi } from './helpers.js'

let net: TestNetwork
let dir: string
let ui: ServeUi | undefined
let api: LocalApiClient
let browser: Browser
let alice: TestAccount
let bob: TestAccount
let carol: TestAccount

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-switcher-'))
  net = await startTestNetwork()
  browser = await launchChromium()
  ;[alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((h) => createAccount(net, { handle: h })))) as [TestAccount, TestAccount, TestAccount]
  ui = await startServe(join(dir, 'data'), { ...net.env, SECRET_KEY_FILE: join(dir, 'secret.key'), IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false' })
  api = connectToRunningNode(join(dir, 'data'))!
  for (const account of [alice, bob]) {
    const password = (await account.agent.com.atproto.server.createAppPassword({ name: 'p2pds-switcher' })).data.password
    await api.call('auth.loginAppPassword', { identifier: account.handle, password })
  }
  // Carol is held one-way, without her consent record.
  await api.call('accounts.add', { handleOrDid: carol.handle })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await stopServe(ui)
  await net?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

/** The record `collection/rkey` in `account`'s repo, read from its PDS; null when there is none. */
async function recordIn(account: TestAccount, collection: string, rkey: string): Promise<unknown> {
  try {
    return (await account.agent.com.atproto.repo.getRecord({ repo: account.did, collection, rkey })).data.value
  } catch (err) {
    if ((err as { error?: string }).error === 'RecordNotFound') return null
    throw err
  }
}

/** The subjects of the offers in `account`'s repo. */
async function offersIn(account: TestAccount): Promise<string[]> {
  const { data } = await account.agent.com.atproto.repo.listRecords({ repo: account.did, collection: NSID.offer })
  return data.records.map((r) => (r.value as { subject: string }).subject)
}

async function openOffers(page: Page): Promise<void> {
  await page.goto(ui!.link)
  await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
  await page.getByTestId('nav-offers').click()
  await expect.poll(() => page.getByTestId(`login-row-${bob.did}`).isVisible(), { timeout: 15_000 }).toBe(true)
}

describe('several accounts on one node, in the browser', () => {
  it('publishes from the account chosen in the switcher: Bob’s consent, then Alice’s offer', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await openOffers(page)
    const logins = (await api.call('auth.list')).map((l) => l.did)
    expect([...logins].sort()).toEqual([alice.did, bob.did].sort())

    // The switcher shows both accounts; Bob is chosen.
    const switcher = page.getByTestId('acting-account')
    await expect.poll(() => switcher.isVisible()).toBe(true)
    expect(await switcher.locator('option').allTextContents()).toEqual(expect.arrayContaining([alice.handle, bob.handle]))
    await switcher.selectOption(bob.did)
    await expect.poll(() => page.getByText(`Consent of ${bob.handle} to one-way archiving`).isVisible()).toBe(true)
    await page.getByTestId('consent-on').click()
    await expect.poll(() => recordIn(bob, NSID.consent, 'self'), { timeout: 15_000 }).not.toBeNull()
    expect(await recordIn(alice, NSID.consent, 'self')).toBeNull()
    expect(await page.getByTestId('offers-error').count()).toBe(0)

    // Alice is chosen: her offer to Carol goes to her repo, not Bob's.
    await switcher.selectOption(alice.did)
    await expect.poll(() => page.getByText(`Consent of ${alice.handle} to one-way archiving`).isVisible()).toBe(true)
    await page.getByTestId('offer-input').fill(carol.handle)
    await page.getByTestId('offer-submit').click()
    await expect.poll(() => offersIn(alice), { timeout: 15_000 }).toEqual([carol.did])
    expect(await offersIn(bob)).toEqual([])
    await expect.poll(() => page.getByTestId(`outgoing-${carol.did}`).textContent(), { timeout: 15_000 }).toContain(alice.handle)
    await page.screenshot({ path: artifactPath('switcher-offers.png'), fullPage: true })

    // The choice is kept across a reload (the window's session): nobody publishes as the other
    // account by surprise; the page says which account acts.
    await switcher.selectOption(logins[1]!)
    await page.reload()
    await expect.poll(() => page.getByTestId('acting-account').inputValue(), { timeout: 15_000 }).toBe(logins[1])
    const second = logins[1] === alice.did ? alice : bob
    expect(await page.getByText(`Consent of ${second.handle} to one-way archiving`).isVisible()).toBe(true)
    await context.close()
  }, 120_000)

  it('edits Carol’s archive policy inline, and the Accounts page says why she is held', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await openOffers(page)
    const row = page.getByTestId(`policy-archive:${carol.did}`)
    await expect.poll(() => row.isVisible(), { timeout: 15_000 }).toBe(true)
    await row.getByTestId('policy-edit').click()
    const form = page.getByTestId('policy-form')
    await form.getByTestId('policy-interval').fill('0.5')
    await form.getByTestId('policy-save').click()
    expect(await form.getByTestId('policy-interval-error').textContent()).toBe('The sync interval must be a number of minutes from 1 to 525,600, or empty for the default.')
    expect((await api.call('policies.list')).policies.find((p) => p.id === `archive:${carol.did}`)?.intervalSec).toBeNull()
    await page.screenshot({ path: artifactPath('switcher-policy-form.png'), fullPage: true })
    await form.getByTestId('policy-interval').fill('10')
    await expect.poll(() => form.getByTestId('policy-interval-error').count()).toBe(0)
    await form.getByTestId('policy-retention').fill('30')
    await form.getByTestId('policy-save').click()
    await expect.poll(() => page.getByTestId('policy-saved').textContent(), { timeout: 15_000 }).toMatch(/^Saved: syncs every 10 min/)
    await expect.poll(() => row.getByTestId('policy-interval-value').textContent(), { timeout: 15_000 }).toMatch(/^every 10 min/)
    expect((await api.call('policies.list')).effective.find((e) => e.did === carol.did)).toMatchObject({ intervalSec: 600, retentionDays: 30 })
    await page.screenshot({ path: artifactPath('switcher-policy-edit.png'), fullPage: true })

    // Carol's row and detail: an archive without her consent, said so with a tooltip.
    await page.getByTestId('nav-accounts').click()
    const holding = page.getByTestId(`account-row-${carol.did}`).getByTestId('account-holding')
    await expect.poll(() => holding.textContent(), { timeout: 15_000 }).toBe('Archive · no consent')
    await page.screenshot({ path: artifactPath('switcher-account-list.png'), fullPage: true })
    expect(await holding.getAttribute('data-kind')).toBe('archive')
    expect(await holding.getAttribute('data-consent')).toBe('unconsented')
    expect(await holding.getAttribute('title')).toContain("without the account's consent record")
    await page.getByTestId(`account-row-${carol.did}`).click()
    await expect.poll(() => page.getByTestId('account-detail').getByTestId('account-holding').textContent(), { timeout: 15_000 }).toBe('Archive · no consent')
    await page.screenshot({ path: artifactPath('switcher-account-holding.png'), fullPage: true })
    await context.close()
  }, 120_000)
})

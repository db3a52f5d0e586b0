// Browser mode, the agreements journey of issue 5: Bob logs in through his PDS's real OAuth pages
// (a tab the app opens), Alice's node offers to back him up, and Bob accepts in the Offers page;
// both nodes then hold each other's account. Everything is real: a local PLC + PDS in this
// process, Bob's `p2pds serve` as its own process, Alice's node in this process, Debian Chromium.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'
import { createAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { signInThroughPds } from '../core/testing/oauth-browser.js'
import { artifactPath, launchChromium, requireBuildAndChromium, startServe, stopServe, type ServeUi } from './helpers.js'

let net: TestNetwork
let dir: string
let ui: ServeUi | undefined
let aliceNode: P2pdsNode | undefined
let browser: Browser
let alice: TestAccount
let bob: TestAccount

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-offers-'))
  net = await startTestNetwork()
  browser = await launchChromium()
  alice = await createAccount(net, { handle: 'alice' })
  bob = await createAccount(net, { handle: 'bob' })
  ui = await startServe(join(dir, 'bob'), { ...net.env, SECRET_KEY_FILE: join(dir, 'bob-secret.key'), IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false' })
  const env = { ...net.env, DATA_DIR: join(dir, 'alice'), PORT: '0', SECRET_KEY_FILE: join(dir, 'alice-secret.key'), IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false' }
  aliceNode = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', schedule: { enabled: false } })
  await aliceNode.start()
  const appPassword = (await alice.agent.com.atproto.server.createAppPassword({ name: 'p2pds' })).data.password
  await aliceNode.api.auth.loginAppPassword({ identifier: alice.handle, password: appPassword })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await aliceNode?.stop()
  await stopServe(ui)
  await net?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('log in and agree, in the browser', () => {
  it('Bob logs in with OAuth in a new tab, then accepts Alice’s offer in the Offers page', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(ui!.link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    await page.getByTestId('nav-offers').click()
    await expect.poll(() => page.getByTestId('login-none').isVisible()).toBe(true)

    // Log in: the app opens the PDS's sign-in page in a new tab.
    await page.getByTestId('login-input').fill(bob.handle)
    const [tab] = await Promise.all([context.waitForEvent('page'), page.getByTestId('login-submit').click()])
    await tab.waitForURL((u) => u.toString().startsWith(net.pdsUrl), { timeout: 15_000 })
    const text = await signInThroughPds(tab, null, bob, `${ui!.origin}/oauth/callback`)
    expect(text).toContain(`Logged in to P2PDS as ${bob.handle}`)
    await tab.close()
    await expect.poll(() => page.getByTestId(`login-row-${bob.did}`).isVisible(), { timeout: 15_000 }).toBe(true)
    await page.screenshot({ path: artifactPath('offers-logged-in.png'), fullPage: true })

    // Alice's node offers; Bob's page shows it (pushed to his node, verified in Alice's repo).
    await aliceNode!.api.offers.offer({ target: bob.handle })
    const row = page.getByTestId(`incoming-${alice.did}`)
    await expect.poll(() => row.isVisible(), { timeout: 20_000 }).toBe(true)
    expect(await row.getByTestId('incoming-decision').textContent()).toBe('pending')
    await page.screenshot({ path: artifactPath('offers-incoming.png'), fullPage: true })

    await row.getByTestId('offer-accept').click()
    const agreement = page.getByTestId(`agreement-${alice.did}`)
    await expect.poll(() => agreement.getByTestId('agreement-state').textContent().catch(() => null), { timeout: 20_000 }).toBe('active')
    expect(await agreement.getByTestId('agreement-consent').textContent()).toBe('mutual offers')
    // The Policies panel: the agreement as a policy, and "is my data safe?" for Bob (one promised copy).
    const policy = page.getByTestId(`policy-reciprocal:${bob.did}:${alice.did}`)
    await expect.poll(() => policy.getByTestId('policy-state').textContent().catch(() => null), { timeout: 20_000 }).toBe('active')
    await expect.poll(() => page.getByTestId(`safety-${bob.did}`).getAttribute('data-safe').catch(() => null), { timeout: 20_000 }).toBe('true')
    expect(await page.getByTestId(`safety-${bob.did}`).textContent()).toContain('not yet verified by a challenge')
    await page.screenshot({ path: artifactPath('offers-agreement.png'), fullPage: true })

    // A group of Alice and Bob, made in the page: Bob's node holds Alice (held or verified), Alice promised Bob a copy.
    await page.getByTestId('group-name').fill('pair')
    await page.getByTestId('group-members').fill(`${alice.handle}, ${bob.handle}`)
    await page.getByTestId('group-create').click()
    const group = page.getByTestId('group-pair')
    await expect.poll(() => group.getByTestId(`holds-${bob.did}-${alice.did}`).textContent().catch(() => null), { timeout: 20_000 }).toMatch(/^(verified|held, not verified yet)$/)
    expect(await group.getByTestId(`holds-${alice.did}-${bob.did}`).textContent()).toBe('promised (agreement)')
    await page.screenshot({ path: artifactPath('offers-group.png'), fullPage: true })

    // Alice's node formed the agreement too (Bob's offer back was pushed) and holds Bob's repo.
    await expect
      .poll(async () => (await aliceNode!.api.accounts.list()).some((a) => a.did === bob.did && a.head !== null), { timeout: 30_000 })
      .toBe(true)
    expect((await aliceNode!.api.offers.list()).agreements).toContainEqual(expect.objectContaining({ did: bob.did, state: 'active', type: 'reciprocal' }))
    await context.close()
  }, 120_000)
})

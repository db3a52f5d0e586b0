// Browser mode: the Verification page adds a peer (a second real node holding the same account,
// reached over libp2p on loopback), challenges it, and shows its score, explanation, the detection
// figure and L0–L3 of the account. Real local PLC + PDS, `p2pds serve` as its own process, the
// second node in this process, the UI in Debian Chromium.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'
import { createAccount, populateAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { artifactPath, launchChromium, requireBuildAndChromium, runCli, startServe, stopServe, type ServeUi } from './helpers.js'

let net: TestNetwork
let dirA: string
let dirB: string
let ui: ServeUi | undefined
let browser: Browser
let alice: TestAccount
let peerB: P2pdsNode

const LOOPBACK_P2P = { LISTEN_ADDRS: '/ip4/127.0.0.1/tcp/0' }

beforeAll(async () => {
  requireBuildAndChromium()
  dirA = mkdtempSync(join(tmpdir(), 'p2pds-e2e-verify-a-'))
  dirB = mkdtempSync(join(tmpdir(), 'p2pds-e2e-verify-b-'))
  net = await startTestNetwork()
  browser = await launchChromium()
  alice = await createAccount(net, { handle: 'alice' })
  await populateAccount(alice, { posts: 10 })
  peerB = await createNode({
    config: loadConfig({ env: { ...net.env, ...LOOPBACK_P2P, DATA_DIR: dirB, PORT: '0' }, cwd: dirB }),
    host: 'test',
    listen: false,
    schedule: { enabled: false },
  })
  await peerB.start()
  await peerB.api.accounts.add({ handleOrDid: alice.did })
  await peerB.api.accounts.sync({ did: alice.did })
  ui = await startServe(dirA, { ...net.env, ...LOOPBACK_P2P })
  const backup = runCli(['backup', alice.did, '--data-dir', dirA], { ...net.env })
  expect(await backup.exited).toBe(0)
})

afterAll(async () => {
  await browser?.close()
  await stopServe(ui)
  await peerB?.stop()
  await net?.close()
  for (const d of [dirA, dirB]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
})

describe('verification page (browser mode)', () => {
  it('adds a peer, challenges it, and shows its score, explanation, detection figure and L0–L3', async () => {
    const addr = (await peerB.api.node.info()).network!.multiaddrs.find((a) => a.startsWith('/ip4/127.0.0.1/'))!
    const page = await browser.newPage()
    await page.goto(ui!.link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    await page.getByTestId('nav-verification').click()
    await expect.poll(() => page.getByTestId('detection').textContent(), { timeout: 15_000 }).toContain('99.97%')
    expect(await page.getByTestId('peers-empty').isVisible()).toBe(true)

    await page.getByTestId('peer-address').fill(addr)
    await page.getByTestId('peer-did').fill(alice.did)
    await page.getByTestId('peer-add').click()
    const row = page.getByTestId('peer-row-1')
    await expect.poll(() => row.getByTestId('peer-health').textContent(), { timeout: 15_000 }).toContain('not challenged')

    await row.getByTestId('peer-challenge').click()
    await expect.poll(() => page.getByTestId('challenge-message').textContent(), { timeout: 30_000 }).toContain('Passed: L2 and L3')
    await expect.poll(() => row.getByTestId('peer-health').textContent(), { timeout: 15_000 }).toContain('ok')
    // The L2 and L3 results reach the page one after the other.
    await expect.poll(() => row.getByTestId('peer-explanation').textContent(), { timeout: 15_000 }).toContain('Passed 2 of the last 2 challenges')
    expect(await row.getByTestId('peer-score').textContent()).toContain('100%')
    expect(await row.getByTestId('peer-detection').textContent()).toContain('99.97%')
    const levels = page.getByTestId(`levels-${alice.did}`)
    await expect.poll(() => levels.getByTestId('level-L2').textContent(), { timeout: 15_000 }).toContain('ok')
    expect(await levels.getByTestId('level-L3').textContent()).toContain('ok')
    await page.screenshot({ path: artifactPath('browser-verification.png'), fullPage: true })

    // A bad address is refused with a sentence, and nothing is added.
    await page.getByTestId('peer-address').fill('/ip4/127.0.0.1/tcp/1')
    await page.getByTestId('peer-add').click()
    await expect.poll(() => page.locator('.add-peer .warn-text').textContent(), { timeout: 10_000 }).toContain('/p2p/')
    expect(await page.getByTestId('peer-row-2').count()).toBe(0)
    await page.close()
  }, 120_000)
})

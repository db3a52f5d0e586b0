// Browser mode, the backup journey of issue 3: add an account by handle, watch it sync, browse a
// post with its image (from local blobs), export a CAR. Everything is real: a local PLC + PDS in
// this process, `p2pds serve` as its own process, the UI in Debian Chromium.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inflateSync } from 'node:zlib'
import { verifyRepoCar } from '@atproto/repo'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIdentityResolver, identityResolverInit } from '../core/identity/index.js'
import { createAccount, populateAccount, type CreatedPost, type PopulatedAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { artifactPath, launchChromium, requireBuildAndChromium, startServe, stopServe, type ServeUi } from './helpers.js'

/** Size of the post images, unlike the builder's default so a wrong image cannot pass by chance. */
const IMAGE = { width: 240, height: 160 }
const AVATAR = { width: 128, height: 128 }
const BANNER = { width: 300, height: 100 }

let net: TestNetwork
let dir: string
let ui: ServeUi | undefined
let browser: Browser
let alice: PopulatedAccount

beforeAll(async () => {
  requireBuildAndChromium()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-backup-'))
  // Each result is kept as soon as it exists, so afterAll stops it even when its sibling failed.
  await allDone([startTestNetwork().then((n) => (net = n)), launchChromium().then((b) => (browser = b))])
  // The node starts while alice's content is written: it needs only the network's addresses.
  await allDone([
    createAccount(net, { handle: 'alice' })
      .then((account) =>
        populateAccount(account, {
          profile: { avatar: AVATAR, banner: BANNER },
          posts: 20,
          imagePosts: 3,
          imagesPerPost: 2,
          imageSize: IMAGE,
          threadReplies: 4,
          seed: 7000,
        }),
      )
      .then((p) => (alice = p)),
    startServe(dir, { ...net.env }).then((u) => (ui = u)),
  ])
})

afterAll(async () => {
  await browser?.close()
  await stopServe(ui, 'SIGKILL')
  await net?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Waits for every promise (none is left running), then rejects with the first failure, if any. */
async function allDone(promises: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

/** Every record the PDS lists for `did`, as `collection/rkey` → record CID. */
async function listPdsRecords(pdsUrl: string, did: string): Promise<Map<string, string>> {
  const xrpc = async <T>(method: string, params: Record<string, string>): Promise<T> => {
    const res = await fetch(`${pdsUrl}/xrpc/${method}?${new URLSearchParams(params)}`)
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const { collections } = await xrpc<{ collections: string[] }>('com.atproto.repo.describeRepo', { repo: did })
  const out = new Map<string, string>()
  for (const collection of collections) {
    let cursor: string | undefined
    do {
      const page = await xrpc<{ records: Array<{ uri: string; cid: string }>; cursor?: string }>('com.atproto.repo.listRecords', {
        repo: did,
        collection,
        limit: '100',
        ...(cursor === undefined ? {} : { cursor }),
      })
      for (const r of page.records) out.set(`${collection}/${r.uri.split('/').pop()}`, r.cid)
      cursor = page.records.length === 0 ? undefined : page.cursor
    } while (cursor !== undefined)
  }
  return out
}

function rkeyOf(uri: string): string {
  return uri.split('/').pop()!
}

/**
 * The RGB pixels of a PNG from `makeTestPng` (8-bit RGB, one IDAT chunk, filter 0 on every row,
 * as that function writes them), row after row without the filter bytes.
 */
function testPngPixels(png: Uint8Array): Buffer {
  const buf = Buffer.from(png)
  const width = buf.readUInt32BE(16)
  let at = 8
  for (;;) {
    const length = buf.readUInt32BE(at)
    if (buf.toString('latin1', at + 4, at + 8) === 'IDAT') {
      const raw = inflateSync(buf.subarray(at + 8, at + 8 + length))
      const stride = 1 + width * 3
      const rows: Buffer[] = []
      for (let row = 0; row < raw.length; row += stride) rows.push(raw.subarray(row + 1, row + stride))
      return Buffer.concat(rows)
    }
    at += 12 + length
  }
}

/**
 * Natural widths of the `<img>`s with a test id, once `count` of them have loaded (a blob still
 * loading is a placeholder without the test id; 0 for an image that failed to decode).
 */
async function imageWidths(page: Page, testId: string, count: number): Promise<number[]> {
  const images = page.getByTestId(testId)
  const loaded = () => images.evaluateAll((els) => els.filter((e) => e instanceof HTMLImageElement && e.complete).length)
  await expect.poll(loaded, { timeout: 10_000 }).toBe(count)
  return images.evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth))
}

describe('browser mode: backing up an account', () => {
  it('adds an account by handle, shows its sync, browses a post with its image and exports a verified CAR', async () => {
    const started = Date.now()
    const timings: Record<string, number> = {}
    const mark = (name: string) => (timings[name] = Date.now() - started)
    const { did, handle } = alice
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })

    // --- Accounts: add alice by handle ---------------------------------------------------------
    await page.goto(ui!.link)
    await expect.poll(() => page.getByTestId('node-state').textContent(), { timeout: 15_000 }).toBe('Running')
    await page.getByTestId('nav-accounts').click()
    await expect.poll(() => page.getByTestId('page-accounts').isVisible()).toBe(true)

    // The first sync of a small repo can finish between two frames, so progress is recorded
    // when it shows but never waited for: the test only requires the account to end up to date.
    await page.evaluate(() => {
      // Each distinct state the badge and bar go through, e.g. `syncing/repo`, `ok/-`.
      const seen = { progress: false, syncing: false, states: [] as string[] }
      ;(globalThis as unknown as { __seen: typeof seen }).__seen = seen
      const look = () => {
        const bar = document.querySelector('[data-testid="sync-progress"]')
        const status = document.querySelector('[data-testid="account-status"]')?.getAttribute('data-status') ?? null
        if (bar !== null) seen.progress = true
        if (status === 'syncing') seen.syncing = true
        const state = `${status ?? '-'}/${bar?.getAttribute('data-phase') ?? '-'}`
        if (status !== null && seen.states.at(-1) !== state) seen.states.push(state)
      }
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-status', 'data-phase'] })
    })
    await page.getByTestId('add-account-input').fill(handle)
    await page.getByTestId('add-account-submit').click()
    const row = page.getByTestId(`account-row-${did}`)
    await expect.poll(() => row.isVisible(), { timeout: 10_000 }).toBe(true)
    mark('added')
    const rowStatus = row.getByTestId('account-status')
    await expect.poll(() => rowStatus.getAttribute('data-status'), { timeout: 20_000, interval: 50 }).toBe('ok')
    expect(await rowStatus.textContent()).toBe('Up to date')
    mark('upToDate')
    const seen = await page.evaluate(() => (globalThis as unknown as { __seen: { progress: boolean; syncing: boolean; states: string[] } }).__seen)
    await page.screenshot({ path: artifactPath('backup-ui-accounts.png'), fullPage: true })

    // --- Account detail: counts match what the PDS lists ---------------------------------------
    const pdsRecords = await listPdsRecords(net.pdsUrl, did)
    expect(pdsRecords.size).toBe(1 + 20 + 3 + 4)
    const perCollection = new Map<string, number>()
    for (const key of pdsRecords.keys()) {
      const nsid = key.slice(0, key.lastIndexOf('/'))
      perCollection.set(nsid, (perCollection.get(nsid) ?? 0) + 1)
    }

    await row.click()
    const detail = page.getByTestId('account-detail')
    await expect.poll(() => detail.getByTestId('head-rev').isVisible(), { timeout: 10_000 }).toBe(true)
    const stat = (label: string) => detail.locator('.stat').filter({ has: page.locator('.stat-label', { hasText: new RegExp(`^${label}$`) }) }).locator('.stat-value')
    expect(await stat('Records').textContent()).toBe(String(pdsRecords.size))
    expect(await stat('Blobs stored').textContent()).toBe(String(alice.blobs.length))
    for (const [nsid, count] of perCollection) {
      expect(await detail.getByTestId(`collection-${nsid}`).locator('.count').textContent(), nsid).toBe(String(count))
    }
    await page.screenshot({ path: artifactPath('backup-ui-account-detail.png'), fullPage: true })

    // --- Record browser: the profile with avatar and banner ------------------------------------
    await detail.getByTestId('browse-records').click()
    const browserView = page.getByTestId('record-browser')
    await expect.poll(() => browserView.getByTestId('collection-app.bsky.feed.post').isVisible(), { timeout: 10_000 }).toBe(true)
    await page.screenshot({ path: artifactPath('backup-ui-records.png'), fullPage: true })
    await browserView.getByTestId('collection-app.bsky.actor.profile').click()
    await browserView.getByTestId('record-self').click()
    await expect.poll(() => page.getByTestId('profile-name').textContent(), { timeout: 10_000 }).toBe('Alice')
    expect(await imageWidths(page, 'profile-avatar', 1)).toEqual([AVATAR.width])
    expect(await imageWidths(page, 'profile-banner', 1)).toEqual([BANNER.width])
    await page.screenshot({ path: artifactPath('backup-ui-profile.png'), fullPage: true })

    // --- A post with two images, from local blobs ----------------------------------------------
    const post: CreatedPost = alice.posts.find((p) => p.images.length === 2)!
    await page.locator('nav.crumbs').getByRole('link', { name: 'Records' }).click()
    await browserView.getByTestId('collection-app.bsky.feed.post').click()
    const listed = browserView.getByTestId(`record-${rkeyOf(post.uri)}`)
    await expect.poll(() => listed.isVisible(), { timeout: 10_000 }).toBe(true)
    await listed.click()
    await expect.poll(() => page.getByTestId('post-text').textContent(), { timeout: 10_000 }).toBe(post.text)
    await expect.poll(() => page.getByTestId('post-image').count(), { timeout: 10_000 }).toBe(2)
    expect(await page.getByTestId('post-image').evaluateAll((els) => els.map((e) => e.tagName))).toEqual(['IMG', 'IMG'])
    expect(await imageWidths(page, 'post-image', 2)).toEqual([IMAGE.width, IMAGE.width])
    // The images shown are the uploaded ones, in the post's order: same pixels (the page's CSP
    // keeps `fetch` off blob: URLs, so the pixels are read back through a canvas).
    const shown = await page.getByTestId('post-image').evaluateAll(async (els) =>
      Promise.all(
        els.map(async (e) => {
          const img = e as HTMLImageElement
          const canvas = document.createElement('canvas')
          canvas.width = img.naturalWidth
          canvas.height = img.naturalHeight
          const ctx = canvas.getContext('2d')!
          ctx.drawImage(img, 0, 0)
          const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data
          const rgb = new Uint8Array((rgba.length / 4) * 3)
          for (let px = 0; px < rgba.length / 4; px++) rgb.set(rgba.subarray(px * 4, px * 4 + 3), px * 3)
          const digest = await crypto.subtle.digest('SHA-256', rgb)
          return `${img.src.slice(0, 5)}${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')}`
        }),
      ),
    )
    expect(shown).toEqual(post.images.map((i) => `blob:${createHash('sha256').update(testPngPixels(i.bytes)).digest('hex')}`))
    await page.getByTestId('raw-json-toggle').click()
    const raw = (await page.getByTestId('raw-json').textContent()) ?? ''
    for (const image of post.images) expect(raw).toContain(`"$link": "${image.cid}"`)
    await page.screenshot({ path: artifactPath('backup-ui-post.png'), fullPage: true })
    mark('browsed')

    // --- Export a CAR as a download and verify it ----------------------------------------------
    await page.locator('nav.crumbs').getByRole('link', { name: handle }).click()
    await expect.poll(() => detail.getByTestId('export-car').isEnabled(), { timeout: 10_000 }).toBe(true)
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), detail.getByTestId('export-car').click()])
    const name = download.suggestedFilename()
    expect(name).toMatch(/\.car$/)
    const carPath = join(dir, name)
    await download.saveAs(carPath)
    await expect.poll(() => detail.getByTestId('export-result').textContent(), { timeout: 10_000 }).toContain(name)
    expect(await detail.getByTestId('export-result').getAttribute('data-ok')).toBe('true')
    mark('exported')

    const identity = await createIdentityResolver(identityResolverInit({ plcUrl: net.plcUrl, handleResolverUrl: net.pdsUrl, allowPrivateNetwork: true })).resolve(did)
    const verified = await verifyRepoCar(new Uint8Array(readFileSync(carPath)), did, identity.signingKey)
    const inCar = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
    expect(inCar).toEqual(pdsRecords)

    expect(errors).toEqual([])
    await page.close()

    // --- The node stops cleanly ----------------------------------------------------------------
    ui!.serve.child.kill('SIGTERM')
    expect(await ui!.serve.exited).toBe(0)
    mark('stopped')
    console.info(`backup-ui journey: ${JSON.stringify({ timingsMs: timings, progressSeen: seen })}`)
  }, 60_000)
})

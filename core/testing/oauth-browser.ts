/**
 * Completes a real OAuth login through the local PDS's sign-in and consent pages in headless
 * Chromium (Debian's, driven by playwright-core), as a user would in their browser.
 */
import { chromium, type Browser, type Page } from 'playwright-core'

/** Debian's Chromium (override with CHROMIUM_PATH). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Starts headless Chromium with the flags these machines need. */
export function launchTestBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  })
}

/**
 * Opens `authorizationUrl` in `page` (null: the page is already on its way there, e.g. a tab the
 * app opened), signs in with `password` (the handle is filled in when the page asks for it) and
 * authorizes; resolves with the text of the node's callback page.
 */
export async function signInThroughPds(page: Page, authorizationUrl: string | null, account: { handle: string; password: string }, callbackPrefix: string): Promise<string> {
  if (authorizationUrl !== null) await page.goto(authorizationUrl)
  const username = page.locator('input[name=username]')
  await username.waitFor({ timeout: 15_000 })
  if ((await username.inputValue()) === '') await username.fill(account.handle)
  await page.locator('input[type=password]').fill(account.password)
  await page.locator('button[type=submit]').first().click()
  const authorize = page.getByRole('button', { name: /authorize/i })
  await Promise.race([
    authorize.waitFor({ timeout: 15_000 }).then(() => authorize.click()),
    page.waitForURL((u) => u.toString().startsWith(callbackPrefix), { timeout: 15_000 }),
  ])
  await page.waitForURL((u) => u.toString().startsWith(callbackPrefix), { timeout: 15_000 })
  return page.locator('body').innerText()
}

/**
 * Hash routing without a library: `#/accounts` shows the Accounts page.
 *
 * Only fragments starting with `#/` are routes. Browser mode is first opened at
 * `http://127.0.0.1:PORT/#secret=...`; the bridge script consumes and clears that fragment, but a
 * fragment that is not a route is ignored either way, never treated as "page not found".
 */

/** Every page of the app, in sidebar order. */
export const PAGES = ['overview', 'accounts', 'offers', 'verification', 'identity', 'lexicons', 'settings'] as const

export type Page = (typeof PAGES)[number]

/** The page shown when the fragment names none. */
export const HOME: Page = 'overview'

/** Sidebar label of each page. */
export const PAGE_TITLES: Record<Page, string> = {
  overview: 'Overview',
  accounts: 'Accounts',
  offers: 'Offers',
  verification: 'Verification',
  identity: 'Identity',
  lexicons: 'Lexicons',
  settings: 'Settings',
}

export interface Route {
  page: Page
  /** Path segments after the page, decoded (`#/accounts/did:plc:x` → `['did:plc:x']`). */
  params: string[]
}

function isPage(s: string): s is Page {
  return (PAGES as readonly string[]).includes(s)
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * The route a fragment names, or null when the fragment is something else (`#secret=...`).
 * No fragment and `#/` are the home page (going back to the page as first opened lands there);
 * an unknown page is the home page too (links from older versions).
 */
export function parseRoute(hash: string): Route | null {
  if (hash === '' || hash === '#') return { page: HOME, params: [] }
  if (!hash.startsWith('#/')) return null
  const path = hash.slice(2).split(/[?#]/, 1)[0] ?? ''
  const [first = '', ...rest] = path.split('/').filter((s) => s !== '')
  const page = first.toLowerCase()
  if (!isPage(page)) return { page: HOME, params: [] }
  return { page, params: rest.map(decode) }
}

/** The fragment of a page, for `href`. */
export function hrefFor(page: Page, ...params: string[]): string {
  return ['#', page, ...params.map(encodeURIComponent)].join('/')
}

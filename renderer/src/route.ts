/**
 * Hash routing without a library: `#/accounts` shows the Accounts page.
 *
 * Only fragments starting with `#/` are routes. Browser mode is first opened at
 * `http://127.0.0.1:PORT/#secret=...`; the bridge script consumes and clears that fragment, but a
 * fragment that is not a route is ignored either way, never treated as "page not found".
 */

/** Every page of the app, in sidebar order. */
export const PAGES = ['overview', 'accounts', 'offers', 'verification', 'identity', 'recovery', 'lexicons', 'settings'] as const

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
  recovery: 'Recovery',
  lexicons: 'Lexicons',
  settings: 'Settings',
}

export interface Route {
  page: Page
  /** Path segments after the page, decoded (`#/accounts/did:plc:x` → `['did:plc:x']`). */
  params: string[]
  /** The query after the path, decoded (`#/accounts/x/records?rev=3l…` → `{ rev: '3l…' }`). */
  query: Record<string, string>
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
  if (hash === '' || hash === '#') return { page: HOME, params: [], query: {} }
  if (!hash.startsWith('#/')) return null
  const rest = hash.slice(2)
  const path = rest.split(/[?#]/, 1)[0] ?? ''
  const [first = '', ...segments] = path.split('/').filter((s) => s !== '')
  const page = first.toLowerCase()
  if (!isPage(page)) return { page: HOME, params: [], query: {} }
  return { page, params: segments.map(decode), query: parseQuery(rest.slice(path.length)) }
}

/** `?a=1&b=x%3Ay` (up to a nested `#`) → `{ a: '1', b: 'x:y' }`; the first value of a name wins. */
function parseQuery(tail: string): Record<string, string> {
  const query: Record<string, string> = {}
  if (!tail.startsWith('?')) return query
  const text = tail.slice(1).split('#', 1)[0] ?? ''
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = decode(eq === -1 ? pair : pair.slice(0, eq))
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1).replaceAll('+', ' '))
    if (name !== '' && !Object.hasOwn(query, name)) query[name] = value
  }
  return query
}

/** The fragment of a page, for `href`. */
export function hrefFor(page: Page, ...params: string[]): string {
  return ['#', page, ...params.map(encodeURIComponent)].join('/')
}

/** A fragment with a query; entries whose value is null or undefined are left out. */
export function hrefWithQuery(href: string, query: Record<string, string | null | undefined>): string {
  const pairs = Object.entries(query)
    .filter((e): e is [string, string] => e[1] !== null && e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
  return pairs.length === 0 ? href : `${href}?${pairs.join('&')}`
}

/** Where the Accounts page is: the list, one account, or its records (at the head or a kept rev). */
export type AccountsView =
  | { view: 'list' }
  | { view: 'account'; did: string }
  | {
      view: 'records'
      did: string
      /** null: the list of collections. */
      collection: string | null
      /** null: the records of the collection. */
      rkey: string | null
      /** null: the head. */
      rev: string | null
    }

/**
 * Reads the Accounts page's sub-route:
 * `#/accounts` · `#/accounts/<did>` · `#/accounts/<did>/records[/<collection>[/<rkey>]][?rev=<rev>]`.
 * Every segment is percent-encoded by the links we build; a DID's own `:` may also appear as is.
 */
export function accountsView(route: Pick<Route, 'params' | 'query'>): AccountsView {
  const [did, section, collection, rkey] = route.params
  if (did === undefined || did === '') return { view: 'list' }
  if (section !== 'records') return { view: 'account', did }
  const rev = route.query.rev
  return {
    view: 'records',
    did,
    collection: collection ?? null,
    rkey: collection === undefined ? null : (rkey ?? null),
    rev: rev === undefined || rev === '' ? null : rev,
  }
}

/** Link to an account's page. */
export function accountHref(did: string): string {
  return hrefFor('accounts', did)
}

/** Link into the record browser; leave out `collection` for the list of collections, `rev` for the head. */
export function recordsHref(at: { did: string; collection?: string | null; rkey?: string | null; rev?: string | null }): string {
  const path = [at.did, 'records']
  if (at.collection !== undefined && at.collection !== null) {
    path.push(at.collection)
    if (at.rkey !== undefined && at.rkey !== null) path.push(at.rkey)
  }
  return hrefWithQuery(hrefFor('accounts', ...path), { rev: at.rev })
}

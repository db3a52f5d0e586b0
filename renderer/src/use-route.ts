import { useSyncExternalStore } from 'react'
import { HOME, parseRoute, type Route } from './route.js'

// The last route named by the fragment. A fragment that is not a route (`#secret=...`) leaves it
// as it was, so the page never jumps away because of one. The same route keeps the same object,
// so components depending on it do not re-run their effects.
let current: Route = { page: HOME, params: [], query: {} }
let currentKey = key(current)

function key(r: Route): string {
  return JSON.stringify([r.page, r.params, Object.entries(r.query).sort()])
}

function snapshot(): Route {
  const next = parseRoute(window.location.hash)
  if (next !== null) {
    const nextKey = key(next)
    if (nextKey !== currentKey) {
      current = next
      currentKey = nextKey
    }
  }
  return current
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange)
  return () => window.removeEventListener('hashchange', onChange)
}

/** The page the location's fragment names. */
export function useRoute(): Route {
  return useSyncExternalStore(subscribe, snapshot)
}

/** Goes to a fragment built by `hrefFor` and friends (adds a history entry, like a link). */
export function navigate(href: string): void {
  window.location.hash = href.startsWith('#') ? href.slice(1) : href
}

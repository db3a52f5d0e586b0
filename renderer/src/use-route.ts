import { useSyncExternalStore } from 'react'
import { HOME, parseRoute, type Route } from './route.js'

// The last route named by the fragment. A fragment that is not a route (`#secret=...`) leaves it
// as it was, so the page never jumps away because of one.
let current: Route = { page: HOME, params: [] }

function snapshot(): Route {
  const next = parseRoute(window.location.hash)
  if (next !== null && (next.page !== current.page || next.params.join('/') !== current.params.join('/'))) current = next
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

/**
 * Browser-mode bridge, served by the node at `/bridge.js` and loaded by the renderer's page before
 * its own scripts: sets `window.p2pds` (the same contract as the Electron preload) over the local
 * API. Bundled to `dist/preload/browser.js` (IIFE) by `scripts/build-preload.mjs`.
 *
 * The page is opened as `http://127.0.0.1:PORT/#secret=…` (printed by `p2pds serve`). The secret is
 * moved to session storage and removed from the address bar at once.
 *
 * Connection state of the event stream is announced as a `p2pds:connection` CustomEvent on
 * `window` (detail `{ connected, message? }`), and the latest one is readable as
 * `window.p2pdsConnection`, for a page that starts listening late.
 */
import { createBrowserBridge, takeSecret, type ConnectionState } from './browser-bridge.js'

const secret = takeSecret(window.location, safeSessionStorage(), (url) => window.history.replaceState(window.history.state, '', url))

const browserBridge = createBrowserBridge({
  origin: window.location.origin,
  secret,
  onConnection: (state: ConnectionState) => {
    const detail = Object.freeze({ ...state })
    Object.defineProperty(window, 'p2pdsConnection', { value: detail, configurable: true, enumerable: false, writable: false })
    window.dispatchEvent(new CustomEvent<ConnectionState>('p2pds:connection', { detail }))
  },
})

Object.defineProperty(window, 'p2pds', { value: browserBridge.bridge, configurable: false, enumerable: true, writable: false })

function safeSessionStorage(): Storage | null {
  try {
    return window.sessionStorage
  } catch {
    // Storage blocked by the browser's settings.
    return null
  }
}

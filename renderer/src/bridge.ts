/**
 * Finding `window.p2pds`. In Electron the preload defines it before the page loads. In browser
 * mode (the page served by the node's local API) it does not exist yet: the same-origin script
 * `./bridge.js` defines it, and also consumes the `#secret=...` fragment the page was opened with.
 */
import type { P2pdsBridge } from '../../core/api.js'

declare global {
  interface Window {
    /** The node's API, from the Electron preload or browser-mode `bridge.js`. */
    p2pds?: P2pdsBridge
  }
}

/** The bridge could not be found or loaded; the page cannot reach the node. */
export class BridgeUnavailableError extends Error {
  override name = 'BridgeUnavailableError'
  readonly code = 'ERR_BRIDGE_UNAVAILABLE'
}

/** Where the bridge lives. */
export interface BridgeTarget {
  p2pds?: P2pdsBridge | undefined
}

export interface EnsureBridgeOptions {
  /** Loads a script by URL; resolves once it has run. */
  loadScript(src: string): Promise<void>
  /** @default './bridge.js' */
  src?: string
}

/** The bridge, loading `bridge.js` first when the host did not provide one. */
export async function ensureBridge(target: BridgeTarget, options: EnsureBridgeOptions): Promise<P2pdsBridge> {
  if (target.p2pds !== undefined) return target.p2pds
  const src = options.src ?? './bridge.js'
  try {
    await options.loadScript(src)
  } catch (err) {
    throw new BridgeUnavailableError(`Could not load ${src}.`, { cause: err })
  }
  if (target.p2pds === undefined) throw new BridgeUnavailableError(`${src} loaded but did not define window.p2pds.`)
  return target.p2pds
}

/** Adds a `<script src>` to the document and waits for it to run (or fail, or time out). */
export function loadScriptElement(doc: Document, src: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const script = doc.createElement('script')
    const timer = setTimeout(() => reject(new Error(`Timed out loading ${src}.`)), timeoutMs)
    script.src = src
    script.async = false
    script.addEventListener('load', () => {
      clearTimeout(timer)
      resolve()
    })
    script.addEventListener('error', () => {
      clearTimeout(timer)
      reject(new Error(`Failed to load ${src}.`))
    })
    doc.head.append(script)
  })
}

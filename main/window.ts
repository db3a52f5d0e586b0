/**
 * The main window's security baseline and the guards on its web contents. Pure functions carry
 * the decisions (tested under plain Node); `hardenWebContents` wires them to Electron.
 *
 * Only types come from 'electron' here; the caller passes `shell.openExternal`.
 */
import type { BrowserWindowConstructorOptions, WebContents } from 'electron'
import { UI_CSP } from '../core/server/ui-server.js'
import { isTrustedSenderUrl } from './ipc.js'

/** Options of the main window: isolated, sandboxed, no Node in the page. */
export function windowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1120,
    height: 760,
    minWidth: 720,
    minHeight: 480,
    title: 'P2PDS',
    // Shown on 'ready-to-show', so the window never flashes empty.
    show: false,
    backgroundColor: '#ffffff',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      // Timers and animation slow down while the window is hidden (Electron's default, kept on purpose).
      backgroundThrottling: true,
    },
  }
}

/**
 * Whether a URL may be handed to the system browser: `https:` only, with a host and without
 * credentials. Everything else (`http:`, `file:`, `javascript:`, custom schemes that launch local
 * programs) stays closed.
 */
export function isSafeExternalUrl(url: string): boolean {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return false
  }
  return u.protocol === 'https:' && u.hostname !== '' && u.username === '' && u.password === ''
}

/** Permissions the page may use without asking: copying text (a DID, a CID) to the clipboard. */
const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write'])

/** Whether the page may use a permission. Every request that would prompt is refused. */
export function isAllowedPermission(permission: string): boolean {
  return ALLOWED_PERMISSIONS.has(permission)
}

/** Response headers with the UI's Content-Security-Policy, replacing any the response had. */
export function withCsp(headers: Record<string, string[]> | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'content-security-policy') out[name] = value
  }
  out['Content-Security-Policy'] = [UI_CSP]
  return out
}

/**
 * Locks the window's web contents to the app page at `appUrl` (a `file:` URL):
 * no new windows (https links go to the system browser), no navigation or redirect elsewhere,
 * no webviews, no permission prompts, and the UI's CSP on every response.
 *
 * CSP headers only reach http(s) responses; a `file:` page must also carry the policy in a
 * `<meta http-equiv="Content-Security-Policy">` of its own.
 */
export function hardenWebContents(wc: WebContents, appUrl: string, openExternal: (url: string) => Promise<void>): void {
  const openOutside = (url: string): void => {
    if (!isSafeExternalUrl(url)) return
    openExternal(url).catch((err: unknown) => console.error('p2pds: could not open', url, err))
  }

  wc.setWindowOpenHandler(({ url }) => {
    openOutside(url)
    return { action: 'deny' }
  })

  wc.on('will-navigate', (event) => {
    if (isTrustedSenderUrl(event.url, appUrl)) return
    event.preventDefault()
    openOutside(event.url)
  })

  wc.on('will-redirect', (event) => {
    if (isTrustedSenderUrl(event.url, appUrl)) return
    event.preventDefault()
  })

  wc.on('will-attach-webview', (event) => event.preventDefault())

  const session = wc.session
  session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false))
  session.setPermissionCheckHandler((_wc, permission) => isAllowedPermission(permission))
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: withCsp(details.responseHeaders) })
  })
}

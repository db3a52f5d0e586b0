/**
 * The browser-mode transport: the same `window.p2pds` as in Electron, over the node's local API
 * (`POST /api/<method>` and the `GET /api/events` Server-Sent Events stream, both with the
 * per-launch secret as a bearer token). `preload/browser.ts` wires it to `window`; this file takes
 * everything it touches as parameters so tests can run it against a real node.
 */
import { ApiCallError, type ApiResult, type ErrorDto, type ExportResultDto, type HostSettingsDto, type P2pdsBridge, type P2pdsHostApi } from '../core/api.js'
import { createBridge, createEventHub } from './bridge.js'
import { createSseParser } from '../core/server/sse-parser.js'

/** Where the secret is kept for the tab's lifetime, so reloads keep working. */
export const SECRET_STORAGE_KEY = 'p2pds.secret'

/** Whether the event stream is connected; sent as the `p2pds:connection` window event. */
export interface ConnectionState {
  connected: boolean
  /** What went wrong and what to do, when not connected. */
  message?: string
}

const NO_SECRET: ErrorDto = {
  name: 'ApiCallError',
  code: 'ERR_UNAUTHORIZED',
  message: 'This page has no access secret: open the URL printed by `p2pds serve` (it ends in #secret=…).',
}

const STALE_SECRET: ErrorDto = {
  name: 'ApiCallError',
  code: 'ERR_UNAUTHORIZED',
  message: 'The node refused this page’s access secret (it changes on every start): open the URL printed by `p2pds serve` again.',
}

const UNREACHABLE: ErrorDto = {
  name: 'ApiCallError',
  code: 'ERR_NODE_UNREACHABLE',
  message: 'The P2PDS node is not reachable: check that `p2pds serve` is still running, then try again.',
}

/**
 * Takes the secret from `#secret=…` (storing it in session storage and removing it from the
 * address bar, history included), or else from session storage. Returns null when there is none.
 */
export function takeSecret(
  location: { hash: string; pathname: string; search: string },
  storage: Pick<Storage, 'getItem' | 'setItem'> | null,
  replaceUrl: (url: string) => void,
): string | null {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''))
  const fromHash = params.get('secret')
  if (fromHash !== null && fromHash !== '') {
    try {
      storage?.setItem(SECRET_STORAGE_KEY, fromHash)
    } catch {
      // Storage disabled: the secret still works until the page is reloaded.
    }
    params.delete('secret')
    const rest = params.toString()
    replaceUrl(location.pathname + location.search + (rest === '' ? '' : `#${rest}`))
    return fromHash
  }
  try {
    const stored = storage?.getItem(SECRET_STORAGE_KEY) ?? null
    return stored === '' ? null : stored
  } catch {
    return null
  }
}

/** What the browser host can do for Settings: neither login items nor the file manager. */
export const BROWSER_HOST_SETTINGS: HostSettingsDto = Object.freeze({
  launchAtLogin: Object.freeze({
    supported: false,
    enabled: false,
    reason: 'Only the desktop app can open at login; in browser mode, start `p2pds serve` with your system (a systemd unit, launchd agent or scheduled task).',
  }),
  canOpenDataFolder: false,
})

function desktopOnly(what: string): ErrorDto {
  return { name: 'ApiCallError', code: 'ERR_NOT_SUPPORTED', message: `${what} needs the desktop app; in browser mode, do it on the computer running p2pds serve.` }
}

export interface BrowserBridgeInit {
  /** Origin of the local API, e.g. `location.origin`. */
  origin: string
  /** The per-launch secret, or null when the page was opened without one. */
  secret: string | null
  /** @default globalThis.fetch */
  fetch?: typeof fetch
  /** Called when the event stream connects or fails (only on change). */
  onConnection?: (state: ConnectionState) => void
  /** First reconnection delay, doubled up to `maxRetryMs`. @default 500 */
  minRetryMs?: number
  /** @default 15000 */
  maxRetryMs?: number
  /**
   * Hands a finished download to the user (the host's save step). @default an `<a download>` click
   */
  saveFile?: (blob: Blob, filename: string) => void
  /**
   * A stream silent for this long is dropped and reopened (the node sends a keep-alive every
   * 15 s; a laptop waking from sleep can leave a half-open connection). @default 45000
   */
  idleTimeoutMs?: number
}

export interface BrowserBridge {
  readonly bridge: P2pdsBridge
  readonly connection: ConnectionState
  /** Stops the event stream and its reconnection. */
  close(): void
}

export function createBrowserBridge(init: BrowserBridgeInit): BrowserBridge {
  const doFetch = init.fetch ?? globalThis.fetch.bind(globalThis)
  const minRetry = init.minRetryMs ?? 500
  const maxRetry = init.maxRetryMs ?? 15_000
  const idleTimeout = init.idleTimeoutMs ?? 45_000
  const hub = createEventHub()
  const auth = init.secret === null ? undefined : `Bearer ${init.secret}`
  let connection: ConnectionState = { connected: false }
  let closed = false
  let current: AbortController | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let wakeRetry: (() => void) | undefined

  const setConnection = (next: ConnectionState): void => {
    if (next.connected === connection.connected && next.message === connection.message) return
    connection = next
    init.onConnection?.(next)
  }

  const invoke = async (method: string, input: unknown): Promise<ApiResult<unknown>> => {
    if (auth === undefined) return { ok: false, error: NO_SECRET }
    let res: Response
    try {
      res = await doFetch(`${init.origin}/api/${method}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: input === undefined ? '' : JSON.stringify(input),
        cache: 'no-store',
      })
    } catch {
      return { ok: false, error: UNREACHABLE }
    }
    if (res.status === 401) return { ok: false, error: STALE_SECRET }
    try {
      return (await res.json()) as ApiResult<unknown>
    } catch {
      return {
        ok: false,
        error: { name: 'ApiCallError', code: 'ERR_BAD_RESPONSE', message: `The node sent an unreadable answer to ${method} (HTTP ${res.status}).` },
      }
    }
  }

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wakeRetry = resolve
      retryTimer = setTimeout(resolve, ms)
    })

  /** Reads one connection of the event stream until it ends. Returns false when retrying is pointless. */
  const readStream = async (ctrl: AbortController): Promise<boolean> => {
    const res = await doFetch(`${init.origin}/api/events`, {
      headers: { authorization: auth!, accept: 'text/event-stream' },
      cache: 'no-store',
      signal: ctrl.signal,
    })
    if (res.status === 401) {
      await res.body?.cancel().catch(() => undefined)
      setConnection({ connected: false, message: STALE_SECRET.message })
      return false
    }
    if (!res.ok || res.body === null) {
      await res.body?.cancel().catch(() => undefined)
      throw new Error(`HTTP ${res.status}`)
    }
    setConnection({ connected: true })
    const parser = createSseParser((e) => {
      let data: unknown
      try {
        data = JSON.parse(e.data)
      } catch {
        return // not ours to guess at
      }
      hub.dispatch(e.event, data)
    })
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let idle: ReturnType<typeof setTimeout> | undefined
    const armIdle = (): void => {
      if (idle !== undefined) clearTimeout(idle)
      idle = setTimeout(() => ctrl.abort(), idleTimeout)
    }
    try {
      armIdle()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        armIdle()
        parser.push(value)
      }
    } finally {
      if (idle !== undefined) clearTimeout(idle)
      reader.releaseLock()
    }
    return true
  }

  const run = async (): Promise<void> => {
    let delay = minRetry
    while (!closed) {
      const ctrl = new AbortController()
      current = ctrl
      try {
        if (!(await readStream(ctrl))) return
      } catch {
        // Network error, node stopped, or the idle watchdog fired: fall through to retry.
      }
      if (closed) return
      // A stream that was up resets the backoff; repeated failures lengthen it.
      if (connection.connected) delay = minRetry
      setConnection({ connected: false, message: 'Lost the connection to the P2PDS node; reconnecting…' })
      await sleep(delay)
      delay = Math.min(delay * 2, maxRetry)
    }
  }

  if (auth === undefined) {
    setConnection({ connected: false, message: NO_SECRET.message })
  } else {
    void run()
  }

  const saveFile = init.saveFile ?? clickDownload

  /** Downloads an export from the local API and hands it to the browser's download manager. */
  const download = async (path: string, fallbackName: string): Promise<ExportResultDto | null> => {
    if (auth === undefined) throw new ApiCallError(NO_SECRET)
    let res: Response
    try {
      res = await doFetch(`${init.origin}${path}`, { headers: { authorization: auth }, cache: 'no-store' })
    } catch {
      throw new ApiCallError(UNREACHABLE)
    }
    if (res.status === 401) throw new ApiCallError(STALE_SECRET)
    if (!res.ok) {
      const body = (await res.json().catch(() => null)) as { error?: ErrorDto } | null
      throw new ApiCallError(
        body?.error ?? { name: 'ApiCallError', code: 'ERR_BAD_RESPONSE', message: `The export failed (HTTP ${res.status}).` },
      )
    }
    const filename = filenameFromDisposition(res.headers.get('content-disposition')) ?? fallbackName
    const blob = await res.blob()
    saveFile(blob, filename)
    return { path: filename, bytes: blob.size, items: Number(res.headers.get('x-p2pds-items') ?? 0) }
  }

  const host: P2pdsHostApi = {
    kind: 'browser',
    saveCar: (input) =>
      download(`/api/download/car?${new URLSearchParams(input.rev === undefined ? { did: input.did } : { did: input.did, rev: input.rev })}`, 'repo.car'),
    saveBlobs: (input) => download(`/api/download/blobs?${new URLSearchParams({ did: input.did })}`, 'blobs.tar'),
    // A page cannot register login items or open folders: only the desktop app can.
    settings: async () => BROWSER_HOST_SETTINGS,
    setLaunchAtLogin: async () => {
      throw new ApiCallError(desktopOnly('Opening P2PDS at login'))
    },
    openDataFolder: async () => {
      throw new ApiCallError(desktopOnly('Opening the data folder'))
    },
  }

  return {
    bridge: createBridge(invoke, hub.subscribe, host),
    get connection() {
      return connection
    },
    close() {
      closed = true
      current?.abort()
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      wakeRetry?.()
    },
  }
}

/** The file name of a `Content-Disposition: attachment; filename="…"` header, if any. */
export function filenameFromDisposition(header: string | null): string | null {
  if (header === null) return null
  const m = /filename="([^"\\/]+)"/.exec(header)
  return m?.[1] ?? null
}

function clickDownload(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
  // Revoke after the download manager has taken the blob.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

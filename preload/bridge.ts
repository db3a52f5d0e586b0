/**
 * Builds `window.p2pds` from the contract's method list. Shared by the Electron preload
 * (`preload/index.ts`, over IPC) and the browser-mode bridge (`preload/browser.ts`, over HTTP):
 * only the transport differs.
 *
 * The bridge exposes named methods (`p2pds.node.status()`), never a generic `invoke(channel)`.
 */
import {
  API_EVENTS,
  API_METHODS,
  ApiCallError,
  type ApiEventName,
  type ApiMethodName,
  type ApiResult,
  type ErrorDto,
  HOST_METHODS,
  type P2pdsBridge,
  type P2pdsHostApi,
} from '../core/api.js'

/** Sends one call to the node and resolves to its result; failures should be data, not rejections. */
export type BridgeInvoke = (method: ApiMethodName, input: unknown) => Promise<ApiResult<unknown>>

/** Subscribes to one node event; returns the unsubscribe function. */
export type BridgeSubscribe = (event: ApiEventName, listener: (data: unknown) => void) => () => void

/** Whether a string names an event of the contract. */
export function isApiEvent(name: unknown): name is ApiEventName {
  return typeof name === 'string' && (API_EVENTS as readonly string[]).includes(name)
}

function isErrorDto(v: unknown): v is ErrorDto {
  if (typeof v !== 'object' || v === null) return false
  const e = v as Record<string, unknown>
  return typeof e.name === 'string' && typeof e.code === 'string' && typeof e.message === 'string'
}

/** Turns a result into its value, or throws {@link ApiCallError} carrying the error's code. */
export function unwrapResult<T>(method: string, result: unknown): T {
  if (typeof result === 'object' && result !== null && 'ok' in result) {
    const r = result as { ok: unknown; value?: unknown; error?: unknown }
    if (r.ok === true) return r.value as T
    if (r.ok === false && isErrorDto(r.error)) throw new ApiCallError(r.error)
  }
  throw new ApiCallError({
    name: 'ApiCallError',
    code: 'ERR_BAD_RESPONSE',
    message: `The node sent an unreadable answer to ${method}.`,
  })
}

/**
 * The bridge a user interface sees: one named method per entry of `API_METHODS`, grouped by area,
 * plus `on(event, listener)` for the names in `API_EVENTS`. Methods resolve to the value or reject
 * with {@link ApiCallError}.
 */
export function createBridge(invoke: BridgeInvoke, subscribe: BridgeSubscribe, host: P2pdsHostApi): P2pdsBridge {
  const areas: Record<string, Record<string, (input?: unknown) => Promise<unknown>>> = {}
  for (const method of API_METHODS) {
    const [area, name] = method.split('.') as [string, string]
    const group = (areas[area] ??= {})
    // Only the first argument crosses: every method takes at most one JSON-safe input.
    group[name] = async (input?: unknown) => {
      let result: unknown
      try {
        result = await invoke(method, input)
      } catch (err) {
        throw new ApiCallError({
          name: 'ApiCallError',
          code: 'ERR_NODE_UNREACHABLE',
          message: `Could not reach the P2PDS node (${err instanceof Error ? err.message : String(err)}).`,
        })
      }
      return unwrapResult(method, result)
    }
  }
  for (const group of Object.values(areas)) Object.freeze(group)

  const on = (event: ApiEventName, listener: (data: never) => void): (() => void) => {
    if (!isApiEvent(event)) {
      throw new ApiCallError({ name: 'ApiCallError', code: 'ERR_UNKNOWN_EVENT', message: `There is no event named ${JSON.stringify(event)}.` })
    }
    if (typeof listener !== 'function') {
      throw new ApiCallError({ name: 'ApiCallError', code: 'ERR_INVALID_INPUT', message: 'The event listener must be a function.' })
    }
    return subscribe(event, listener as (data: unknown) => void)
  }

  const hostMethods: Record<string, unknown> = { kind: host.kind }
  for (const m of HOST_METHODS) hostMethods[m] = (input: never) => host[m](input)
  return Object.freeze({ ...areas, on, host: Object.freeze(hostMethods) }) as unknown as P2pdsBridge
}

/**
 * Adapts a bridge for Electron's `contextBridge`, which copies only the `message` of an Error that
 * crosses into the page (its `code` and `name` are lost). Rejections become plain
 * `{ name, code, message }` objects, which it copies whole, so the page can match on `code` in
 * Electron exactly as in browser mode.
 */
export function forContextBridge(bridge: P2pdsBridge): P2pdsBridge {
  const out: Record<string, unknown> = {}
  const source = bridge as unknown as Record<string, Record<string, (input?: unknown) => Promise<unknown>>>
  for (const method of API_METHODS) {
    const [area, name] = method.split('.') as [string, string]
    const fn = source[area]?.[name]
    if (fn === undefined) continue
    const group = (out[area] ??= {}) as Record<string, (input?: unknown) => Promise<unknown>>
    group[name] = (input?: unknown) =>
      fn(input).catch((err: unknown) => {
        throw toPlainError(err)
      })
  }
  out.on = bridge.on
  const host: Record<string, unknown> = { kind: bridge.host.kind }
  for (const m of HOST_METHODS) {
    host[m] = (input: never) =>
      bridge.host[m](input).catch((err: unknown) => {
        throw toPlainError(err)
      })
  }
  out.host = host
  return out as unknown as P2pdsBridge
}

/** An error as a plain object that survives being copied between worlds. */
export function toPlainError(err: unknown): ErrorDto {
  if (err instanceof ApiCallError) return { name: err.name, code: err.code, message: err.message }
  if (isErrorDto(err)) return { name: err.name, code: err.code, message: err.message }
  if (err instanceof Error) return { name: err.name, code: 'ERR_INTERNAL', message: err.message }
  return { name: 'Error', code: 'ERR_INTERNAL', message: String(err) }
}

/** Fans node events out to the page's listeners; one transport subscription serves them all. */
export interface EventHub {
  subscribe: BridgeSubscribe
  /** Delivers an event received from the transport; unknown names are ignored. */
  dispatch(name: unknown, data: unknown): void
  /** Number of listeners, for tests and to start/stop a transport lazily. */
  readonly size: number
}

export function createEventHub(): EventHub {
  const listeners = new Map<ApiEventName, Set<(data: unknown) => void>>()
  return {
    subscribe(event, listener) {
      let set = listeners.get(event)
      if (set === undefined) {
        set = new Set()
        listeners.set(event, set)
      }
      // Wrap so the same function subscribed twice gets two independent subscriptions.
      const entry = (data: unknown): void => listener(data)
      set.add(entry)
      return () => {
        set.delete(entry)
      }
    },
    dispatch(name, data) {
      if (!isApiEvent(name)) return
      for (const l of [...(listeners.get(name) ?? [])]) {
        try {
          l(data)
        } catch (err) {
          // A failing page listener must not stop the others.
          console.error(`p2pds: a listener for ${name} threw`, err)
        }
      }
    },
    get size() {
      let n = 0
      for (const s of listeners.values()) n += s.size
      return n
    },
  }
}

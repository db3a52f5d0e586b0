/**
 * THE contract between the core and every user interface: the methods, the events and their
 * JSON-safe types. Electron IPC (`main/ipc.ts` + `preload/`), the browser-mode local API
 * (`core/server/ui-server.ts` + `preload/browser.ts`) and the CLI all bind this one list.
 *
 * This file has no runtime dependencies so that the preload bundles can import it; the input
 * schemas live beside it in `api-schema.ts`.
 */
import type { ErrorDto } from './errors.js'

export type { ErrorDto }

/** Lifecycle of a node. */
export type NodeState = 'stopped' | 'starting' | 'started' | 'stopping'

/** Which host runs the node. */
export type NodeHost = 'desktop' | 'serve' | 'cli' | 'test'

/** Live state of a node, pushed as `node:status` and returned by `node.status`. */
export interface NodeStatusDto {
  state: NodeState
  host: NodeHost
  pid: number
  version: string
  dataDir: string
  /** ISO time the node last started, or null when it has not. */
  startedAt: string | null
  uptimeSec: number
  /** Resident memory of the node's process, in MB. */
  rssMb: number
  /** Listener URLs; null when that listener is off (for example the CLI reading a data dir). */
  listeners: { ui: string | null; peer: string | null }
  /** Accounts the node holds. */
  accounts: number
}

/** Static facts about a node, returned by `node.info`. */
export interface NodeInfoDto {
  name: 'P2PDS'
  version: string
  host: NodeHost
  dataDir: string
  databaseFile: string
  schemaVersion: number
  runtime: { node: string; electron: string | null; platform: string; arch: string }
  /** The logged-in identity, or null before the first login. */
  identity: { did: string; handle: string | null } | null
  /** The node's configuration without secrets. */
  config: Record<string, unknown>
}

/** The methods a user interface may call, grouped by area. Every input and output is JSON-safe. */
export interface P2pdsApi {
  node: {
    /** Live state of the node. */
    status(): Promise<NodeStatusDto>
    /** Version, data location, runtime and configuration. */
    info(): Promise<NodeInfoDto>
  }
}

/** Events the node pushes to every user interface. */
export interface P2pdsEvents {
  /** The node's state changed, or its periodic status tick (every few seconds while started). */
  'node:status': NodeStatusDto
}

export type ApiEventName = keyof P2pdsEvents

/** The result of a call as it crosses IPC or HTTP: failures are data, not exceptions. */
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ErrorDto }

type Fn = (...args: never[]) => Promise<unknown>
/** `'area.method'` for every method of the contract. */
export type ApiMethodName = {
  [A in keyof P2pdsApi]: { [M in keyof P2pdsApi[A]]: P2pdsApi[A][M] extends Fn ? `${A & string}.${M & string}` : never }[keyof P2pdsApi[A]]
}[keyof P2pdsApi]

type MethodOf<N extends ApiMethodName> = N extends `${infer A}.${infer M}`
  ? A extends keyof P2pdsApi
    ? M extends keyof P2pdsApi[A]
      ? P2pdsApi[A][M]
      : never
    : never
  : never

/** The input of a method (`undefined` for methods without one). */
export type ApiInput<N extends ApiMethodName> = MethodOf<N> extends (input: infer I) => Promise<unknown> ? I : undefined
/** The value a method resolves to. */
export type ApiOutput<N extends ApiMethodName> = MethodOf<N> extends (...args: never[]) => Promise<infer O> ? O : never

/** Every method name; bindings are built from this list. Checked complete against the interface below. */
export const API_METHODS = ['node.status', 'node.info'] as const satisfies readonly ApiMethodName[]

/** Every event name pushed to user interfaces. */
export const API_EVENTS = ['node:status'] as const satisfies readonly ApiEventName[]

// Compile-time completeness checks: adding a method or event to the interfaces without listing it
// here (or the reverse) fails `tsc`.
type Missing<All, Listed> = Exclude<All, Listed>
const methodsComplete: Missing<ApiMethodName, (typeof API_METHODS)[number]> extends never ? true : false = true
const eventsComplete: Missing<ApiEventName, (typeof API_EVENTS)[number]> extends never ? true : false = true
void methodsComplete
void eventsComplete

/** The IPC channel of a method (`p2pds:node.status`). */
export function ipcChannel(method: ApiMethodName): string {
  return `p2pds:${method}`
}

/** The one IPC channel on which main pushes events to the window. */
export const IPC_EVENT_CHANNEL = 'p2pds:event'

/** What a user interface sees: the API plus event subscription. Built by the preloads. */
export type P2pdsBridge = P2pdsApi & {
  /** Subscribes to a node event; returns the unsubscribe function. */
  on<E extends ApiEventName>(event: E, listener: (data: P2pdsEvents[E]) => void): () => void
}

/** Thrown by bridge methods when the call failed; carries the error's stable `code`. */
export class ApiCallError extends Error {
  readonly code: string
  constructor(error: ErrorDto) {
    super(error.message)
    this.name = error.name
    this.code = error.code
  }
}

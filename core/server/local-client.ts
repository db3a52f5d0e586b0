/**
 * Finds a node running on a data dir (through `DATA_DIR/api.json`) and calls its local API.
 * The CLI uses this so that a verb run while a node holds the data dir goes through that node.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, fetch as undiciFetch } from 'undici'
import { API_EVENTS, type ApiEventName, type ApiMethodName, type ApiOutput, type ApiResult, type P2pdsEvents } from '../api.js'
import { DATA_DIR_FILES } from '../data-dir.js'
import { NodeUnreachableError, RemoteError } from '../errors.js'
import type { ApiInfoFile } from '../node.js'
import { isProcessAlive } from '../storage/data-dir-lock.js'
import { createSseParser } from './sse-parser.js'

/** An error reported by the remote node, with its stable code. */
export class RemoteApiError extends RemoteError {
  override name = 'RemoteApiError'
}

export interface LocalApiClient {
  readonly url: string
  readonly pid: number
  call<N extends ApiMethodName>(method: N, input?: unknown, options?: { signal?: AbortSignal }): Promise<ApiOutput<N>>
  /**
   * Follows the node's event stream until `signal` aborts; resolves once the stream is open.
   * Unknown event names are ignored.
   */
  subscribe(onEvent: <E extends ApiEventName>(name: E, data: P2pdsEvents[E]) => void, signal: AbortSignal): Promise<void>
}

/** Time limit of a call to the running node, for methods that answer at once. */
const CALL_TIMEOUT_MS = 30_000

/**
 * Methods whose work lasts as long as the transfer behind it (a sync of a large repository, an
 * export, a restore, a challenge round): they run until the node answers or the user interrupts.
 */
const LONG_RUNNING: ReadonlySet<ApiMethodName> = new Set<ApiMethodName>([
  'accounts.add',
  'accounts.sync',
  'accounts.verify',
  'export.car',
  'export.blobs',
])

/** Names of long-running methods of areas that grow: any `recovery.restore*` and `peers.challenge`. */
function isLongRunning(method: ApiMethodName): boolean {
  return LONG_RUNNING.has(method) || method.startsWith('recovery.restore') || method === 'peers.challenge'
}

/** No header or body time limit (undici's defaults end a call after 5 minutes of silence). */
const patientAgent = new Agent({ headersTimeout: 0, bodyTimeout: 0 })

/** Reads `api.json`; undefined when absent, malformed, or left by a process that is gone. */
export function readApiInfo(dataDir: string): ApiInfoFile | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, DATA_DIR_FILES.apiInfo), 'utf8')) as Partial<ApiInfoFile>
    if (typeof info.url !== 'string' || typeof info.secret !== 'string' || typeof info.pid !== 'number') return undefined
    if (!isProcessAlive(info.pid)) return undefined
    return info as ApiInfoFile
  } catch {
    return undefined
  }
}

/** A client for the node running on `dataDir`, or undefined when none runs there. */
export function connectToRunningNode(dataDir: string): LocalApiClient | undefined {
  const info = readApiInfo(dataDir)
  if (info === undefined) return undefined
  return {
    url: info.url,
    pid: info.pid,
    async call(method, input, options) {
      let res: Response
      try {
        const long = isLongRunning(method)
        res = (await undiciFetch(`${info.url}/api/${method}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${info.secret}`, 'content-type': 'application/json' },
          body: input === undefined ? '' : JSON.stringify(input),
          signal: options?.signal ?? (long ? undefined : AbortSignal.timeout(CALL_TIMEOUT_MS)),
          dispatcher: long ? patientAgent : undefined,
        })) as unknown as Response
      } catch (err) {
        throw new NodeUnreachableError(
          `A node is running on this data dir (pid ${info.pid}) but its local API at ${info.url} did not answer. ` +
            'Wait for it to finish starting, or stop it and try again.',
          { cause: err },
        )
      }
      let body: ApiResult<unknown>
      try {
        body = (await res.json()) as ApiResult<unknown>
      } catch (err) {
        throw new NodeUnreachableError(`The node at ${info.url} sent an unreadable answer (HTTP ${res.status}).`, { cause: err })
      }
      if (!body.ok) throw new RemoteApiError(body.error.code, body.error.message)
      return body.value as never
    },
    async subscribe(onEvent, signal) {
      const res = await fetch(`${info.url}/api/events`, { headers: { authorization: `Bearer ${info.secret}` }, signal }).catch((err: unknown) => {
        throw new NodeUnreachableError(`The node's event stream at ${info.url} did not answer.`, { cause: err })
      })
      if (!res.ok || res.body === null) throw new NodeUnreachableError(`The node's event stream answered HTTP ${res.status}.`)
      const parser = createSseParser((e) => {
        if (!(API_EVENTS as readonly string[]).includes(e.event)) return
        try {
          onEvent(e.event as ApiEventName, JSON.parse(e.data) as never)
        } catch {
          // A malformed event is skipped.
        }
      })
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      void (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read()
            if (done) return
            parser.push(value)
          }
        } catch {
          // Aborted or the node went away: the caller's call will say so.
        }
      })()
    },
  }
}

/**
 * The few XRPC calls replication makes to an account's PDS, over an injected `fetch` (the node
 * passes its SSRF-safe fetch; tests pass a counting or tampering wrapper around the real one).
 * Failures become `PdsRequestError` with the method, status and XRPC error name; errors the
 * injected fetch already classifies (any `P2pdsError`) pass through unchanged.
 */
import { AbortError, FetchFailedError, FetchTimeoutError, P2pdsError, PdsRequestError, throwIfAborted } from '../errors.js'
import type { AbortOptions } from '../storage/types.js'

/** A `fetch`-compatible function. */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>

/** Where and how to call. */
export interface XrpcTarget extends AbortOptions {
  did: string
  pdsUrl: string
  /** @default globalThis.fetch */
  fetch?: FetchLike
}

/** Whether a failure means the PDS could not be reached or refused (not: the data it sent was bad). */
export function isPdsUnreachable(err: unknown): boolean {
  return err instanceof PdsRequestError || err instanceof FetchFailedError || err instanceof FetchTimeoutError
}

// Error bodies are short JSON; a PDS that sends more is not read further.
const MAX_ERROR_BODY = 64 * 1024

/** GETs `/xrpc/<method>`; resolves with a 2xx response, rejects with `PdsRequestError` otherwise. */
export async function xrpcGet(target: XrpcTarget, method: string, params: Record<string, string>, accept: string): Promise<Response> {
  const { did, pdsUrl, signal } = target
  throwIfAborted(signal)
  const url = new URL(`/xrpc/${method}`, pdsUrl)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  let res: Response
  try {
    res = await (target.fetch ?? globalThis.fetch)(url, { signal, headers: { accept } })
  } catch (err) {
    if (signal?.aborted === true) throw new AbortError()
    if (err instanceof P2pdsError) throw err
    throw new PdsRequestError(did, method, url.origin, null, null, `the PDS could not be reached (${describe(err)})`, { cause: err })
  }
  if (res.ok) return res
  const { error, message } = await readErrorBody(res)
  const detail = `the PDS answered HTTP ${res.status}${error === null ? '' : ` ${error}`}${message === null ? '' : `: ${message}`}`
  throw new PdsRequestError(did, method, url.origin, res.status, error, detail)
}

/**
 * The response body as chunks, counting bytes and turning a broken-off download into
 * `PdsRequestError` (or `AbortError` when the signal fired).
 */
export async function* responseBody(
  target: XrpcTarget,
  method: string,
  res: Response,
  onBytes?: (n: number) => void,
): AsyncGenerator<Uint8Array> {
  if (res.body === null) return
  const origin = new URL(target.pdsUrl).origin
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      onBytes?.(chunk.byteLength)
      yield chunk
    }
  } catch (err) {
    if (target.signal?.aborted === true) throw new AbortError()
    if (err instanceof P2pdsError) throw err
    throw new PdsRequestError(target.did, method, origin, res.status, null, `the download broke off (${describe(err)})`, { cause: err })
  }
}

/** `com.atproto.sync.getLatestCommit`: the PDS's current head of the repository. */
export async function getLatestCommit(target: XrpcTarget): Promise<{ cid: string; rev: string }> {
  const method = 'com.atproto.sync.getLatestCommit'
  const res = await xrpcGet(target, method, { did: target.did }, 'application/json')
  let body: unknown
  try {
    body = await res.json()
  } catch (err) {
    if (target.signal?.aborted === true) throw new AbortError()
    throw new PdsRequestError(target.did, method, new URL(target.pdsUrl).origin, res.status, null, 'the answer is not JSON', { cause: err })
  }
  const { cid, rev } = (body ?? {}) as { cid?: unknown; rev?: unknown }
  if (typeof cid !== 'string' || typeof rev !== 'string') {
    throw new PdsRequestError(target.did, method, new URL(target.pdsUrl).origin, res.status, null, 'the answer has no cid and rev')
  }
  return { cid, rev }
}

async function readErrorBody(res: Response): Promise<{ error: string | null; message: string | null }> {
  try {
    const chunks: Uint8Array[] = []
    let size = 0
    if (res.body !== null) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        chunks.push(chunk)
        size += chunk.byteLength
        if (size > MAX_ERROR_BODY) break
      }
    }
    const parsed = JSON.parse(Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8')) as { error?: unknown; message?: unknown }
    return {
      error: typeof parsed.error === 'string' ? parsed.error.slice(0, 100) : null,
      message: typeof parsed.message === 'string' ? parsed.message.slice(0, 300) : null,
    }
  } catch {
    return { error: null, message: null }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return `${err.message}${cause}`
  }
  return String(err)
}

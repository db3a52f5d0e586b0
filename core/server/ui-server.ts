/**
 * The local API + UI listener: serves the renderer and the browser-mode bridge, and the API
 * contract as `POST /api/<method>` plus an event stream at `GET /api/events`.
 *
 * Always bound to 127.0.0.1. Every request needs a loopback Host; API requests also need the
 * per-launch secret as a bearer token and, when a browser sends one, a same-origin Origin.
 */
import { basename, dirname } from 'node:path'
import { ReadableStream as NodeReadableStream } from 'node:stream/web'
import type { HttpBindings } from '@hono/node-server'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { streamSSE } from 'hono/streaming'
import type { ApiEventName, P2pdsApi, P2pdsEvents } from '../api.js'
import { dispatchApiCall } from '../api-dispatch.js'
import { HOST_INPUT_SCHEMAS } from '../api-schema.js'
import { toErrorDto } from '../errors.js'
import { listen, type Listening } from './listen.js'
import { allowedHosts, allowedOrigins, secretMatches } from './local-guard.js'
import { readStaticFile } from './static-files.js'

/** Content-Security-Policy of the UI: nothing but this origin, no inline script. */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/** A file the browser downloads (exports in browser mode). */
export interface Download {
  filename: string
  contentType: string
  /** Blocks in a CAR, or blobs in an archive. */
  items: number
  body: AsyncIterable<Uint8Array>
}

/** Exports offered as downloads (`GET /api/download/car`, `/api/download/blobs`). */
export interface DownloadProvider {
  car(input: { did: string; rev?: string }, signal: AbortSignal): Promise<Download>
  blobs(input: { did: string }, signal: AbortSignal): Promise<Download>
}

export interface UiServerInit {
  api: P2pdsApi
  /** Subscribes to every node event; returns the unsubscribe function. */
  subscribe(listener: <E extends ApiEventName>(name: E, data: P2pdsEvents[E]) => void): () => void
  /** Sent first on every new event stream, so a fresh UI needs no extra round trip. */
  initialEvents(): Promise<Array<{ name: ApiEventName; data: unknown }>>
  /** The per-launch secret. */
  secret: string
  /** 0 picks a free port. */
  port: number
  /** Built renderer folder (index.html + assets). */
  rendererDir: string
  /** Built browser-mode bridge script. */
  bridgeFile: string
  /** Exports as downloads; without it the download routes answer 404. */
  downloads?: DownloadProvider
  /** Largest accepted API request body. @default 1 MiB */
  maxBodyBytes?: number
  /** Comment lines keep idle event streams open through proxies. @default 15000 */
  keepAliveMs?: number
  /**
   * Completes an OAuth login from the redirect's query (`GET /oauth/callback`). The browser
   * arrives without the per-launch secret; the OAuth state (issued by this node, single use) is
   * what authenticates the request. Resolves to the sentence shown. @default none (404)
   */
  oauthCallback?: (params: URLSearchParams) => Promise<{ ok: boolean; message: string }>
}

export interface UiServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

function jsonError(status: 400 | 401 | 403 | 404 | 413 | 500, code: string, message: string): Response {
  return Response.json({ ok: false, error: { name: 'LocalApiError', code, message } }, { status })
}

const STATUS_BY_CODE: Record<string, 400 | 404> = {
  ERR_INVALID_INPUT: 400,
  ERR_INVALID_IDENTIFIER: 400,
  ERR_UNKNOWN_METHOD: 404,
  ERR_UNKNOWN_ACCOUNT: 404,
  ERR_UNKNOWN_REV: 404,
  ERR_RECORD_NOT_FOUND: 404,
  ERR_BLOB_NOT_FOUND: 404,
}

/** Starts the local API + UI listener on 127.0.0.1. */
export async function startUiServer(init: UiServerInit): Promise<UiServer> {
  let port = init.port
  const app = new Hono<{ Bindings: HttpBindings }>()

  app.use('*', async (c, next) => {
    const host = c.req.header('host')
    if (host === undefined || !allowedHosts(port).has(host.toLowerCase())) {
      return jsonError(403, 'ERR_FORBIDDEN_HOST', 'This address only answers to 127.0.0.1 and localhost.')
    }
    const origin = c.req.header('origin')
    if (origin !== undefined && !allowedOrigins(port).has(origin.toLowerCase())) {
      return jsonError(403, 'ERR_FORBIDDEN_ORIGIN', 'Requests from other origins are refused.')
    }
    await next()
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    c.header('Cross-Origin-Resource-Policy', 'same-origin')
  })

  app.use('/api/*', async (c, next) => {
    if (!secretMatches(c.req.header('authorization'), init.secret)) {
      return jsonError(401, 'ERR_UNAUTHORIZED', 'The local API needs the secret printed when the node started.')
    }
    await next()
  })

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      let id = 0
      const queue: Array<{ name: string; data: unknown }> = await init.initialEvents()
      let wake: (() => void) | undefined
      const unsubscribe = init.subscribe((name, data) => {
        // A slow UI must never slow the node: keep only the newest pending event of each name.
        const i = queue.findIndex((e) => e.name === name)
        if (i >= 0) queue.splice(i, 1)
        queue.push({ name, data })
        wake?.()
      })
      const keepAlive = setInterval(() => wake?.(), init.keepAliveMs ?? 15_000)
      stream.onAbort(() => {
        unsubscribe()
        clearInterval(keepAlive)
        wake?.()
      })
      try {
        while (!stream.aborted) {
          if (queue.length === 0) {
            await new Promise<void>((r) => (wake = r))
            wake = undefined
            if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n')
            continue
          }
          const e = queue.shift()!
          await stream.writeSSE({ event: e.name, data: JSON.stringify(e.data), id: String(++id) })
        }
      } finally {
        unsubscribe()
        clearInterval(keepAlive)
      }
    }),
  )

  app.post(
    '/api/:method',
    bodyLimit({
      maxSize: init.maxBodyBytes ?? 1024 * 1024,
      onError: () => jsonError(413, 'ERR_BODY_TOO_LARGE', 'The request body is too large.'),
    }),
    async (c) => {
      const text = await c.req.text()
      let input: unknown
      try {
        input = text.trim() === '' ? undefined : JSON.parse(text)
      } catch {
        return jsonError(400, 'ERR_INVALID_JSON', 'The request body is not valid JSON.')
      }
      const result = await dispatchApiCall(init.api, c.req.param('method'), input)
      if (result.ok) return c.json(result)
      return c.json(result, STATUS_BY_CODE[result.error.code] ?? 500)
    },
  )

  app.get('/api/download/:kind', async (c) => {
    const kind = c.req.param('kind')
    if (init.downloads === undefined || (kind !== 'car' && kind !== 'blobs')) return jsonError(404, 'ERR_NOT_FOUND', 'No such download.')
    const method = kind === 'car' ? 'saveCar' : 'saveBlobs'
    const parsed = HOST_INPUT_SCHEMAS[method].safeParse(Object.fromEntries(new URL(c.req.url).searchParams))
    if (!parsed.success) return jsonError(400, 'ERR_INVALID_INPUT', `Invalid download request: ${parsed.error.issues[0]?.message ?? 'rejected'}.`)
    // Stop producing the file when the browser goes away.
    const abort = new AbortController()
    c.req.raw.signal.addEventListener('abort', () => abort.abort(), { once: true })
    let download: Download
    try {
      download = kind === 'car' ? await init.downloads.car(parsed.data as { did: string; rev?: string }, abort.signal) : await init.downloads.blobs(parsed.data, abort.signal)
    } catch (err) {
      const dto = toErrorDto(err)
      return c.json({ ok: false, error: dto }, STATUS_BY_CODE[dto.code] ?? 500)
    }
    return new Response(NodeReadableStream.from(download.body) as unknown as BodyInit, {
      headers: {
        'content-type': download.contentType,
        'content-disposition': `attachment; filename="${download.filename.replace(/["\\/\r\n]/g, '_')}"`,
        'x-p2pds-items': String(download.items),
        'cache-control': 'no-store',
      },
    })
  })

  app.all('/api/*', () => jsonError(404, 'ERR_NOT_FOUND', 'No such API route.'))

  app.get('/oauth/callback', async (c) => {
    if (init.oauthCallback === undefined) return new Response('Not found', { status: 404 })
    const result = await init.oauthCallback(new URL(c.req.url).searchParams).catch((err: unknown) => ({ ok: false, message: toErrorDto(err).message }))
    const text = result.message.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
    const title = result.ok ? 'Logged in' : 'Login failed'
    return new Response(`<!doctype html><meta charset="utf-8"><title>P2PDS: ${title}</title><h1>${title}</h1><p id="message">${text}</p>`, {
      status: result.ok ? 200 : 400,
      headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': UI_CSP, 'x-frame-options': 'DENY', 'cache-control': 'no-store' },
    })
  })

  app.get('/bridge.js', async () => {
    const file = await readStaticFile(dirname(init.bridgeFile), '/' + basename(init.bridgeFile))
    if (file === undefined) return new Response('// bridge not built: run npm run build', { status: 404 })
    return new Response(new Uint8Array(file.body), { headers: { 'content-type': file.type, 'cache-control': 'no-store' } })
  })

  app.get('*', async (c) => {
    const path = c.req.path === '/' ? '/index.html' : c.req.path
    const file = (await readStaticFile(init.rendererDir, path)) ?? (path.includes('.') ? undefined : await readStaticFile(init.rendererDir, '/index.html'))
    if (file === undefined) {
      if (path === '/index.html') {
        return new Response('The UI has not been built. Run `npm run build`, then reload.', { status: 503 })
      }
      return new Response('Not found', { status: 404 })
    }
    const headers: Record<string, string> = { 'content-type': file.type }
    if (file.type.startsWith('text/html')) {
      headers['content-security-policy'] = UI_CSP
      headers['x-frame-options'] = 'DENY'
      headers['cache-control'] = 'no-store'
    }
    return new Response(new Uint8Array(file.body), { headers })
  })

  const listening: Listening = await listen(app, '127.0.0.1', init.port, 'local API')
  port = listening.port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => listening.close(),
  }
}

/**
 * The peer-facing XRPC server (PORT/HOST): what other nodes and the public may call. Every
 * request passes a per-client rate limit (RATE_LIMIT_ENABLED) and a body size limit before any
 * handler runs. Later issues mount their XRPC methods on `app`.
 */
import type { HttpBindings } from '@hono/node-server'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { listen, type Listening } from './listen.js'
import { createRateLimiter, type RateLimitInit } from './rate-limit.js'

export interface PeerServerInit {
  host: string
  /** 0 picks a free port. */
  port: number
  version: string
  rateLimitEnabled: boolean
  /** @default { capacity: 120, refillPerSec: 20 } */
  rateLimit?: RateLimitInit
  /** Largest accepted request body. @default 1 MiB */
  maxBodyBytes?: number
  /** Current time in ms (tests). @default Date.now */
  now?: () => number
}

export interface PeerServer {
  readonly port: number
  /** `http://HOST:PORT` as bound (peers use PUBLIC_URL). */
  readonly url: string
  close(): Promise<void>
}

/** An XRPC error body, as atproto services answer them. */
export function xrpcError(status: 400 | 404 | 413 | 429 | 500, error: string, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error, message }, { status, headers })
}

/** Builds the app without listening (tests call `app.request`). */
export function createPeerApp(init: PeerServerInit): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>()
  if (init.rateLimitEnabled) {
    const limiter = createRateLimiter(init.rateLimit ?? { capacity: 120, refillPerSec: 20 }, init.now)
    app.use('*', async (c, next) => {
      const client = c.env?.incoming?.socket?.remoteAddress ?? 'unknown'
      const wait = limiter.take(client)
      if (wait > 0) {
        return xrpcError(429, 'RateLimitExceeded', 'Too many requests; slow down and retry later.', {
          'retry-after': String(Math.ceil(wait / 1000)),
        })
      }
      await next()
    })
  }
  app.use(
    '*',
    bodyLimit({
      maxSize: init.maxBodyBytes ?? 1024 * 1024,
      onError: () => xrpcError(413, 'PayloadTooLarge', 'The request body is too large.'),
    }),
  )
  app.get('/xrpc/_health', (c) => c.json({ version: init.version }))
  // Unknown methods are answered from notFound, not from an `/xrpc/:nsid` route: Hono runs
  // routes in the order they were added, so such a route would shadow every method mounted later.
  app.notFound((c) => {
    const nsid = /^\/xrpc\/([^/]+)$/.exec(c.req.path)?.[1]
    return nsid === undefined ? xrpcError(404, 'NotFound', 'Not found.') : xrpcError(404, 'MethodNotImplemented', `Method not implemented: ${nsid}`)
  })
  app.onError(() => xrpcError(500, 'InternalServerError', 'Internal server error.'))
  return app
}

/** Starts the peer-facing server. */
export async function startPeerServer(init: PeerServerInit, app = createPeerApp(init)): Promise<PeerServer> {
  const listening: Listening = await listen(app, init.host, init.port, 'peer-facing server')
  const host = init.host.includes(':') ? `[${init.host}]` : init.host
  return { port: listening.port, url: `http://${host}:${listening.port}`, close: () => listening.close() }
}

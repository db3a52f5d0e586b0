/**
 * The lexicon index on the peer-facing server, unauthenticated (schemas in
 * `lexicons/org/p2pds/lexicon/`):
 *
 * - `GET /xrpc/org.p2pds.lexicon.search?q=&limit=`: NSIDs starting with `q` (1–317 characters of
 *   an NSID), most records first; `limit` 1–100, default 50. Output `{lexicons}`.
 * - `GET /xrpc/org.p2pds.lexicon.list?limit=&cursor=`: every NSID, most records first; `limit`
 *   1–1000, default 100. Output `{lexicons, cursor?}`.
 * - `GET /xrpc/org.p2pds.lexicon.stats`: `{nsids, records, repos, updatedAt?}`.
 *
 * Each entry is `{nsid, records, repos, firstSeenAt, lastSeenAt}`. Besides the server-wide limit,
 * these methods share their own per-client rate limit (index queries cost more than a health
 * check). Errors: 400 `InvalidRequest`, 429 `RateLimitExceeded`.
 */
import type { Context, Env, Hono, MiddlewareHandler } from 'hono'
import type { LexiconDto } from '../api.js'
import { InvalidInputError } from '../errors.js'
import type { LexiconEntry, SqliteLexiconIndex } from '../replication/lexicon-index.js'
import { xrpcError } from './peer-server.js'
import { createRateLimiter, type RateLimitInit } from './rate-limit.js'

/** The XRPC methods {@link mountLexiconRoutes} adds. */
export const LEXICON_METHODS = ['org.p2pds.lexicon.search', 'org.p2pds.lexicon.list', 'org.p2pds.lexicon.stats'] as const

/** Per-client limit of the lexicon methods together. @default */
export const LEXICON_RATE_LIMIT: RateLimitInit = { capacity: 30, refillPerSec: 5 }

/** How to mount the lexicon methods. */
export interface LexiconRoutesInit {
  /** Apply {@link LexiconRoutesInit.rateLimit} (config `RATE_LIMIT_ENABLED`). */
  rateLimitEnabled: boolean
  /** @default {@link LEXICON_RATE_LIMIT} */
  rateLimit?: RateLimitInit
  /** Clock for the rate limit. @default Date.now */
  now?: () => number
}

/**
 * A per-client token bucket for a group of routes, answering 429 `RateLimitExceeded` with
 * `Retry-After` (clients are keyed by remote address, as the server-wide limit is).
 */
export function routeRateLimit<E extends Env>(init: RateLimitInit, now?: () => number): MiddlewareHandler<E> {
  const limiter = createRateLimiter(init, now)
  return async (c, next) => {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
    const wait = limiter.take(env?.incoming?.socket?.remoteAddress ?? 'unknown')
    if (wait > 0) {
      return xrpcError(429, 'RateLimitExceeded', 'Too many requests; slow down and retry later.', { 'retry-after': String(Math.ceil(wait / 1000)) })
    }
    await next()
  }
}

/** Adds the lexicon index methods to a peer-facing app (`createPeerApp`). */
export function mountLexiconRoutes<E extends Env>(app: Hono<E>, index: SqliteLexiconIndex, init: LexiconRoutesInit): void {
  if (init.rateLimitEnabled) {
    const limit = routeRateLimit<E>(init.rateLimit ?? LEXICON_RATE_LIMIT, init.now)
    for (const nsid of LEXICON_METHODS) app.use(`/xrpc/${nsid}`, limit)
  }

  app.get('/xrpc/org.p2pds.lexicon.search', (c) => {
    const q = c.req.query('q')
    if (q === undefined || q === '') return invalid('Parameter "q" is required (the start of an NSID, e.g. app.bsky).')
    if (q.length > 317 || !/^[A-Za-z0-9.-]+$/.test(q)) return invalid('Parameter "q" must be the start of an NSID: letters, digits, dots and hyphens.')
    const limit = intParam(c, 'limit', 1, 100, 50)
    if (limit instanceof Response) return limit
    return c.json({ lexicons: index.search(q, limit).map(toDto) })
  })

  app.get('/xrpc/org.p2pds.lexicon.list', (c) => {
    const limit = intParam(c, 'limit', 1, 1000, 100)
    if (limit instanceof Response) return limit
    const cursor = c.req.query('cursor')
    if (cursor !== undefined && cursor.length > 400) return invalid('Parameter "cursor" is too long.')
    try {
      const page = index.list({ limit, cursor })
      return c.json({ lexicons: page.lexicons.map(toDto), ...(page.cursor === null ? {} : { cursor: page.cursor }) })
    } catch (err) {
      if (err instanceof InvalidInputError) return invalid(err.message)
      throw err
    }
  })

  app.get('/xrpc/org.p2pds.lexicon.stats', (c) => {
    const s = index.stats()
    return c.json({ nsids: s.nsids, records: s.records, repos: s.repos, ...(s.updatedAt === null ? {} : { updatedAt: new Date(s.updatedAt).toISOString() }) })
  })
}

/** The API/wire form of an index entry. */
export function toLexiconDto(e: LexiconEntry): LexiconDto {
  return { nsid: e.nsid, records: e.records, repos: e.repos, firstSeenAt: new Date(e.firstSeen).toISOString(), lastSeenAt: new Date(e.lastSeen).toISOString() }
}

const toDto = toLexiconDto

function intParam<E extends Env>(c: Context<E>, name: string, min: number, max: number, fallback: number): number | Response {
  const raw = c.req.query(name)
  if (raw === undefined || raw === '') return fallback
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < min || Number(raw) > max) return invalid(`Parameter "${name}" must be a whole number from ${min} to ${max}.`)
  return Number(raw)
}

function invalid(message: string): Response {
  return xrpcError(400, 'InvalidRequest', message)
}

/**
 * `POST /xrpc/org.p2pds.replication.notifyOffer` on the peer-facing server (schema in
 * `lexicons/org/p2pds/replication/notifyOffer.json`): another node says "I published an offer to
 * you". The body only says where to look; the offer is read from the offerer's repo and verified
 * (`OffersService.receiveNotify`), and nothing is stored otherwise.
 *
 * Errors: 400 `InvalidRequest` (body not JSON or not the lexicon's input), `OfferNotFound`,
 * `InvalidOffer`, `UnknownSubject`; 413 over {@link NOTIFY_MAX_BODY}; 429 `RateLimitExceeded`
 * (its own per-client limit, on top of the server-wide one: each push costs the node PDS reads).
 */
import type { Env, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { NSID } from '../lexicons.js'
import type { NotifyOfferResult } from '../offers.js'
import { routeRateLimit } from './lexicon-routes.js'
import { xrpcError } from './peer-server.js'
import type { RateLimitInit } from './rate-limit.js'

/** Per-client limit of `notifyOffer`. @default */
export const NOTIFY_RATE_LIMIT: RateLimitInit = { capacity: 10, refillPerSec: 0.5 }

/** Largest `notifyOffer` body: three identifiers. @default */
export const NOTIFY_MAX_BODY = 8 * 1024

export interface OfferRoutesInit {
  /** Handles a push (OffersService.receiveNotify). */
  receive(body: unknown): Promise<NotifyOfferResult>
  /** Apply {@link OfferRoutesInit.rateLimit} (config `RATE_LIMIT_ENABLED`). */
  rateLimitEnabled: boolean
  /** @default {@link NOTIFY_RATE_LIMIT} */
  rateLimit?: RateLimitInit
  /** Clock for the rate limit. @default Date.now */
  now?: () => number
}

/** Adds `notifyOffer` to a peer-facing app (`createPeerApp`). */
export function mountOfferRoutes<E extends Env>(app: Hono<E>, init: OfferRoutesInit): void {
  const path = `/xrpc/${NSID.notifyOffer}`
  if (init.rateLimitEnabled) app.use(path, routeRateLimit<E>(init.rateLimit ?? NOTIFY_RATE_LIMIT, init.now))
  app.post(
    path,
    bodyLimit({ maxSize: NOTIFY_MAX_BODY, onError: () => xrpcError(413, 'PayloadTooLarge', 'The request body is too large.') }),
    async (c) => {
      let body: unknown
      try {
        body = await c.req.json()
      } catch {
        return xrpcError(400, 'InvalidRequest', 'The body is not JSON.')
      }
      const result = await init.receive(body)
      if ('error' in result) return xrpcError(400, result.error, result.message)
      return c.json(result)
    },
  )
}

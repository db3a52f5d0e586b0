/**
 * Storage challenges over HTTP, on the peer-facing server (the fallback when libp2p cannot be
 * used; see `org.p2pds.challenge.create`): `POST /xrpc/org.p2pds.challenge.create` answers a
 * challenge exactly as `/p2pds/challenge/1.0.0` does, and `GET /xrpc/org.p2pds.challenge.describe`
 * names the PeerID that signs the answers. The app's rate and body limits apply (mount on
 * `createPeerApp`); a challenge body over {@link MAX_CHALLENGE_BODY} bytes is refused before parsing.
 */
import type { Env, Hono } from 'hono'
import { P2pdsError } from '../errors.js'
import { answerChallenge, type ChallengeResponderInit } from '../replication/challenge-responder.js'
import { CHALLENGE_NSID, DESCRIBE_NSID } from '../replication/challenge-service.js'
import { xrpcError } from './peer-server.js'
import { createRateLimiter, type RateLimitInit } from './rate-limit.js'

/** Largest challenge body accepted (64 CIDs or paths fit in a few KB). */
export const MAX_CHALLENGE_BODY = 64 * 1024

/** Options of {@link mountChallengeRoutes}. */
export interface ChallengeRoutesInit {
  /** `RATE_LIMIT_ENABLED`: a per-client limit on answering challenges, besides the server-wide one. */
  rateLimitEnabled: boolean
  /** @default { capacity: 10, refillPerSec: 1 } (a challenge makes the node read up to 64 blocks) */
  rateLimit?: RateLimitInit
  /** @default Date.now */
  now?: () => number
}

/** Adds the challenge methods. `multiaddrs` supplies the multiaddrs of the moment. */
export function mountChallengeRoutes<E extends Env>(app: Hono<E>, responder: ChallengeResponderInit, multiaddrs: () => string[], init: ChallengeRoutesInit): void {
  const limiter = init.rateLimitEnabled ? createRateLimiter(init.rateLimit ?? { capacity: 10, refillPerSec: 1 }, init.now) : null
  app.get(`/xrpc/${DESCRIBE_NSID}`, (c) => c.json({ peerId: responder.peerId, multiaddrs: multiaddrs() }))
  app.post(`/xrpc/${CHALLENGE_NSID}`, async (c) => {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
    const wait = limiter?.take(env?.incoming?.socket?.remoteAddress ?? 'unknown') ?? 0
    if (wait > 0) return xrpcError(429, 'RateLimitExceeded', 'Too many challenges; slow down and retry later.', { 'retry-after': String(Math.ceil(wait / 1000)) })
    const length = Number(c.req.header('content-length') ?? '0')
    if (length > MAX_CHALLENGE_BODY) return xrpcError(413, 'PayloadTooLarge', 'The challenge is too large.')
    const text = await c.req.text()
    if (text.length > MAX_CHALLENGE_BODY) return xrpcError(413, 'PayloadTooLarge', 'The challenge is too large.')
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      return xrpcError(400, 'InvalidChallenge', 'The body is not JSON.')
    }
    try {
      return c.json(await answerChallenge(responder, body))
    } catch (err) {
      if (err instanceof P2pdsError) return xrpcError(400, 'InvalidChallenge', err.message)
      throw err
    }
  })
}

/**
 * `GET /xrpc/org.p2pds.plc.getLog?did=` on the peer-facing server, unauthenticated (schema in
 * `lexicons/org/p2pds/plc/getLog.json`): the mirrored, validated PLC audit log of a held did:plc,
 * so other nodes can fetch it when the directory is unreachable (`PlcMirror` asks peers here).
 *
 * Output `{did, log, fetchedAt}`: `log` is the audit log exactly as the directory served it
 * (oldest first). Errors: 400 `InvalidRequest` (missing or malformed DID), 404 `LogNotFound` (no
 * validated log is held for it), 429 `RateLimitExceeded` (its own per-client limit, on top of the
 * server-wide one).
 */
import type { Database } from 'better-sqlite3'
import type { Env, Hono } from 'hono'
import { getPlcLog, PLC_GET_LOG_NSID } from '../identity/plc-mirror.js'
import { routeRateLimit } from './lexicon-routes.js'
import { xrpcError } from './peer-server.js'
import type { RateLimitInit } from './rate-limit.js'

/** Per-client limit of `getLog`. @default */
export const PLC_RATE_LIMIT: RateLimitInit = { capacity: 30, refillPerSec: 5 }

const DID_PLC = /^did:plc:[a-z2-7]{24}$/

/** How to mount `getLog`. */
export interface PlcRoutesInit {
  /** Apply {@link PlcRoutesInit.rateLimit} (config `RATE_LIMIT_ENABLED`). */
  rateLimitEnabled: boolean
  /** @default {@link PLC_RATE_LIMIT} */
  rateLimit?: RateLimitInit
  /** Clock for the rate limit. @default Date.now */
  now?: () => number
}

/** Adds `org.p2pds.plc.getLog` to a peer-facing app (`createPeerApp`), serving the logs in `db`. */
export function mountPlcRoutes<E extends Env>(app: Hono<E>, db: Database, init: PlcRoutesInit): void {
  const path = `/xrpc/${PLC_GET_LOG_NSID}`
  if (init.rateLimitEnabled) app.use(path, routeRateLimit<E>(init.rateLimit ?? PLC_RATE_LIMIT, init.now))
  app.get(path, (c) => {
    const did = c.req.query('did')
    if (did === undefined || did === '') return xrpcError(400, 'InvalidRequest', 'Parameter "did" is required.')
    if (!DID_PLC.test(did)) return xrpcError(400, 'InvalidRequest', `Parameter "did" is not a did:plc DID: ${JSON.stringify(did.slice(0, 100))}.`)
    const held = getPlcLog(db, did)
    if (held === null) return xrpcError(404, 'LogNotFound', `No validated PLC log of ${did} is held here.`)
    return c.json({ did, log: held.log, fetchedAt: new Date(held.fetchedAt).toISOString() })
  })
}

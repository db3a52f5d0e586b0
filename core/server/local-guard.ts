/**
 * Guards for the local API: a loopback Host (no DNS rebinding), a same-origin Origin (no page on
 * another site driving the node), and the per-launch secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

/** Host header values that name this listener on loopback. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`])
}

/** Origins of the UI this listener serves. */
export function allowedOrigins(port: number): Set<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`])
}

/** Constant-time comparison of a presented bearer token with the secret. */
export function secretMatches(authorization: string | undefined, secret: string): boolean {
  if (authorization === undefined) return false
  const m = /^Bearer (.+)$/.exec(authorization)
  if (m === null) return false
  const a = createHash('sha256').update(m[1] ?? '').digest()
  const b = createHash('sha256').update(secret).digest()
  return timingSafeEqual(a, b)
}

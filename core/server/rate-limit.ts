/** Token buckets keyed by client: each request takes one token; tokens refill at a steady rate. */
export interface RateLimitInit {
  /** Burst size: requests a client may make at once. */
  capacity: number
  /** Sustained requests per second per client. */
  refillPerSec: number
  /** Buckets kept before the idle ones are dropped. @default 10000 */
  maxClients?: number
}

export interface RateLimiter {
  /** Takes a token for `client`; returns 0 when allowed, else the ms until a token is free. */
  take(client: string): number
}

export function createRateLimiter(init: RateLimitInit, now: () => number = Date.now): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>()
  const maxClients = init.maxClients ?? 10_000
  return {
    take(client) {
      const t = now()
      let b = buckets.get(client)
      if (b === undefined) {
        if (buckets.size >= maxClients) {
          // Drop full (idle) buckets first; they carry no state worth keeping.
          for (const [k, v] of buckets) {
            if (v.tokens + ((t - v.at) / 1000) * init.refillPerSec >= init.capacity) buckets.delete(k)
          }
          if (buckets.size >= maxClients) buckets.delete(buckets.keys().next().value as string)
        }
        b = { tokens: init.capacity, at: t }
        buckets.set(client, b)
      }
      b.tokens = Math.min(init.capacity, b.tokens + ((t - b.at) / 1000) * init.refillPerSec)
      b.at = t
      if (b.tokens >= 1) {
        b.tokens -= 1
        return 0
      }
      return Math.ceil(((1 - b.tokens) / init.refillPerSec) * 1000)
    },
  }
}

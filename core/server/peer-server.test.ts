import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createRateLimiter } from './rate-limit.js'
import { startPeerServer, type PeerServer } from './peer-server.js'

let server: PeerServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

function post(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let data = ''
      res.on('data', (c: Buffer) => (data += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('peer-facing server', () => {
  it('answers health with its version', async () => {
    server = await startPeerServer({ host: '127.0.0.1', port: 0, version: '1.2.3', rateLimitEnabled: true })
    const res = await fetch(`${server.url}/xrpc/_health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ version: '1.2.3' })
    const missing = await fetch(`${server.url}/xrpc/com.example.nothing`)
    expect(missing.status).toBe(404)
    expect((await missing.json()).error).toBe('MethodNotImplemented')
  })

  it('answers 429 with Retry-After once a client is over its rate', async () => {
    server = await startPeerServer({
      host: '127.0.0.1', port: 0, version: 't', rateLimitEnabled: true, rateLimit: { capacity: 5, refillPerSec: 0.5 },
    })
    const codes: number[] = []
    for (let i = 0; i < 8; i++) codes.push((await fetch(`${server.url}/xrpc/_health`)).status)
    expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
    expect(codes.slice(5)).toEqual([429, 429, 429])
    const res = await fetch(`${server.url}/xrpc/_health`)
    expect(res.status).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await res.json()).error).toBe('RateLimitExceeded')
  })

  it('does not limit when RATE_LIMIT_ENABLED is false', async () => {
    server = await startPeerServer({
      host: '127.0.0.1', port: 0, version: 't', rateLimitEnabled: false, rateLimit: { capacity: 1, refillPerSec: 0.01 },
    })
    for (let i = 0; i < 5; i++) expect((await fetch(`${server.url}/xrpc/_health`)).status).toBe(200)
  })

  it('answers 413 to a body whose declared length is over the limit', async () => {
    server = await startPeerServer({ host: '127.0.0.1', port: 0, version: 't', rateLimitEnabled: false, maxBodyBytes: 1000 })
    const small = await post(`${server.url}/xrpc/com.example.x`, Buffer.alloc(10))
    expect(small.status).toBe(404)
    const big = await post(`${server.url}/xrpc/com.example.x`, Buffer.alloc(5000))
    expect(big.status).toBe(413)
    expect(JSON.parse(big.body).error).toBe('PayloadTooLarge')
  })

  it('reports a port in use as a sentence', async () => {
    server = await startPeerServer({ host: '127.0.0.1', port: 0, version: 't', rateLimitEnabled: false })
    await expect(startPeerServer({ host: '127.0.0.1', port: server.port, version: 't', rateLimitEnabled: false })).rejects.toThrow(
      `port ${server.port} is already in use`,
    )
  })
})

describe('rate limiter', () => {
  it('refills at the configured rate', () => {
    let t = 0
    const l = createRateLimiter({ capacity: 2, refillPerSec: 1 }, () => t)
    expect([l.take('a'), l.take('a')]).toEqual([0, 0])
    expect(l.take('a')).toBe(1000)
    expect(l.take('b')).toBe(0) // clients are independent
    t = 1000
    expect(l.take('a')).toBe(0)
  })

  it('keeps memory bounded', () => {
    const l = createRateLimiter({ capacity: 1, refillPerSec: 1, maxClients: 10 }, () => 0)
    for (let i = 0; i < 1000; i++) l.take(`client-${i}`)
    expect(l.take('client-999')).toBeGreaterThan(0) // the newest bucket survived
  })
})

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fetch as undiciFetch } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AbortError,
  FetchFailedError,
  FetchTimeoutError,
  ResponseTooLargeError,
  TooManyRedirectsError,
  UnsafeUrlError,
} from '../errors.js'
import { checkUrlSafety, classifyAddress, createSafeFetch, type AddressKind, type SafeFetchInit, type TransportFetch } from './safe-fetch.js'

// Every server here listens on 127.0.0.1 and counts the connections it accepts, so a test can
// show that a refused URL sent nothing. No test connects to a non-loopback address: refused
// addresses are refused before any socket is opened, and stub DNS answers are never public when
// a connection could follow.

interface TestServer {
  url: string
  port: number
  connections: number
  requests: http.IncomingMessage[]
  close(): Promise<void>
}

const servers: TestServer[] = []

async function serve(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(handler)
  const t: TestServer = {
    url: '',
    port: 0,
    connections: 0,
    requests: [],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  server.on('connection', () => t.connections++)
  server.on('request', (req) => t.requests.push(req))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.port = (server.address() as AddressInfo).port
  t.url = `http://127.0.0.1:${t.port}`
  servers.push(t)
  return t
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

/** undici's fetch, counting the requests the safe fetch hands it. */
function countingTransport(): { fetch: TransportFetch; calls: string[] } {
  const calls: string[] = []
  const fetch: TransportFetch = (url, init) => {
    calls.push(url)
    return undiciFetch(url, init as never) as unknown as Promise<Response>
  }
  return { fetch, calls }
}

function safe(init: Partial<SafeFetchInit> = {}) {
  return createSafeFetch({ allowPrivateNetwork: true, timeoutMs: 2000, maxBytes: 1024 * 1024, ...init })
}

const hello: http.RequestListener = (_req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ hello: 'world' }))
}

describe('classifyAddress', () => {
  const table: Array<[string, AddressKind]> = [
    // IPv4 public
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['93.184.216.34', 'public'],
    ['9.255.255.255', 'public'],
    ['11.0.0.0', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['126.255.255.255', 'public'],
    ['128.0.0.0', 'public'],
    ['169.253.255.255', 'public'],
    ['169.255.0.0', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['192.167.255.255', 'public'],
    ['192.169.0.0', 'public'],
    ['223.255.255.255', 'public'],
    // IPv4 refused
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.0', 'carrier-grade-nat'],
    ['100.127.255.255', 'carrier-grade-nat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.0.1', 'link-local'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    // IPv6 public
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['[2001:4860:4860::8888]', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['::ffff:808:808', 'public'],
    ['64:ff9b::808:808', 'public'],
    ['2002:808:808::1', 'public'],
    ['fbff:ffff::1', 'public'],
    ['fe7f::1', 'public'],
    // IPv6 refused
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['::FFFF:10.1.2.3', 'private'],
    ['::ffff:192.168.1.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:100.64.0.1', 'carrier-grade-nat'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::127.0.0.1', 'reserved'],
    ['::10.0.0.1', 'reserved'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:a9fe:a9fe::', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['ff05::1:3', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'reserved'],
  ]
  it.each(table)('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind)
  })

  it.each(['localhost', 'example.com', '', '1.2.3', '1.2.3.256', '::1::2', '1:2:3:4:5:6:7:8:9', 'gggg::1', '12345::'])(
    'throws on %j, which is not an IP address',
    (input) => {
      expect(() => classifyAddress(input)).toThrow(RangeError)
    },
  )
})

describe('createSafeFetch with allowPrivateNetwork: true', () => {
  it('fetches from a local server', async () => {
    const server = await serve(hello)
    const res = await safe()(`${server.url}/x?y=1`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.url).toBe(`${server.url}/x?y=1`)
    expect(res.redirected).toBe(false)
    expect(await res.json()).toEqual({ hello: 'world' })
  })

  it('sends the method, headers and body', async () => {
    const server = await serve((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => res.end(JSON.stringify({ method: req.method, header: req.headers['x-test'], body })))
    })
    const res = await safe()(`${server.url}/`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'payload' })
    expect(await res.json()).toEqual({ method: 'POST', header: 'yes', body: 'payload' })
  })

  it('accepts a Request as input', async () => {
    const server = await serve((req, res) => res.end(req.headers['x-test']))
    const res = await safe()(new Request(`${server.url}/`, { headers: { 'x-test': 'from-request' } }))
    expect(await res.text()).toBe('from-request')
  })

  it('follows redirects by hand and reports the final URL', async () => {
    const server = await serve((req, res) => {
      const n = Number(req.url?.slice(1) ?? '0')
      if (n < 3) res.writeHead(302, { location: `/${n + 1}` }).end()
      else res.end(`arrived at ${n}`)
    })
    const res = await safe()(`${server.url}/0`)
    expect(await res.text()).toBe('arrived at 3')
    expect(res.url).toBe(`${server.url}/3`)
    expect(res.redirected).toBe(true)
  })

  it('gives up after maxRedirects', async () => {
    const server = await serve((_req, res) => res.writeHead(307, { location: '/again' }).end())
    await expect(safe({ maxRedirects: 5 })(`${server.url}/`)).rejects.toBeInstanceOf(TooManyRedirectsError)
    expect(server.requests).toHaveLength(6)
  })

  it("honours redirect: 'error' and 'manual'", async () => {
    const server = await serve((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end())
    const err = await safe()(`${server.url}/`, { redirect: 'error' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FetchFailedError)
    expect((err as Error).message).toMatch(/redirect/)
    const res = await safe()(`${server.url}/`, { redirect: 'manual' })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/elsewhere')
  })

  it('turns a POST into a GET on 303 and drops credentials when the origin changes', async () => {
    const target = await serve((req, res) => res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization ?? null })))
    const origin = await serve((_req, res) => res.writeHead(303, { location: `${target.url}/done` }).end())
    const res = await safe()(`${origin.url}/`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer secret' } })
    expect(await res.json()).toEqual({ method: 'GET', auth: null })
  })

  it('keeps credentials on a same-origin redirect', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/start') res.writeHead(307, { location: '/end' }).end()
      else res.end(req.headers.authorization ?? 'none')
    })
    const res = await safe()(`${server.url}/start`, { headers: { authorization: 'Bearer secret' } })
    expect(await res.text()).toBe('Bearer secret')
  })

  it('reports a refused connection as FetchFailedError', async () => {
    const server = await serve(hello)
    const { url } = server
    await server.close()
    const err = await safe()(`${url}/`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FetchFailedError)
    expect((err as FetchFailedError).code).toBe('ERR_FETCH_FAILED')
    expect((err as Error).message).toBe(`Could not reach 127.0.0.1:${new URL(url).port}: the connection was refused. Check the address and your connection, then try again.`)
  })
})

describe('createSafeFetch with allowPrivateNetwork: false', () => {
  it.each([
    ['http://127.0.0.1:PORT/', '127.0.0.1', 'loopback'],
    ['http://[::1]:PORT/', '[::1]', 'loopback'],
    ['http://[::ffff:127.0.0.1]:PORT/', '[::ffff:7f00:1]', 'loopback'],
    ['http://2130706433:PORT/', '127.0.0.1', 'loopback'], // decimal form, normalised by URL
    ['http://0x7f.1:PORT/', '127.0.0.1', 'loopback'],
    ['http://0177.0.0.1:PORT/', '127.0.0.1', 'loopback'], // octal
    ['http://127.0.0.1.:PORT/', '127.0.0.1', 'loopback'], // trailing dot
    ['http://0.0.0.0:PORT/', '0.0.0.0', 'unspecified'],
    ['http://10.0.0.1/', '10.0.0.1', 'private'],
    ['http://192.168.1.1/', '192.168.1.1', 'private'],
    ['http://172.20.0.1/', '172.20.0.1', 'private'],
    ['http://100.64.1.1/', '100.64.1.1', 'carrier-grade-nat'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'link-local'],
    ['https://[fd00::1]/', '[fd00::1]', 'unique-local'],
    ['https://[fe80::1]/', '[fe80::1]', 'link-local'],
  ])('refuses %s before sending anything', async (template, host, reason) => {
    const server = await serve(hello)
    const transport = countingTransport()
    const url = template.replace('PORT', String(server.port))
    const err = await safe({ allowPrivateNetwork: false, fetch: transport.fetch })(url).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnsafeUrlError)
    expect(err).toMatchObject({ code: 'ERR_UNSAFE_URL', host, reason })
    expect((err as Error).message).toMatch(/^Refused to contact .+ALLOW_PRIVATE_NETWORK=true\.$/)
    expect(transport.calls).toEqual([])
    expect(server.connections).toBe(0)
  })

  it.each(['localhost'])('refuses %s at connect time, without connecting', async (name) => {
    const server = await serve(hello)
    const err = await safe({ allowPrivateNetwork: false })(`http://${name}:${server.port}/`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnsafeUrlError)
    expect(err).toMatchObject({ host: name, reason: 'loopback' })
    expect((err as Error).message).toMatch(/^Refused to contact localhost\.? \(it resolves to (127\.0\.0\.1|::1)\): it is a loopback address/)
    expect(server.connections).toBe(0)
  })

  it('refuses a name when any of its addresses is private', async () => {
    const server = await serve(hello)
    // A public address next to a loopback one: refused as a whole, nothing is contacted.
    const lookup = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ]
    const err = await safe({ allowPrivateNetwork: false, lookup })(`http://mixed.example:${server.port}/`).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_UNSAFE_URL', host: 'mixed.example', address: '127.0.0.1', reason: 'loopback' })
    expect(server.connections).toBe(0)
  })

  it('checks the address it connects to, so DNS rebinding after a check is refused', async () => {
    const server = await serve(hello)
    // First answer public (the early check passes), every later answer loopback (where the server is).
    let calls = 0
    const lookup = async () => (calls++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }])
    const url = `http://rebind.example:${server.port}/`
    await expect(checkUrlSafety(url, { allowPrivateNetwork: false, lookup })).resolves.toBeUndefined()
    const err = await safe({ allowPrivateNetwork: false, lookup })(url).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_UNSAFE_URL', host: 'rebind.example', address: '127.0.0.1' })
    expect(calls).toBe(2)
    expect(server.connections).toBe(0)
  })

  it.each([
    ['ftp://example.com/file', 'protocol'],
    ['file:///etc/passwd', 'protocol'],
    ['data:text/plain,hello', 'protocol'],
    ['http://user:pass@example.com/', 'credentials'],
  ])('refuses %s', async (url, reason) => {
    const transport = countingTransport()
    // Refused even when private addresses are allowed.
    for (const allowPrivateNetwork of [false, true]) {
      await expect(safe({ allowPrivateNetwork, fetch: transport.fetch })(url)).rejects.toMatchObject({ code: 'ERR_UNSAFE_URL', reason })
    }
    expect(transport.calls).toEqual([])
  })

  it('checks every redirect hop, even from a trusted origin', async () => {
    const internal = await serve((_req, res) => res.end('internal secret'))
    const hops = [`http://127.0.0.1:${internal.port}/`, `http://localhost:${internal.port}/`, 'http://169.254.169.254/latest/meta-data/']
    const trusted = await serve((req, res) => {
      const target = hops[Number(req.url?.slice(1))]
      if (target !== undefined) res.writeHead(302, { location: target }).end()
      else res.end('trusted')
    })
    const transport = countingTransport()
    const fetch = safe({ allowPrivateNetwork: false, trustedOrigins: [trusted.url], fetch: transport.fetch })
    expect(await (await fetch(`${trusted.url}/ok`)).text()).toBe('trusted')
    for (const [i, hop] of hops.entries()) {
      const err = await fetch(`${trusted.url}/${i}`).catch((e: unknown) => e)
      expect(err, hop).toBeInstanceOf(UnsafeUrlError)
    }
    expect(internal.connections).toBe(0)
    // The localhost hop reaches the transport (refused in its connect-time lookup); the literal ones never do.
    expect(transport.calls.filter((u) => !u.startsWith(trusted.url))).toEqual([hops[1]])
  })
})

describe('checkUrlSafety', () => {
  it('accepts a public name and refuses private ones', async () => {
    const lookup = async (host: string) => [{ address: host === 'good.example' ? '93.184.216.34' : '10.0.0.7', family: 4 }]
    await expect(checkUrlSafety('https://good.example/', { allowPrivateNetwork: false, lookup })).resolves.toBeUndefined()
    await expect(checkUrlSafety('https://bad.example/', { allowPrivateNetwork: false, lookup })).rejects.toMatchObject({
      code: 'ERR_UNSAFE_URL',
      reason: 'private',
      address: '10.0.0.7',
    })
    await expect(checkUrlSafety('https://bad.example/', { allowPrivateNetwork: true, lookup })).resolves.toBeUndefined()
    await expect(checkUrlSafety('http://127.0.0.1:1/', { allowPrivateNetwork: false })).rejects.toMatchObject({ reason: 'loopback' })
    await expect(checkUrlSafety('not a url', { allowPrivateNetwork: false })).rejects.toBeInstanceOf(FetchFailedError)
  })
})

describe('size limit', () => {
  it('refuses a declared Content-Length over the limit before reading', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '5000' })
      res.end('x'.repeat(5000))
    })
    const err = await safe({ maxBytes: 4096 })(`${server.url}/`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ResponseTooLargeError)
    expect(err).toMatchObject({ code: 'ERR_RESPONSE_TOO_LARGE', maxBytes: 4096, declaredBytes: 5000 })
    expect((err as Error).message).toBe(
      `The response from 127.0.0.1:${server.port} is larger than the limit of 4096 bytes (it announced 5000 bytes), so it was not read. ` +
        'The server may be misbehaving; try again later or contact its operator.',
    )
  })

  it('errors while streaming once more than maxBytes arrived', async () => {
    const server = await serve((_req, res) => {
      // Chunked: no Content-Length to check up front.
      for (let i = 0; i < 10; i++) res.write('y'.repeat(1000))
      res.end()
    })
    const res = await safe({ maxBytes: 4096 })(`${server.url}/`)
    expect(res.status).toBe(200)
    const err = await res.text().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ResponseTooLargeError)
    expect(err).toMatchObject({ maxBytes: 4096, declaredBytes: undefined })
  })

  it('accepts a body of exactly maxBytes', async () => {
    const server = await serve((_req, res) => {
      res.write('z'.repeat(2048))
      res.end('z'.repeat(2048))
    })
    const res = await safe({ maxBytes: 4096 })(`${server.url}/`)
    expect((await res.arrayBuffer()).byteLength).toBe(4096)
  })
})

describe('time limit', () => {
  it('gives up on a server that never answers', async () => {
    const server = await serve(() => {
      /* never answers */
    })
    const started = Date.now()
    const err = await safe({ timeoutMs: 300 })(`${server.url}/`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FetchTimeoutError)
    expect(err).toMatchObject({ code: 'ERR_FETCH_TIMEOUT', timeoutMs: 300 })
    expect((err as Error).message).toBe(`127.0.0.1:${server.port} did not answer within 300 ms. It may be down or overloaded; try again later.`)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('gives up on a body that stalls', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first part')
      // ... and nothing more.
    })
    const res = await safe({ timeoutMs: 300 })(`${server.url}/`)
    await expect(res.text()).rejects.toBeInstanceOf(FetchTimeoutError)
  })

  it('lets a slow but steady body take longer than timeoutMs in total', async () => {
    const server = await serve((_req, res) => {
      let n = 0
      const tick = setInterval(() => {
        res.write(`${n}`)
        if (++n === 6) {
          clearInterval(tick)
          res.end()
        }
      }, 100)
    })
    const started = Date.now()
    const res = await safe({ timeoutMs: 300 })(`${server.url}/`)
    expect(await res.text()).toBe('012345')
    expect(Date.now() - started).toBeGreaterThan(300)
  })
})

describe('abort', () => {
  it('rejects at once with an aborted signal, sending nothing', async () => {
    const server = await serve(hello)
    const controller = new AbortController()
    controller.abort()
    await expect(safe()(`${server.url}/`, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError)
    expect(server.requests).toHaveLength(0)
  })

  it('rejects when the signal aborts while waiting', async () => {
    const server = await serve(() => {
      /* never answers */
    })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const err = await safe({ timeoutMs: 5000 })(`${server.url}/`, { signal: controller.signal }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err).toMatchObject({ code: 'ERR_ABORTED' })
  })
})

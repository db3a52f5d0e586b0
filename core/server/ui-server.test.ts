import { request } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeStatusDto, P2pdsApi, P2pdsEvents } from '../api.js'
import { P2pdsError } from '../errors.js'
import { TypedEmitter } from '../events.js'
import { startUiServer, UI_CSP, type UiServer } from './ui-server.js'

// A real listener on 127.0.0.1 with a small API object: the guards are what is under test here;
// node.test.ts runs the same server inside a real node.
const SECRET = 'test-secret-0123456789'
const status: NodeStatusDto = {
  state: 'started', host: 'test', pid: process.pid, version: '0.0.0', dataDir: '/tmp/x', startedAt: null,
  uptimeSec: 1, rssMb: 1, listeners: { ui: null, peer: null }, accounts: 0,
}
// Only node.* is called here; the other areas are never reached by these requests.
const api = {
  node: {
    status: async () => status,
    info: async () => {
      throw new Error('boom')
    },
  },
} as Pick<P2pdsApi, 'node'> as P2pdsApi
const events = new TypedEmitter<P2pdsEvents>()
let dir: string
let server: UiServer

/** Raw HTTP request, so Host and Origin can be set to anything (fetch forbids overriding Host). */
function raw(path: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method, headers }, (res) => {
      let data = ''
      res.on('data', (c: Buffer) => (data += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, headers: res.headers }))
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-ui-'))
  mkdirSync(join(dir, 'renderer'))
  writeFileSync(join(dir, 'renderer', 'index.html'), '<!doctype html><title>P2PDS</title>')
  writeFileSync(join(dir, 'bridge.js'), 'window.p2pds = {}')
  server = await startUiServer({
    api,
    subscribe: (l) => events.onAny(l),
    initialEvents: async () => [{ name: 'node:status', data: status }],
    secret: SECRET,
    port: 0,
    rendererDir: join(dir, 'renderer'),
    bridgeFile: join(dir, 'bridge.js'),
    maxBodyBytes: 1024,
    downloads: {
      async car(input) {
        if (input.did === 'did:plc:missing') throw Object.assign(new P2pdsError('No such account.'), { code: 'ERR_UNKNOWN_ACCOUNT' })
        return {
          filename: `${input.did}-${input.rev ?? 'head'}.car`,
          contentType: 'application/vnd.ipld.car',
          items: 2,
          body: (async function* () {
            yield new TextEncoder().encode('car-part-1;')
            yield new TextEncoder().encode('car-part-2')
          })(),
        }
      },
      async blobs() {
        throw new Error('not used')
      },
    },
  })
})
afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

const host = () => `127.0.0.1:${server.port}`
const auth = { authorization: `Bearer ${SECRET}` }

describe('local API guards', () => {
  it('binds to 127.0.0.1 only', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
  })

  it('answers a call with the secret', async () => {
    const r = await raw('/api/node.status', { host: host(), ...auth }, 'POST')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toEqual({ ok: true, value: status })
  })

  it('refuses a call without the secret, or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: SECRET }] as Array<Record<string, string>>) {
      const r = await raw('/api/node.status', { host: host(), ...headers }, 'POST')
      expect(r.status).toBe(401)
      expect(JSON.parse(r.body).error.code).toBe('ERR_UNAUTHORIZED')
    }
  })

  it('refuses a page on another origin, even with the secret', async () => {
    const r = await raw('/api/node.status', { host: host(), origin: 'https://evil.example', ...auth }, 'POST')
    expect(r.status).toBe(403)
    expect(JSON.parse(r.body).error.code).toBe('ERR_FORBIDDEN_ORIGIN')
    const ok = await raw('/api/node.status', { host: host(), origin: `http://localhost:${server.port}`, ...auth }, 'POST')
    expect(ok.status).toBe(200)
  })

  it('refuses a foreign Host (DNS rebinding), even with the secret', async () => {
    for (const h of ['evil.example', `evil.example:${server.port}`, '127.0.0.1:1']) {
      const r = await raw('/api/node.status', { host: h, ...auth }, 'POST')
      expect(r.status).toBe(403)
      expect(JSON.parse(r.body).error.code).toBe('ERR_FORBIDDEN_HOST')
    }
    const page = await raw('/', { host: 'evil.example' })
    expect(page.status).toBe(403)
  })

  it('validates input and names unknown methods', async () => {
    const bad = await raw('/api/node.status', { host: host(), ...auth, 'content-type': 'application/json' }, 'POST', '{"x":1}')
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.body).error.code).toBe('ERR_INVALID_INPUT')
    const notJson = await raw('/api/node.status', { host: host(), ...auth }, 'POST', '{')
    expect(JSON.parse(notJson.body).error.code).toBe('ERR_INVALID_JSON')
    const unknown = await raw('/api/node.explode', { host: host(), ...auth }, 'POST')
    expect(unknown.status).toBe(404)
    expect(JSON.parse(unknown.body).error.code).toBe('ERR_UNKNOWN_METHOD')
    const failing = await raw('/api/node.info', { host: host(), ...auth }, 'POST')
    expect(failing.status).toBe(500)
    expect(JSON.parse(failing.body)).toEqual({ ok: false, error: { name: 'Error', code: 'ERR_INTERNAL', message: 'boom' } })
  })

  it('refuses a body over the limit', async () => {
    const r = await raw('/api/node.status', { host: host(), ...auth, 'content-type': 'application/json' }, 'POST', JSON.stringify('x'.repeat(4096)))
    expect(r.status).toBe(413)
    expect(JSON.parse(r.body).error.code).toBe('ERR_BODY_TOO_LARGE')
  })

  it('serves the UI with a strict CSP and the bridge without the secret', async () => {
    const page = await raw('/', { host: host() })
    expect(page.status).toBe(200)
    expect(page.body).toContain('<title>P2PDS</title>')
    expect(page.headers['content-security-policy']).toBe(UI_CSP)
    expect(UI_CSP).toContain("script-src 'self'")
    expect(UI_CSP).not.toContain('unsafe')
    const bridge = await raw('/bridge.js', { host: host() })
    expect(bridge.body).toBe('window.p2pds = {}')
    const traversal = await raw('/..%2f..%2fetc%2fpasswd', { host: host() })
    expect(traversal.body).not.toContain('root:')
  })

  it('streams a download to an authorised caller, with a safe file name', async () => {
    const ok = await raw('/api/download/car?did=did:plc:abc&rev=3ljlyqit2uk2l', { host: host(), ...auth })
    expect(ok.status).toBe(200)
    expect(ok.body).toBe('car-part-1;car-part-2')
    expect(ok.headers['content-type']).toBe('application/vnd.ipld.car')
    expect(ok.headers['content-disposition']).toBe('attachment; filename="did:plc:abc-3ljlyqit2uk2l.car"')
    expect(ok.headers['x-p2pds-items']).toBe('2')
    expect((await raw('/api/download/car?did=did:plc:abc', { host: host() })).status).toBe(401)
    const bad = await raw('/api/download/car?did=alice', { host: host(), ...auth })
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.body).error.code).toBe('ERR_INVALID_INPUT')
    const missing = await raw('/api/download/car?did=did:plc:missing', { host: host(), ...auth })
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body).error).toMatchObject({ code: 'ERR_UNKNOWN_ACCOUNT', message: 'No such account.' })
    expect((await raw('/api/download/other?did=did:plc:abc', { host: host(), ...auth })).status).toBe(404)
  })

  it('streams events: the current status first, then live ones', async () => {
    const res = await fetch(`${server.url}/api/events`, { headers: auth })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read()
        if (done) throw new Error('stream ended')
        text += new TextDecoder().decode(value)
      }
    }
    await readUntil('"uptimeSec":1')
    events.emit('node:status', { ...status, uptimeSec: 42 })
    await readUntil('"uptimeSec":42')
    expect(text).toMatch(/event: node:status\ndata: \{/)
    await reader.cancel()
    const refused = await fetch(`${server.url}/api/events`)
    expect(refused.status).toBe(401)
  })
})

/**
 * The browser-mode bridge against a real node (createNode, real local API on 127.0.0.1, real
 * SQLite in a temp data dir). The last block runs the BUILT bridge as the node serves it at
 * /bridge.js, in a fresh V8 context with a minimal window (location, history, sessionStorage,
 * fetch): what a browser provides, without starting one.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { API_METHODS, type NodeStatusDto, type P2pdsBridge } from '../core/api.js'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'
import { createBrowserBridge, SECRET_STORAGE_KEY, takeSecret, type BrowserBridge, type ConnectionState } from './browser-bridge.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

let dir: string
let node: P2pdsNode
const bridges: BrowserBridge[] = []

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

async function startNode(uiPort = 0): Promise<P2pdsNode> {
  const config = loadConfig({ env: { DATA_DIR: dir, PORT: '0', UI_PORT: String(uiPort) }, cwd: dir })
  node = await createNode({ config, host: 'test', statusIntervalMs: 60_000 })
  await node.start()
  return node
}

function open(init: Partial<Parameters<typeof createBrowserBridge>[0]> = {}): BrowserBridge & { states: ConnectionState[] } {
  const states: ConnectionState[] = []
  const b = createBrowserBridge({ origin: node.uiUrl!, secret: node.secret, minRetryMs: 20, maxRetryMs: 100, onConnection: (s) => states.push(s), ...init })
  bridges.push(b)
  return Object.assign(b, { states })
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-bridge-'))
})
afterEach(async () => {
  for (const b of bridges.splice(0)) b.close()
  await node?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('takeSecret', () => {
  function storage(initial: Record<string, string> = {}) {
    const m = new Map(Object.entries(initial))
    return { m, getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) }
  }

  it('moves #secret=… into session storage and out of the address bar', () => {
    const s = storage()
    const urls: string[] = []
    expect(takeSecret({ hash: '#secret=abc', pathname: '/', search: '?x=1' }, s, (u) => urls.push(u))).toBe('abc')
    expect(s.m.get(SECRET_STORAGE_KEY)).toBe('abc')
    expect(urls).toEqual(['/?x=1'])
  })

  it('keeps other fragment parameters, reuses the stored secret on reload, and returns null without one', () => {
    const urls: string[] = []
    expect(takeSecret({ hash: '#secret=abc&tab=peers', pathname: '/p', search: '' }, storage(), (u) => urls.push(u))).toBe('abc')
    expect(urls).toEqual(['/p#tab=peers'])
    expect(takeSecret({ hash: '', pathname: '/', search: '' }, storage({ [SECRET_STORAGE_KEY]: 'kept' }), () => undefined)).toBe('kept')
    expect(takeSecret({ hash: '#/settings', pathname: '/', search: '' }, storage(), () => undefined)).toBeNull()
    expect(takeSecret({ hash: '', pathname: '/', search: '' }, null, () => undefined)).toBeNull()
    const throwing = { getItem: () => { throw new Error('blocked') }, setItem: () => { throw new Error('blocked') } }
    expect(takeSecret({ hash: '#secret=s', pathname: '/', search: '' }, throwing, () => undefined)).toBe('s')
    expect(takeSecret({ hash: '', pathname: '/', search: '' }, throwing, () => undefined)).toBeNull()
  })
})

describe('createBrowserBridge (real node)', () => {
  it('calls methods over the local API and unwraps the results', async () => {
    await startNode()
    const { bridge } = open()
    const status = await bridge.node.status()
    expect(status).toMatchObject({ state: 'started', host: 'test', dataDir: dir })
    const info = await bridge.node.info()
    expect(info.dataDir).toBe(dir)
  })

  it('streams events: the current status on connect, then every change', async () => {
    await startNode()
    const b = open()
    const seen: NodeStatusDto[] = []
    b.bridge.on('node:status', (s) => seen.push(s))
    await until(() => seen.length > 0, 'the initial node:status')
    expect(seen[0]!.state).toBe('started')
    expect(b.states[0]).toEqual({ connected: true })
    expect(b.connection.connected).toBe(true)
  })

  it('fails calls with ERR_UNAUTHORIZED and a sentence when the secret is missing or wrong', async () => {
    await startNode()
    const none = open({ secret: null })
    await expect(none.bridge.node.status()).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED', message: expect.stringContaining('p2pds serve') })
    expect(none.states).toEqual([{ connected: false, message: expect.stringContaining('p2pds serve') }])

    const wrong = open({ secret: 'not-the-secret' })
    await expect(wrong.bridge.node.status()).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED', message: expect.stringContaining('p2pds serve') })
    await until(() => wrong.states.length > 0, 'the stream to be refused')
    expect(wrong.states).toEqual([{ connected: false, message: expect.stringContaining('p2pds serve') }])
  })

  it('reports ERR_NODE_UNREACHABLE when the node is gone, and reconnects when it is back', async () => {
    const port = await freePort()
    await startNode(port)
    const b = open()
    const seen: NodeStatusDto[] = []
    b.bridge.on('node:status', (s) => seen.push(s))
    await until(() => b.connection.connected, 'the first connection')

    await node.stop()
    await until(() => !b.connection.connected, 'the drop to be noticed')
    expect(b.connection.message).toMatch(/reconnecting/)
    await expect(b.bridge.node.status()).rejects.toMatchObject({ code: 'ERR_NODE_UNREACHABLE' })

    seen.length = 0
    await node.start() // same node object: same secret, same fixed port
    await until(() => b.connection.connected, 'the reconnection')
    await until(() => seen.some((s) => s.state === 'started'), 'status after reconnecting')
    await expect(b.bridge.node.status()).resolves.toMatchObject({ state: 'started' })
  })
})

describe('built /bridge.js as served by the node', () => {
  beforeAll(() => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-preload.mjs')], { cwd: root, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`build-preload failed:\n${r.stdout}\n${r.stderr}`)
  })

  /** The parts of `window` the bridge uses; enough to run it without a browser. */
  function fakeWindow(origin: string, hash: string) {
    const win = new EventTarget() as EventTarget & Record<string, unknown>
    const store = new Map<string, string>()
    const urls: string[] = []
    const connection: ConnectionState[] = []
    const location = { origin, hash, pathname: '/', search: '' }
    Object.assign(win, {
      window: win,
      location,
      history: { state: null, replaceState: (_s: unknown, _t: string, url: string) => {
        urls.push(url)
        location.hash = ''
      } },
      sessionStorage: { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) },
      // A page's relative fetches resolve against its origin.
      fetch: (input: string, init?: RequestInit) => fetch(new URL(input, origin), init),
      console, setTimeout, clearTimeout, AbortController, TextDecoderStream, URLSearchParams, CustomEvent, URL,
    })
    win.addEventListener('p2pds:connection', (e) => connection.push((e as CustomEvent<ConnectionState>).detail))
    return { win, store, urls, connection }
  }

  async function runServedBridge(hash: string) {
    const res = await fetch(`${node.uiUrl}/bridge.js`)
    expect(res.status).toBe(200)
    const code = await res.text()
    const page = fakeWindow(node.uiUrl!, hash)
    vm.runInContext(code, vm.createContext(page.win))
    return page
  }

  it('takes the secret from the URL, sets window.p2pds, calls and streams', async () => {
    await startNode()
    const page = await runServedBridge(`#secret=${node.secret}`)
    expect(page.urls).toEqual(['/'])
    expect(page.store.get(SECRET_STORAGE_KEY)).toBe(node.secret)
    const p2pds = page.win.p2pds as P2pdsBridge
    expect(Object.keys(p2pds).sort()).toEqual([...new Set(API_METHODS.map((m) => m.split('.')[0]!)), 'on', 'host'].sort())
    // Subscribed before anything is awaited, so the status sent on connect is seen.
    const seen: unknown[] = []
    p2pds.on('node:status', (d) => seen.push(d))
    await expect(p2pds.node.status()).resolves.toMatchObject({ state: 'started' })
    await until(() => page.connection.length > 0 && seen.length > 0, 'connection and first event')
    expect(page.connection[0]).toEqual({ connected: true })
    expect(page.win.p2pdsConnection).toEqual({ connected: true })
    // Stop its stream so the node can stop promptly.
    await node.stop()
  })

  it('without a secret: says so on every call and in the connection event', async () => {
    await startNode()
    const page = await runServedBridge('')
    const p2pds = page.win.p2pds as P2pdsBridge
    await expect(p2pds.node.status()).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED', message: expect.stringContaining('p2pds serve') })
    expect(page.win.p2pdsConnection).toEqual({ connected: false, message: expect.stringContaining('p2pds serve') })
  })
})

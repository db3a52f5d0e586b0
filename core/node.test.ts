import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NodeStatusDto } from './api.js'
import { loadConfig } from './config.js'
import { AbortError, DataDirLockedError } from './errors.js'
import { createNode, type P2pdsNode } from './node.js'
import { LATEST_SCHEMA_VERSION } from './storage/migrations.js'

let dir: string
const nodes: P2pdsNode[] = []

async function makeNode(extra: Record<string, string> = {}, listen = true): Promise<P2pdsNode> {
  const config = loadConfig({ env: { DATA_DIR: dir, PORT: '0', ...extra }, cwd: dir })
  const node = await createNode({ config, host: 'test', listen, statusIntervalMs: 50 })
  nodes.push(node)
  return node
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-node-'))
})
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('createNode', () => {
  it('starts in order, serves both listeners, and stops cleanly', async () => {
    const node = await makeNode()
    const states: string[] = []
    // Transitions only: the periodic status tick repeats the current state.
    node.on('node:status', (s) => {
      if (states.at(-1) !== s.state) states.push(s.state)
    })
    expect(node.status).toBe('stopped')
    await node.start()
    expect(node.status).toBe('started')
    expect(states).toEqual(['starting', 'started'])

    const s = await node.api.node.status()
    expect(s.state).toBe('started')
    expect(s.listeners.ui).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const health = await fetch(`${s.listeners.peer}/xrpc/_health`)
    expect(health.status).toBe(200)
    expect(node.publicUrl).toBe(`http://localhost:${new URL(s.listeners.peer!).port}`)

    const info = await node.api.node.info()
    expect(info.schemaVersion).toBe(LATEST_SCHEMA_VERSION)
    expect(info.databaseFile).toBe(join(dir, 'pds.db'))
    expect(existsSync(join(dir, 'pds.db'))).toBe(true)

    await node.stop()
    expect(node.status).toBe('stopped')
    expect(states).toEqual(['starting', 'started', 'stopping', 'stopped'])
    await expect(fetch(`${s.listeners.peer}/xrpc/_health`)).rejects.toThrow()
    expect(existsSync(join(dir, 'node.lock'))).toBe(false)
  })

  it('writes api.json (0600) while running and removes it on stop', async () => {
    const node = await makeNode()
    await node.start()
    const file = join(dir, 'api.json')
    const info = JSON.parse(readFileSync(file, 'utf8'))
    expect(info).toEqual({ url: node.uiUrl, secret: node.secret, pid: process.pid })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const res = await fetch(`${info.url}/api/node.status`, { method: 'POST', headers: { authorization: `Bearer ${info.secret}` } })
    expect(((await res.json()) as { value: NodeStatusDto }).value.state).toBe('started')
    await node.stop()
    expect(existsSync(file)).toBe(false)
  })

  it('is idempotent: concurrent starts share one start, stops likewise', async () => {
    const node = await makeNode()
    const states: string[] = []
    node.on('node:status', (s) => {
      if (states.at(-1) !== s.state) states.push(s.state)
    })
    await Promise.all([node.start(), node.start(), node.start()])
    await node.start()
    await Promise.all([node.stop(), node.stop()])
    await node.stop()
    expect(states).toEqual(['starting', 'started', 'stopping', 'stopped'])
    await node.start() // and it can start again
    expect(node.status).toBe('started')
  })

  it('refuses a second node on the same data dir with one clear sentence', async () => {
    const first = await makeNode()
    await first.start()
    const second = await makeNode()
    const err = await second.start().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataDirLockedError)
    expect((err as Error).message).toMatch(/in use by another P2PDS node \(pid \d+\)/)
    expect(second.status).toBe('stopped')
    expect(first.status).toBe('started')
    expect((await first.api.node.status()).state).toBe('started')
  })

  it('rejects an already aborted start and leaves nothing behind', async () => {
    const node = await makeNode()
    await expect(node.start({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    expect(node.status).toBe('stopped')
    expect(existsSync(join(dir, 'node.lock'))).toBe(false)
  })

  it('rolls back a start aborted half-way', async () => {
    const node = await makeNode()
    const controller = new AbortController()
    // Abort as soon as the node reports 'starting', i.e. after the first step began.
    node.on('node:status', (s) => {
      if (s.state === 'starting') queueMicrotask(() => controller.abort())
    })
    await expect(node.start({ signal: controller.signal })).rejects.toBeInstanceOf(AbortError)
    expect(node.status).toBe('stopped')
    expect(existsSync(join(dir, 'node.lock'))).toBe(false)
    expect(existsSync(join(dir, 'api.json'))).toBe(false)
    await node.start() // the data dir is usable again
    expect(node.status).toBe('started')
  })

  it('releases everything when a listener cannot bind', async () => {
    const first = await makeNode({}, true)
    await first.start()
    const port = new URL((await first.api.node.status()).listeners.peer!).port
    const otherDir = mkdtempSync(join(tmpdir(), 'p2pds-node-'))
    try {
      const config = loadConfig({ env: { DATA_DIR: otherDir, PORT: port }, cwd: otherDir })
      const second = await createNode({ config, host: 'test' })
      await expect(second.start()).rejects.toThrow(`port ${port} is already in use`)
      expect(existsSync(join(otherDir, 'node.lock'))).toBe(false)
    } finally {
      rmSync(otherDir, { recursive: true, force: true })
    }
  })

  it('pushes a status tick while started', async () => {
    const node = await makeNode({}, false)
    await node.start()
    const tick = await new Promise<NodeStatusDto>((resolve) => node.on('node:status', resolve))
    expect(tick.state).toBe('started')
    expect(tick.listeners).toEqual({ ui: null, peer: null })
  })
})

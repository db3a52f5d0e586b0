/**
 * registerIpc against a REAL node (createNode on a temp data dir, real SQLite, listen:false).
 * Electron cannot run on this machine, so `ipcMain` and the invoke event are STAND-INS that record
 * the handlers and carry a sender frame URL, as Electron's would.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { IpcMainInvokeEvent } from 'electron'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { API_METHODS, HOST_METHODS, hostIpcChannel, ipcChannel, type ApiResult, type NodeInfoDto, type NodeStatusDto } from '../core/api.js'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'
import { isTrustedSenderUrl, registerHostIpc, registerIpc, rendererSenderCheck } from './ipc.js'

type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<ApiResult<unknown>>

/** A stand-in for Electron's ipcMain (Electron cannot run here): records handle/removeHandler. */
function ipcMainStandIn() {
  const handlers = new Map<string, Handler>()
  return {
    handlers,
    handle(channel: string, listener: Handler) {
      if (handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`)
      handlers.set(channel, listener)
    },
    removeHandler(channel: string) {
      handlers.delete(channel)
    },
  }
}

/** A stand-in invoke event whose sender frame is at `url` (null: the frame is gone). */
function eventFrom(url: string | null, parent: object | null = null): IpcMainInvokeEvent {
  return { senderFrame: url === null ? null : { url, parent } } as unknown as IpcMainInvokeEvent
}

const rendererFile = join(tmpdir(), 'p2pds app', 'dist', 'renderer', 'index.html')
const rendererUrl = pathToFileURL(rendererFile).href

let dir: string
let node: P2pdsNode

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-ipc-'))
  node = await createNode({ config: loadConfig({ env: { DATA_DIR: dir, PORT: '0' }, cwd: dir }), host: 'test', listen: false })
  await node.start()
})
afterEach(async () => {
  await node.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('registerIpc (real node, ipcMain stand-in)', () => {
  it('registers exactly one handler per API method, on its channel, and removes them all', () => {
    const ipc = ipcMainStandIn()
    const unregister = registerIpc(ipc, node.api, rendererSenderCheck(rendererUrl))
    expect([...ipc.handlers.keys()].sort()).toEqual(API_METHODS.map((m) => ipcChannel(m)).sort())
    unregister()
    expect(ipc.handlers.size).toBe(0)
  })

  it('calls through to the node for the app renderer', async () => {
    const ipc = ipcMainStandIn()
    registerIpc(ipc, node.api, rendererSenderCheck(rendererUrl))
    const status = await ipc.handlers.get(ipcChannel('node.status'))!(eventFrom(rendererUrl))
    expect(status).toMatchObject({ ok: true, value: { state: 'started', host: 'test', dataDir: dir } })
    expect((status as { value: NodeStatusDto }).value.pid).toBe(process.pid)
    const info = await ipc.handlers.get(ipcChannel('node.info'))!(eventFrom(`${rendererUrl}#/settings`), undefined)
    expect(info.ok).toBe(true)
    expect((info as { value: NodeInfoDto }).value.databaseFile).toBe(join(dir, 'pds.db'))
  })

  it('refuses untrusted senders with ERR_FORBIDDEN_SENDER, without calling the node', async () => {
    const ipc = ipcMainStandIn()
    let calls = 0
    const api = { ...node.api, node: { status: async () => (calls++, node.api.node.status()), info: async () => (calls++, node.api.node.info()) } }
    registerIpc(ipc, api, rendererSenderCheck(rendererUrl))
    const handler = ipc.handlers.get(ipcChannel('node.status'))!
    for (const event of [
      eventFrom('https://example.com/'),
      eventFrom('file:///tmp/evil.html'),
      eventFrom(null),
      eventFrom(rendererUrl, { url: rendererUrl }), // a subframe, even at the app URL
    ]) {
      const r = await handler(event)
      expect(r).toMatchObject({ ok: false, error: { code: 'ERR_FORBIDDEN_SENDER' } })
    }
    expect(calls).toBe(0)
  })

  it('validates input with the contract schema: bad input is ERR_INVALID_INPUT', async () => {
    const ipc = ipcMainStandIn()
    registerIpc(ipc, node.api, rendererSenderCheck(rendererUrl))
    const r = await ipc.handlers.get(ipcChannel('node.status'))!(eventFrom(rendererUrl), { unexpected: true })
    expect(r).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_INPUT', name: 'InvalidInputError' } })
  })

  it('returns node errors as data (a stopped node: ERR_NOT_STARTED)', async () => {
    const ipc = ipcMainStandIn()
    registerIpc(ipc, node.api, rendererSenderCheck(rendererUrl))
    await node.stop()
    const r = await ipc.handlers.get(ipcChannel('node.info'))!(eventFrom(rendererUrl))
    expect(r).toMatchObject({ ok: false, error: { code: 'ERR_NOT_STARTED' } })
  })
})

describe('registerHostIpc (ipcMain stand-in)', () => {
  it('registers one handler per host method, checks the sender and the input, and returns results as data', async () => {
    const ipc = ipcMainStandIn()
    const calls: unknown[] = []
    const unregister = registerHostIpc(
      ipc,
      {
        saveCar: async (input) => (calls.push(input), { path: '/x.car', bytes: 3, items: 1 }),
        saveBlobs: async () => null,
        settings: async () => ({ launchAtLogin: { supported: true, enabled: false, reason: null }, canOpenDataFolder: true }),
        setLaunchAtLogin: async ({ enabled }) => (calls.push({ enabled }), { launchAtLogin: { supported: true, enabled, reason: null }, canOpenDataFolder: true }),
        openDataFolder: async () => undefined,
      },
      rendererSenderCheck(rendererUrl),
    )
    expect([...ipc.handlers.keys()].sort()).toEqual(HOST_METHODS.map((m) => hostIpcChannel(m)).sort())
    const saveCar = ipc.handlers.get(hostIpcChannel('saveCar'))!
    expect(await saveCar(eventFrom(rendererUrl), { did: 'did:plc:abc' })).toEqual({ ok: true, value: { path: '/x.car', bytes: 3, items: 1 } })
    expect(await saveCar(eventFrom('https://example.com/'), { did: 'did:plc:abc' })).toMatchObject({ ok: false, error: { code: 'ERR_FORBIDDEN_SENDER' } })
    expect(await saveCar(eventFrom(rendererUrl), { did: 'alice' })).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_INPUT' } })
    expect(await saveCar(eventFrom(rendererUrl), { did: 'did:plc:abc', path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_INPUT' } })
    expect(calls).toEqual([{ did: 'did:plc:abc' }])
    expect(await ipc.handlers.get(hostIpcChannel('saveBlobs'))!(eventFrom(rendererUrl), { did: 'did:plc:abc' })).toEqual({ ok: true, value: null })
    // Launch at login takes exactly { enabled: boolean }; the folder to open is never the renderer's to name.
    const setLaunch = ipc.handlers.get(hostIpcChannel('setLaunchAtLogin'))!
    expect(await setLaunch(eventFrom(rendererUrl), { enabled: 'yes' })).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_INPUT' } })
    expect(await setLaunch(eventFrom(rendererUrl), { enabled: true })).toMatchObject({ ok: true, value: { launchAtLogin: { enabled: true } } })
    expect(await ipc.handlers.get(hostIpcChannel('openDataFolder'))!(eventFrom(rendererUrl), { path: '/etc' })).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_INPUT' } })
    expect(await ipc.handlers.get(hostIpcChannel('openDataFolder'))!(eventFrom(rendererUrl))).toEqual({ ok: true })
    expect(calls).toEqual([{ did: 'did:plc:abc' }, { enabled: true }])
    unregister()
    expect(ipc.handlers.size).toBe(0)
  })
})

describe('isTrustedSenderUrl', () => {
  it('accepts the renderer file, with or without a fragment', () => {
    expect(isTrustedSenderUrl(rendererUrl, rendererUrl)).toBe(true)
    expect(isTrustedSenderUrl(`${rendererUrl}#/accounts`, rendererUrl)).toBe(true)
    expect(isTrustedSenderUrl('file:///a/index.html', 'file:///a/index.html')).toBe(true)
  })

  it('rejects any other file, scheme, host or query, and garbage', () => {
    expect(isTrustedSenderUrl('file:///a/other.html', 'file:///a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('file:///a/b/../index.html', 'file:///a/b/index.html')).toBe(false)
    expect(isTrustedSenderUrl('file://server/a/index.html', 'file:///a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('file:///a/index.html?x=1', 'file:///a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('http://127.0.0.1:3000/a/index.html', 'file:///a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('https://a/index.html', 'https://a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('about:blank', 'file:///a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('', 'file:///a/index.html')).toBe(false)
    expect(isTrustedSenderUrl('not a url', 'file:///a/index.html')).toBe(false)
  })
})

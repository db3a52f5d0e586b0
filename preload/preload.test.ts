/**
 * The BUILT Electron preload (dist/preload/index.cjs), run in a fresh V8 context the way a
 * sandboxed preload runs: CommonJS, no Node globals, and `require` that knows only 'electron'.
 *
 * Electron itself cannot run on this machine, so 'electron' is a STAND-IN here: it records what
 * the preload hands to `contextBridge.exposeInMainWorld` and answers `ipcRenderer.invoke`. Note
 * that the real contextBridge copies what it is given; the stand-in hands over the object itself.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import { beforeAll, describe, expect, it } from 'vitest'
import { API_METHODS, HOST_METHODS, hostIpcChannel, IPC_EVENT_CHANNEL, ipcChannel, type ApiResult } from '../core/api.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const built = join(root, 'dist', 'preload', 'index.cjs')

type Listener = (event: unknown, ...args: unknown[]) => void

/** A stand-in for the 'electron' module as a sandboxed preload sees it (Electron cannot run here). */
function electronStandIn(answer: (channel: string, input: unknown) => ApiResult<unknown>) {
  const exposed = new Map<string, unknown>()
  const invoked: Array<{ channel: string; args: unknown[] }> = []
  const ipcListeners = new Map<string, Listener[]>()
  const module = {
    contextBridge: {
      exposeInMainWorld(key: string, api: unknown) {
        exposed.set(key, api)
      },
    },
    ipcRenderer: {
      async invoke(channel: string, ...args: unknown[]) {
        invoked.push({ channel, args })
        return answer(channel, args[0])
      },
      on(channel: string, listener: Listener) {
        ipcListeners.set(channel, [...(ipcListeners.get(channel) ?? []), listener])
      },
      removeListener() {},
    },
  }
  /** What main's `webContents.send(channel, payload)` would deliver. */
  const emitFromMain = (channel: string, payload: unknown): void => {
    for (const l of ipcListeners.get(channel) ?? []) l({ sender: 'stand-in' }, payload)
  }
  return { module, exposed, invoked, ipcListeners, emitFromMain }
}

function loadPreload(standIn: ReturnType<typeof electronStandIn>): { required: string[] } {
  const required: string[] = []
  const code = readFileSync(built, 'utf8')
  const context = vm.createContext({ console })
  const fn = vm.runInContext(`(function (exports, require, module) {${code}\n})`, context, { filename: built }) as (
    exports: object,
    require: (id: string) => unknown,
    module: { exports: object },
  ) => void
  const mod = { exports: {} }
  fn(mod.exports, (id) => {
    required.push(id)
    if (id === 'electron') return standIn.module
    throw new Error(`a sandboxed preload cannot require ${id}`)
  }, mod)
  return { required }
}

function methodNames(obj: Record<string, unknown>): string[] {
  const out: string[] = []
  for (const [area, group] of Object.entries(obj)) {
    if (typeof group !== 'object' || group === null) continue
    for (const [name, fn] of Object.entries(group)) if (typeof fn === 'function') out.push(`${area}.${name}`)
  }
  return out.sort()
}

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-preload.mjs')], { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`build-preload failed:\n${r.stdout}\n${r.stderr}`)
})

describe('Electron preload (built bundle, electron stand-in)', () => {
  it('requires nothing but electron and exposes only window.p2pds', () => {
    const standIn = electronStandIn(() => ({ ok: true, value: null }))
    const { required } = loadPreload(standIn)
    expect([...new Set(required)]).toEqual(['electron'])
    expect([...standIn.exposed.keys()]).toEqual(['p2pds'])
  })

  it('exposes exactly the contract methods plus on(), and no ipcRenderer or generic invoke', () => {
    const standIn = electronStandIn(() => ({ ok: true, value: null }))
    loadPreload(standIn)
    const p2pds = standIn.exposed.get('p2pds') as Record<string, unknown>
    expect(methodNames(p2pds)).toEqual([...API_METHODS, ...HOST_METHODS.map((m) => `host.${m}`)].sort())
    const topLevelFunctions = Object.entries(p2pds).filter(([, v]) => typeof v === 'function').map(([k]) => k)
    expect(topLevelFunctions).toEqual(['on'])
    const text = JSON.stringify(Object.keys(p2pds)) + JSON.stringify(Object.values(p2pds).map((g) => (typeof g === 'object' && g !== null ? Object.keys(g) : [])))
    expect(text).not.toMatch(/ipcRenderer|invoke|send/i)
    // Nothing reachable from the exposed object is the stand-in's ipcRenderer.
    for (const value of Object.values(p2pds)) {
      expect(value).not.toBe(standIn.module.ipcRenderer)
      if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) expect(v).not.toBe(standIn.module.ipcRenderer.invoke)
    }
  })

  it('calls each method on its own channel and resolves to the unwrapped value', async () => {
    const standIn = electronStandIn((channel) => ({ ok: true, value: { answeredOn: channel } }))
    loadPreload(standIn)
    const p2pds = standIn.exposed.get('p2pds') as Record<string, Record<string, (input?: unknown) => Promise<unknown>>>
    for (const method of API_METHODS) {
      const [area, name] = method.split('.') as [string, string]
      await expect(p2pds[area]![name]!()).resolves.toEqual({ answeredOn: ipcChannel(method) })
    }
    expect(standIn.invoked.map((c) => c.channel)).toEqual(API_METHODS.map((m) => ipcChannel(m)))
    expect(standIn.invoked.every((c) => c.args.length === 1 && c.args[0] === undefined)).toBe(true)
  })

  it('calls each host method on its own channel with its input', async () => {
    const standIn = electronStandIn((channel) => ({ ok: true, value: { answeredOn: channel } }))
    loadPreload(standIn)
    const p2pds = standIn.exposed.get('p2pds') as { host: Record<string, unknown> }
    expect(p2pds.host.kind).toBe('electron')
    for (const method of HOST_METHODS) {
      const fn = p2pds.host[method] as (input: unknown) => Promise<unknown>
      await expect(fn({ did: 'did:plc:abc' })).resolves.toEqual({ answeredOn: hostIpcChannel(method) })
    }
    expect(standIn.invoked.map((c) => [c.channel, c.args[0]])).toEqual(HOST_METHODS.map((m) => [hostIpcChannel(m), { did: 'did:plc:abc' }]))
  })

  it('rejects a failed call with its code (as a plain object, which contextBridge copies whole)', async () => {
    const standIn = electronStandIn(() => ({ ok: false, error: { name: 'NodeNotStartedError', code: 'ERR_NOT_STARTED', message: 'The node is not running.' } }))
    loadPreload(standIn)
    const p2pds = standIn.exposed.get('p2pds') as { node: { info(): Promise<unknown> } }
    const err = await p2pds.node.info().catch((e: unknown) => e)
    expect(err).toEqual({ name: 'NodeNotStartedError', code: 'ERR_NOT_STARTED', message: 'The node is not running.' })
  })

  it('delivers events main sends on the event channel to on() listeners, only for contract events', () => {
    const standIn = electronStandIn(() => ({ ok: true, value: null }))
    loadPreload(standIn)
    expect([...standIn.ipcListeners.keys()]).toEqual([IPC_EVENT_CHANNEL])
    const p2pds = standIn.exposed.get('p2pds') as { on(e: string, l: (d: unknown) => void): () => void }
    const got: unknown[] = []
    const off = p2pds.on('node:status', (d) => got.push(d))
    standIn.emitFromMain(IPC_EVENT_CHANNEL, { name: 'node:status', data: { state: 'started' } })
    standIn.emitFromMain(IPC_EVENT_CHANNEL, { name: 'other:event', data: 1 })
    standIn.emitFromMain(IPC_EVENT_CHANNEL, 'garbage')
    off()
    standIn.emitFromMain(IPC_EVENT_CHANNEL, { name: 'node:status', data: { state: 'stopped' } })
    expect(got).toEqual([{ state: 'started' }])
    expect(() => p2pds.on('other:event', () => undefined)).toThrow(/no event named/)
  })
})

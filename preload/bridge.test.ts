import { describe, expect, it, vi } from 'vitest'
import { API_EVENTS, API_METHODS, ApiCallError, type ApiMethodName, type ApiResult, type P2pdsHostApi } from '../core/api.js'
import { createBridge as createBridgeWithHost, createEventHub, forContextBridge, toPlainError, unwrapResult, type BridgeInvoke, type BridgeSubscribe } from './bridge.js'

// The host half (save dialogs, downloads) has its own tests below; most tests here need any host.
const savedCars: unknown[] = []
const TEST_HOST: P2pdsHostApi = {
  kind: 'browser',
  saveCar: async (input) => {
    savedCars.push(input)
    return { path: '/tmp/x.car', bytes: 1, items: 1 }
  },
  saveBlobs: async () => {
    throw new ApiCallError({ name: 'ApiCallError', code: 'ERR_TEST', message: 'refused' })
  },
  settings: async () => ({ launchAtLogin: { supported: true, enabled: false, reason: null }, canOpenDataFolder: true }),
  setLaunchAtLogin: async ({ enabled }) => ({ launchAtLogin: { supported: true, enabled, reason: null }, canOpenDataFolder: true }),
  openDataFolder: async () => undefined,
}
const createBridge = (invoke: BridgeInvoke, subscribe: BridgeSubscribe) => createBridgeWithHost(invoke, subscribe, TEST_HOST)

/** The bridge's methods as `area.method` names, read back from the object it built. */
function methodNames(bridge: object): string[] {
  const names: string[] = []
  for (const [area, group] of Object.entries(bridge)) {
    if (typeof group === 'function' || area === 'host') continue
    for (const [name, fn] of Object.entries(group as object)) if (typeof fn === 'function') names.push(`${area}.${name}`)
  }
  return names.sort()
}

describe('createBridge', () => {
  it('has one named method per contract method, plus on(), and no generic invoke', () => {
    const bridge = createBridge(async () => ({ ok: true, value: null }), () => () => undefined)
    expect(methodNames(bridge)).toEqual([...API_METHODS].sort())
    expect(Object.keys(bridge).sort()).toEqual([...new Set(API_METHODS.map((m) => m.split('.')[0]!)), 'on', 'host'].sort())
    expect(bridge).not.toHaveProperty('invoke')
    expect(Object.isFrozen(bridge)).toBe(true)
    expect(Object.isFrozen(bridge.node)).toBe(true)
  })

  it('calls through with the method name and the input, and resolves to the value', async () => {
    const calls: Array<[ApiMethodName, unknown]> = []
    const bridge = createBridge(async (method, input) => {
      calls.push([method, input])
      return { ok: true, value: { method } }
    }, () => () => undefined)
    await expect(bridge.node.status()).resolves.toEqual({ method: 'node.status' })
    await expect(bridge.node.info()).resolves.toEqual({ method: 'node.info' })
    expect(calls).toEqual([
      ['node.status', undefined],
      ['node.info', undefined],
    ])
  })

  it('passes only the first argument to the transport', async () => {
    const invoke = vi.fn(async (): Promise<ApiResult<unknown>> => ({ ok: true, value: 1 }))
    const bridge = createBridge(invoke, () => () => undefined)
    await (bridge.node.status as unknown as (...a: unknown[]) => Promise<unknown>)({ a: 1 }, 'extra', 3)
    expect(invoke).toHaveBeenCalledWith('node.status', { a: 1 })
  })

  it('throws ApiCallError with the code and message of a failed call', async () => {
    const bridge = createBridge(
      async () => ({ ok: false, error: { name: 'NodeNotStartedError', code: 'ERR_NOT_STARTED', message: 'The node is not running.' } }),
      () => () => undefined,
    )
    const err = await bridge.node.info().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiCallError)
    expect(err).toMatchObject({ name: 'NodeNotStartedError', code: 'ERR_NOT_STARTED', message: 'The node is not running.' })
  })

  it('turns a transport that throws into ERR_NODE_UNREACHABLE', async () => {
    const bridge = createBridge(async () => {
      throw new Error('No handler registered')
    }, () => () => undefined)
    await expect(bridge.node.status()).rejects.toMatchObject({ code: 'ERR_NODE_UNREACHABLE' })
  })

  it('turns an unreadable answer into ERR_BAD_RESPONSE', async () => {
    const bridge = createBridge(async () => 'nonsense' as unknown as ApiResult<unknown>, () => () => undefined)
    await expect(bridge.node.status()).rejects.toMatchObject({ code: 'ERR_BAD_RESPONSE' })
    expect(() => unwrapResult('node.status', { ok: false, error: { code: 1 } })).toThrow(ApiCallError)
  })

  it('subscribes only to contract events and returns the unsubscribe function', () => {
    const unsubscribe = vi.fn()
    const subscribe = vi.fn(() => unsubscribe)
    const bridge = createBridge(async () => ({ ok: true, value: null }), subscribe)
    const listener = (): void => undefined
    expect(bridge.on('node:status', listener)).toBe(unsubscribe)
    expect(subscribe).toHaveBeenCalledWith('node:status', listener)
    expect(() => bridge.on('nope:x' as 'node:status', listener)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_EVENT' }))
    expect(() => bridge.on('node:status', 'x' as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }))
    expect(subscribe).toHaveBeenCalledTimes(1)
  })
})

describe('forContextBridge', () => {
  it('keeps the same method names and on()', () => {
    const bridge = forContextBridge(createBridge(async () => ({ ok: true, value: 1 }), () => () => undefined))
    expect(methodNames(bridge)).toEqual([...API_METHODS].sort())
    expect(typeof bridge.on).toBe('function')
  })

  it('rejects with a plain { name, code, message } object, which contextBridge copies whole', async () => {
    const bridge = forContextBridge(
      createBridge(async () => ({ ok: false, error: { name: 'InvalidInputError', code: 'ERR_INVALID_INPUT', message: 'Bad.' } }), () => () => undefined),
    )
    const err = await bridge.node.status().catch((e: unknown) => e)
    expect(err).not.toBeInstanceOf(Error)
    expect(err).toEqual({ name: 'InvalidInputError', code: 'ERR_INVALID_INPUT', message: 'Bad.' })
    await expect(forContextBridge(createBridge(async () => ({ ok: true, value: 7 }), () => () => undefined)).node.status()).resolves.toBe(7)
  })

  it('toPlainError keeps the code of anything thrown', () => {
    expect(toPlainError(new ApiCallError({ name: 'N', code: 'ERR_X', message: 'm' }))).toEqual({ name: 'N', code: 'ERR_X', message: 'm' })
    expect(toPlainError(new TypeError('t'))).toEqual({ name: 'TypeError', code: 'ERR_INTERNAL', message: 't' })
    expect(toPlainError('s')).toEqual({ name: 'Error', code: 'ERR_INTERNAL', message: 's' })
  })
})

describe('createEventHub', () => {
  it('delivers contract events to their listeners until they unsubscribe', () => {
    const hub = createEventHub()
    const a = vi.fn()
    const b = vi.fn()
    const offA = hub.subscribe('node:status', a)
    hub.subscribe('node:status', b)
    hub.dispatch('node:status', { state: 'started' })
    offA()
    hub.dispatch('node:status', { state: 'stopped' })
    expect(a.mock.calls).toEqual([[{ state: 'started' }]])
    expect(b.mock.calls).toEqual([[{ state: 'started' }], [{ state: 'stopped' }]])
    expect(hub.size).toBe(1)
  })

  it('ignores names outside the contract and survives a throwing listener', () => {
    const hub = createEventHub()
    const good = vi.fn()
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    hub.subscribe(API_EVENTS[0], () => {
      throw new Error('listener bug')
    })
    hub.subscribe(API_EVENTS[0], good)
    hub.dispatch('not:an-event', 1)
    hub.dispatch(42, 1)
    hub.dispatch(API_EVENTS[0], 2)
    expect(good.mock.calls).toEqual([[2]])
    expect(error).toHaveBeenCalledTimes(1)
    error.mockRestore()
  })

  it('gives the same function subscribed twice two subscriptions', () => {
    const hub = createEventHub()
    const fn = vi.fn()
    const off1 = hub.subscribe('node:status', fn)
    hub.subscribe('node:status', fn)
    off1()
    hub.dispatch('node:status', 1)
    expect(fn).toHaveBeenCalledTimes(1)
  })
})

describe('host methods', () => {
  it('are exposed under host, and errors cross the context bridge as plain objects with their code', async () => {
    const bridge = forContextBridge(createBridge(async () => ({ ok: true, value: null }), () => () => undefined))
    expect(bridge.host.kind).toBe('browser')
    expect(Object.keys(bridge.host).sort()).toEqual(['kind', 'openDataFolder', 'saveBlobs', 'saveCar', 'setLaunchAtLogin', 'settings'])
    expect(await bridge.host.setLaunchAtLogin({ enabled: true })).toMatchObject({ launchAtLogin: { enabled: true } })
    expect(await bridge.host.saveCar({ did: 'did:plc:abc' })).toEqual({ path: '/tmp/x.car', bytes: 1, items: 1 })
    expect(savedCars).toContainEqual({ did: 'did:plc:abc' })
    const err = await bridge.host.saveBlobs({ did: 'did:plc:abc' }).catch((e: unknown) => e)
    expect(err).toEqual({ name: 'ApiCallError', code: 'ERR_TEST', message: 'refused' })
    expect(err).not.toBeInstanceOf(Error)
  })
})

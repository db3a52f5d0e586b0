import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ApiEventName, NodeInfoDto, NodeStatusDto, P2pdsBridge, P2pdsEvents } from '../../core/api.js'
import { connectNode } from './connection.js'
import { createAppStore } from './store.js'

// A fake bridge: the real ones need Electron IPC or a running node's local API.
class FakeBridge {
  listeners = new Set<(s: NodeStatusDto) => void>()
  status: NodeStatusDto = makeStatus()
  statusCalls = 0
  infoCalls = 0
  failStatus: Error | undefined
  failInfo: Error | undefined

  // Only node.* and on() are used by connectNode; the other areas are never called here.
  readonly api = {
    node: {
      status: async () => {
        this.statusCalls++
        if (this.failStatus !== undefined) throw this.failStatus
        return this.status
      },
      info: async () => {
        this.infoCalls++
        if (this.failInfo !== undefined) throw this.failInfo
        return { name: 'P2PDS', version: this.status.version } as NodeInfoDto
      },
    },
    on: <E extends ApiEventName>(event: E, listener: (data: P2pdsEvents[E]) => void) => {
      if (event !== 'node:status') return () => {}
      const l = listener as (s: NodeStatusDto) => void
      this.listeners.add(l)
      return () => void this.listeners.delete(l)
    },
  } satisfies Pick<P2pdsBridge, 'node' | 'on'> as unknown as P2pdsBridge

  push(over: Partial<NodeStatusDto> = {}): void {
    this.status = { ...this.status, ...over }
    for (const l of this.listeners) l(this.status)
  }
}

function makeStatus(over: Partial<NodeStatusDto> = {}): NodeStatusDto {
  return {
    state: 'started',
    host: 'serve',
    pid: 1,
    version: '0.1.0',
    dataDir: '/data',
    startedAt: '2025-01-01T00:00:00.000Z',
    uptimeSec: 5,
    rssMb: 50,
    listeners: { ui: null, peer: null },
    accounts: 0,
    ...over,
  }
}

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}

describe('connectNode', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const start = (fake: FakeBridge) => {
    const store = createAppStore()
    const stop = connectNode({ bridge: fake.api, store, now: () => Date.now(), silenceMs: 12_000, retryMs: 5_000, checkMs: 1_000 })
    return { store, stop }
  }

  it('asks for the status at once, then fetches info for the running node', async () => {
    const fake = new FakeBridge()
    const { store, stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    expect(store.getState()).toMatchObject({ connection: 'connected', status: { state: 'started' }, info: { name: 'P2PDS' } })
    expect(fake.infoCalls).toBe(1)
    stop()
  })

  it('takes pushed statuses and asks info again only after a restart', async () => {
    const fake = new FakeBridge()
    const { store, stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    fake.push({ uptimeSec: 10 })
    expect(store.getState().status?.uptimeSec).toBe(10)
    fake.push({ state: 'stopped' })
    fake.push({ state: 'started', startedAt: '2025-01-02T00:00:00.000Z', uptimeSec: 0 })
    await vi.advanceTimersByTimeAsync(0)
    expect(fake.infoCalls).toBe(2)
    stop()
  })

  it('does not poll while statuses keep arriving', async () => {
    const fake = new FakeBridge()
    const { stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(5_000)
      fake.push()
    }
    expect(fake.statusCalls).toBe(1)
    stop()
  })

  it('says contact was lost when the node falls silent and stops answering, and recovers', async () => {
    const fake = new FakeBridge()
    const { store, stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    fake.failStatus = new TypeError('Failed to fetch')
    await vi.advanceTimersByTimeAsync(12_000)
    expect(store.getState().connection).toBe('lost')
    expect(store.getState().problem).toMatch(/^Lost contact with the P2PDS node\./)
    expect(store.getState().problem).toMatch(/p2pds serve/)

    fake.failStatus = undefined
    await vi.advanceTimersByTimeAsync(5_000)
    expect(store.getState()).toMatchObject({ connection: 'connected', problem: null })
    stop()
  })

  it('says contact was lost when the first call fails', async () => {
    const fake = new FakeBridge()
    fake.failStatus = coded('ERR_UNAUTHORIZED', 'no')
    const { store, stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    expect(store.getState().connection).toBe('lost')
    expect(store.getState().problem).toMatch(/new access secret/)
    stop()
  })

  it('ignores info refused because the node just stopped, and reports other info failures', async () => {
    const fake = new FakeBridge()
    fake.failInfo = coded('ERR_NOT_STARTED', 'The node is not running.')
    const { store, stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    expect(store.getState().infoProblem).toBeNull()

    fake.failInfo = coded('ERR_INTERNAL', 'Database is locked.')
    fake.push()
    await vi.advanceTimersByTimeAsync(0)
    expect(store.getState().infoProblem).toBe('The P2PDS node reported a problem: Database is locked.')
    stop()
  })

  it('stops listening and polling once stopped', async () => {
    const fake = new FakeBridge()
    const { store, stop } = start(fake)
    await vi.advanceTimersByTimeAsync(0)
    stop()
    expect(fake.listeners.size).toBe(0)
    fake.failStatus = new Error('gone')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(fake.statusCalls).toBe(1)
    expect(store.getState().connection).toBe('connected')
  })

  it('checks at once when the bridge announces a change of connection', async () => {
    const fake = new FakeBridge()
    const target = new EventTarget()
    const store = createAppStore()
    const stop = connectNode({ bridge: fake.api, store, silenceMs: 12_000, connectionEvents: target })
    await vi.advanceTimersByTimeAsync(0)
    expect(fake.statusCalls).toBe(1)
    fake.failStatus = coded('ERR_NODE_UNREACHABLE', 'The P2PDS node is not reachable.')
    target.dispatchEvent(new Event('p2pds:connection'))
    await vi.advanceTimersByTimeAsync(0)
    expect(fake.statusCalls).toBe(2)
    expect(store.getState().connection).toBe('lost')
    stop()
  })
})

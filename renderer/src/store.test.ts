import { describe, expect, it } from 'vitest'
import type { NodeStatusDto } from '../../core/api.js'
import { createAppStore, selectBadge, selectUptimeSec } from './store.js'

function status(over: Partial<NodeStatusDto> = {}): NodeStatusDto {
  return {
    state: 'started',
    host: 'serve',
    pid: 42,
    version: '0.1.0',
    dataDir: '/data',
    startedAt: '2025-01-01T00:00:00.000Z',
    uptimeSec: 100,
    rssMb: 80.5,
    listeners: { ui: 'http://127.0.0.1:5000', peer: 'http://127.0.0.1:3000' },
    accounts: 0,
    ...over,
  }
}

describe('app store', () => {
  it('starts connecting, with nothing known', () => {
    const s = createAppStore().getState()
    expect(s.connection).toBe('connecting')
    expect(s.status).toBeNull()
    expect(selectBadge(s)).toEqual({ label: 'Connecting…', tone: 'unknown' })
  })

  it('a status marks the node connected and clears an earlier problem', () => {
    const store = createAppStore()
    store.getState().contactLost('Lost contact.')
    store.getState().statusReceived(status(), 1000)
    const s = store.getState()
    expect(s).toMatchObject({ connection: 'connected', problem: null, statusAt: 1000 })
    expect(selectBadge(s)).toEqual({ label: 'Running', tone: 'ok' })
  })

  it('losing contact keeps the last status but says Unreachable', () => {
    const store = createAppStore()
    store.getState().statusReceived(status(), 1000)
    store.getState().contactLost('Lost contact.')
    const s = store.getState()
    expect(s.status?.state).toBe('started')
    expect(s.problem).toBe('Lost contact.')
    expect(selectBadge(s)).toEqual({ label: 'Unreachable', tone: 'error' })
  })

  it('badges every state', () => {
    const badge = (state: NodeStatusDto['state']) => selectBadge({ connection: 'connected', status: status({ state }) })
    expect(badge('starting')).toEqual({ label: 'Starting', tone: 'busy' })
    expect(badge('stopping')).toEqual({ label: 'Stopping', tone: 'busy' })
    expect(badge('stopped')).toEqual({ label: 'Stopped', tone: 'off' })
  })

  it('keeps info and its problem apart from the status', () => {
    const store = createAppStore()
    store.getState().infoFailed('No info.')
    expect(store.getState().infoProblem).toBe('No info.')
    store.getState().infoReceived({ name: 'P2PDS' } as never)
    expect(store.getState()).toMatchObject({ info: { name: 'P2PDS' }, infoProblem: null })
  })
})

describe('selectUptimeSec', () => {
  it('advances the reported uptime while the node runs and answers', () => {
    const s = { connection: 'connected' as const, status: status({ uptimeSec: 100 }), statusAt: 10_000 }
    expect(selectUptimeSec(s, 10_000)).toBe(100)
    expect(selectUptimeSec(s, 13_999)).toBe(103)
    expect(selectUptimeSec(s, 9_000)).toBe(100)
  })

  it('freezes when the node is not running or not answering', () => {
    expect(selectUptimeSec({ connection: 'lost', status: status({ uptimeSec: 100 }), statusAt: 0 }, 60_000)).toBe(100)
    expect(selectUptimeSec({ connection: 'connected', status: status({ state: 'stopped', uptimeSec: 0 }), statusAt: 0 }, 60_000)).toBe(0)
    expect(selectUptimeSec({ connection: 'connecting', status: null, statusAt: null }, 0)).toBeNull()
  })
})

import { describe, expect, it } from 'vitest'
import type { NodeStatusDto, P2pdsBridge, SyncStateDto } from '../../core/api.js'
import { formatUntil, isAccountPaused, nextSyncLine, nodeSyncPaused, pauseToggle, setSyncPaused, syncSummaryView } from './sync-view.js'

const now = Date.parse('2025-06-01T12:00:00.000Z')
const at = (sec: number) => new Date(now + sec * 1000).toISOString()

describe('formatUntil and nextSyncLine', () => {
  it('says how far ahead the next sync is', () => {
    expect(formatUntil(at(30), now)).toBe('in under a minute')
    expect(formatUntil(at(5 * 60 + 10), now)).toBe('in 5 min')
    expect(formatUntil(at(3 * 3600), now)).toBe('in 3 h')
    expect(formatUntil(at(2 * 86_400 + 5), now)).toBe('in 2 d')
    expect(formatUntil(at(-10), now)).toBe('now')
    expect(formatUntil(null, now)).toBeNull()
    expect(formatUntil('garbage', now)).toBeNull()
  })

  it('is a line only when a next sync is planned', () => {
    expect(nextSyncLine(at(600), now)).toBe('Next sync in 10 min')
    expect(nextSyncLine(null, now)).toBeNull()
    expect(nextSyncLine(undefined, now)).toBeNull()
  })
})

describe('paused', () => {
  const status = (paused?: boolean) => ({ sync: paused === undefined ? undefined : { paused, running: 0, nextSyncAt: null } }) as NodeStatusDto

  it('takes the node-wide pause from sync:state first, then the status tick', () => {
    expect(nodeSyncPaused({ paused: true, accounts: [] }, status(false))).toBe(true)
    expect(nodeSyncPaused({ paused: false, accounts: [] }, status(true))).toBe(false)
    expect(nodeSyncPaused(null, status(true))).toBe(true)
    expect(nodeSyncPaused(null, status())).toBe(false)
    expect(nodeSyncPaused(null, null)).toBe(false)
  })

  it('pauses an account on its own or with the node', () => {
    expect(isAccountPaused({ paused: true }, false)).toBe(true)
    expect(isAccountPaused({}, true)).toBe(true)
    expect(isAccountPaused({ paused: false }, false)).toBe(false)
    expect(isAccountPaused({}, false)).toBe(false)
  })

  it('names the toggle and its test id', () => {
    expect(pauseToggle(false, 'all')).toMatchObject({ label: 'Pause syncing', testId: 'sync-pause-all' })
    expect(pauseToggle(true, 'all')).toMatchObject({ label: 'Resume syncing', testId: 'sync-resume-all' })
    expect(pauseToggle(false, 'account')).toMatchObject({ label: 'Pause syncing', testId: 'account-pause' })
    expect(pauseToggle(true, 'account')).toMatchObject({ label: 'Resume syncing', testId: 'account-resume' })
  })
})

describe('syncSummaryView', () => {
  it('says whether sync is paused, what runs and when the next one is', () => {
    expect(syncSummaryView(undefined, now)).toBeNull()
    expect(syncSummaryView({ paused: false, running: 2, nextSyncAt: at(120) }, now)).toEqual({ paused: false, state: 'Active', running: '2 syncs', next: 'in 2 min' })
    expect(syncSummaryView({ paused: false, running: 0, nextSyncAt: null }, now)).toMatchObject({ running: 'none', next: 'none planned' })
    expect(syncSummaryView({ paused: true, running: 1, nextSyncAt: null }, now)).toEqual({ paused: true, state: 'Paused for all accounts', running: '1 sync', next: 'none while paused' })
  })
})

describe('setSyncPaused', () => {
  it('pauses or resumes all or one account and hands the answer to the store', async () => {
    const calls: string[] = []
    const answer: SyncStateDto = { paused: true, accounts: [] }
    const bridge = {
      sync: {
        pause: async (input: { did?: string }) => (calls.push(`pause ${JSON.stringify(input)}`), answer),
        resume: async (input: { did?: string }) => (calls.push(`resume ${JSON.stringify(input)}`), answer),
      },
    } as unknown as Pick<P2pdsBridge, 'sync'>
    const loaded: SyncStateDto[] = []
    const store = { getState: () => ({ syncStateLoaded: (s: SyncStateDto) => void loaded.push(s) }) }
    await setSyncPaused(bridge, store, true)
    await setSyncPaused(bridge, store, false, 'did:plc:a')
    expect(calls).toEqual(['pause {}', 'resume {"did":"did:plc:a"}'])
    expect(loaded).toEqual([answer, answer])
  })

  it('rejects as the call did, leaving the store alone', async () => {
    const bridge = { sync: { pause: () => Promise.reject(new Error('The node is stopping.')) } } as unknown as Pick<P2pdsBridge, 'sync'>
    const loaded: SyncStateDto[] = []
    await expect(setSyncPaused(bridge, { getState: () => ({ syncStateLoaded: (s: SyncStateDto) => void loaded.push(s) }) }, true)).rejects.toThrow('stopping')
    expect(loaded).toEqual([])
  })
})

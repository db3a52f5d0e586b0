import { describe, expect, it } from 'vitest'
import type { AccountDto, ApiEventName, NodeStatusDto, P2pdsEvents } from '../core/api.js'
import { applyTrayEvent, emptyTrayInputs, forgetRemovedAccounts, sameTrayState, TOOLTIP_MAX, trayInputsFromAccounts, trayState, type TrayInputs } from './tray-state.js'

function status(state: NodeStatusDto['state'], accounts = 2): NodeStatusDto {
  return {
    state,
    host: 'desktop',
    pid: 1,
    version: '0.1.0',
    dataDir: '/data',
    startedAt: null,
    uptimeSec: 0,
    rssMb: 100,
    listeners: { ui: null, peer: null },
    accounts,
  }
}

function account(did: string, over: Partial<AccountDto> = {}): AccountDto {
  return {
    did,
    handle: null,
    pdsUrl: null,
    head: null,
    lastSyncAt: null,
    lastError: null,
    syncing: false,
    records: 0,
    blobs: { stored: 0, missing: 0, failed: 0 },
    storageBytes: 0,
    kind: 'archive',
    ...over,
  }
}

const failed = (did: string, message = 'The PDS did not answer: check your connection.'): P2pdsEvents['sync:failed'] => ({
  did,
  error: { name: 'FetchFailedError', code: 'ERR_FETCH_FAILED', message },
})
const progress = (did: string, phase: P2pdsEvents['sync:progress']['phase'] = 'repo'): P2pdsEvents['sync:progress'] => ({
  did,
  phase,
  blocks: 1,
  bytes: 1,
  totalBytes: null,
  blobsDone: 0,
  blobsTotal: null,
  etaSec: null,
})
const completed = (did: string): P2pdsEvents['sync:completed'] => ({
  did,
  rev: 'r',
  cid: 'c',
  kind: 'none',
  creates: 0,
  updates: 0,
  deletes: 0,
  bytesReceived: 0,
  blobsFetched: 0,
  blobsFailed: 0,
  durationMs: 1,
})

/** Folds a list of events, as main/index.ts does with node.onAny. */
function fold(inputs: TrayInputs, events: Array<[ApiEventName, unknown]>): TrayInputs {
  return events.reduce((acc, [name, data]) => applyTrayEvent(acc, name, data as never), inputs)
}

describe('trayState', () => {
  it('is idle when started with nothing running or failing', () => {
    expect(trayState(emptyTrayInputs(status('started', 2)))).toEqual({
      icon: 'idle',
      statusLine: '2 accounts backed up',
      tooltip: 'P2PDS: 2 accounts backed up',
      canSync: true,
      paused: false,
    })
    expect(trayState(emptyTrayInputs(status('started', 1))).statusLine).toBe('1 account backed up')
    expect(trayState(emptyTrayInputs(status('started', 0)))).toMatchObject({ icon: 'idle', statusLine: 'No accounts backed up yet', canSync: false })
  })

  it('needs attention whenever the node is not started', () => {
    for (const [state, line] of [
      ['starting', 'Starting…'],
      ['stopping', 'Stopping…'],
      ['stopped', 'Stopped: backups are paused'],
    ] as const) {
      expect(trayState(emptyTrayInputs(status(state))), state).toEqual({ icon: 'attention', statusLine: line, tooltip: `P2PDS: ${line}`, canSync: false, paused: false })
    }
    // Before the first status event the node is still starting.
    expect(trayState(emptyTrayInputs()).icon).toBe('attention')
  })

  it('shows syncing while any account syncs, and idle again when done', () => {
    let inputs = fold(emptyTrayInputs(status('started', 3)), [
      ['sync:progress', progress('did:plc:a')],
      ['sync:progress', progress('did:plc:b', 'blobs')],
    ])
    expect(trayState(inputs)).toMatchObject({ icon: 'syncing', statusLine: 'Syncing 2 of 3 accounts…' })
    inputs = fold(inputs, [
      ['sync:progress', progress('did:plc:a', 'done')],
      ['sync:completed', completed('did:plc:a')],
    ])
    expect(trayState(inputs).statusLine).toBe('Syncing 1 of 3 accounts…')
    inputs = fold(inputs, [['sync:completed', completed('did:plc:b')]])
    expect(trayState(inputs).icon).toBe('idle')
    expect(trayState(fold(emptyTrayInputs(status('started', 1)), [['sync:progress', progress('did:plc:a')]])).statusLine).toBe('Syncing 1 account…')
  })

  it('needs attention after a failure until that account next succeeds; failure wins over syncing', () => {
    let inputs = fold(emptyTrayInputs(status('started', 2)), [
      ['sync:progress', progress('did:plc:a')],
      ['sync:failed', failed('did:plc:a')],
      ['sync:progress', progress('did:plc:b')],
    ])
    expect(trayState(inputs)).toEqual({
      icon: 'attention',
      statusLine: 'Backup failed for 1 account',
      tooltip: 'P2PDS: Backup failed for 1 account: The PDS did not answer: check your connection.',
      canSync: true,
      paused: false,
    })
    // Another account succeeding does not clear it; its own success does.
    inputs = fold(inputs, [['sync:completed', completed('did:plc:b')]])
    expect(trayState(inputs).icon).toBe('attention')
    inputs = fold(inputs, [['sync:failed', failed('did:plc:b')]])
    expect(trayState(inputs)).toMatchObject({ statusLine: 'Backup failed for 2 accounts', tooltip: 'P2PDS: Backup failed for 2 accounts: open P2PDS for details' })
    inputs = fold(inputs, [
      ['sync:completed', completed('did:plc:a')],
      ['sync:completed', completed('did:plc:b')],
    ])
    expect(trayState(inputs).icon).toBe('idle')
  })

  it('needs attention while storage is at its cap (new syncs are refused), not at the 90% warning', () => {
    const MB = 1024 * 1024
    const at = (level: 'ok' | 'warning' | 'full') => emptyTrayInputs({ ...status('started'), storage: { usedBytes: MB, blocks: 1, limitBytes: MB, fraction: 1, level } })
    expect(trayState(at('warning')).icon).toBe('idle')
    expect(trayState(at('full'))).toMatchObject({ icon: 'attention', statusLine: 'Storage is full: new syncs stopped', tooltip: 'P2PDS: Storage is full: new syncs stopped; raise the cap in Settings' })
    // A failed account says more (its own sentence), so it comes first.
    expect(trayState(applyTrayEvent(at('full'), 'sync:failed', failed('did:plc:a'))).statusLine).toBe('Backup failed for 1 account')
  })

  it('does not count an aborted sync (node stopping, account removed) as a failure', () => {
    const aborted = { did: 'did:plc:a', error: { name: 'AbortError', code: 'ERR_ABORTED', message: 'The node is stopping.' } }
    const inputs = fold(emptyTrayInputs(status('started')), [
      ['sync:progress', progress('did:plc:a')],
      ['sync:failed', aborted],
    ])
    expect(inputs.failures.size).toBe(0)
    expect(trayState(inputs).icon).toBe('idle')
  })

  it('keeps the tooltip within Windows’ limit and to one line', () => {
    const inputs = fold(emptyTrayInputs(status('started')), [['sync:failed', failed('did:plc:a', `${'x'.repeat(300)}\n    at stack`)]])
    const { tooltip } = trayState(inputs)
    expect(tooltip.length).toBeLessThanOrEqual(TOOLTIP_MAX)
    expect(tooltip).not.toContain('\n')
    expect(tooltip.endsWith('…')).toBe(true)
  })
})

describe('tray inputs', () => {
  it('returns the same inputs for events that change nothing (so nothing is redrawn)', () => {
    const inputs = fold(emptyTrayInputs(status('started')), [['sync:progress', progress('did:plc:a')]])
    expect(applyTrayEvent(inputs, 'sync:progress', progress('did:plc:a', 'blobs'))).toBe(inputs)
    expect(applyTrayEvent(inputs, 'accounts:changed', { did: 'did:plc:a' })).toBe(inputs)
    expect(applyTrayEvent(emptyTrayInputs(), 'sync:progress', progress('did:plc:a', 'done')).syncing.size).toBe(0)
  })

  it('never mutates the inputs it is given', () => {
    const before = emptyTrayInputs(status('started'))
    fold(before, [
      ['sync:progress', progress('did:plc:a')],
      ['sync:failed', failed('did:plc:a')],
    ])
    expect(before.syncing.size).toBe(0)
    expect(before.failures.size).toBe(0)
  })

  it('seeds failures and running syncs from the account list, and forgets removed accounts', () => {
    const seeded = trayInputsFromAccounts(status('started', 3), [
      account('did:plc:a', { lastError: failed('did:plc:a').error }),
      account('did:plc:b', { syncing: true }),
      account('did:plc:c'),
    ])
    expect([...seeded.failures.keys()]).toEqual(['did:plc:a'])
    expect([...seeded.syncing]).toEqual(['did:plc:b'])
    expect(trayState(seeded).icon).toBe('attention')
    expect(forgetRemovedAccounts(seeded, ['did:plc:a', 'did:plc:b', 'did:plc:c'])).toBe(seeded)
    const pruned = forgetRemovedAccounts(seeded, ['did:plc:b', 'did:plc:c'])
    expect(pruned.failures.size).toBe(0)
    expect(trayState(pruned).icon).toBe('syncing')
  })

  it('compares states by what they draw', () => {
    const a = trayState(emptyTrayInputs(status('started')))
    expect(sameTrayState(undefined, a)).toBe(false)
    expect(sameTrayState(a, { ...a })).toBe(true)
    expect(sameTrayState(a, { ...a, canSync: false })).toBe(false)
    expect(sameTrayState(a, { ...a, paused: true })).toBe(false)
  })

  it('follows the node-wide pause from node:status and sync:state', () => {
    const pausedStatus = { ...status('started', 2), sync: { paused: true, running: 0, nextSyncAt: null } }
    expect(trayState(emptyTrayInputs(pausedStatus))).toMatchObject({ icon: 'idle', statusLine: '2 accounts backed up, syncing paused', paused: true })
    const inputs = emptyTrayInputs(status('started', 2))
    const paused = applyTrayEvent(inputs, 'sync:state', { paused: true, accounts: [] })
    expect(trayState(paused).paused).toBe(true)
    expect(applyTrayEvent(paused, 'sync:state', { paused: true, accounts: [] })).toBe(paused)
    expect(trayState(applyTrayEvent(paused, 'sync:state', { paused: false, accounts: [] })).paused).toBe(false)
    // Before the first node:status there is nothing to fold into.
    expect(applyTrayEvent(emptyTrayInputs(), 'sync:state', { paused: true, accounts: [] }).status).toBeNull()
  })
})

import { describe, expect, it } from 'vitest'
import type { AccountDto, ApiEventName, NodeStatusDto, P2pdsBridge, P2pdsEvents, SyncProgressDto } from '../../core/api.js'
import { connectAccounts, createAccountsStore } from './accounts-store.js'

function account(did: string, over: Partial<AccountDto> = {}): AccountDto {
  return {
    did,
    handle: null,
    pdsUrl: 'https://pds.example',
    head: { cid: 'bafyreia', rev: '3l2a' },
    lastSyncAt: '2025-01-01T00:00:00.000Z',
    lastError: null,
    syncing: false,
    records: 10,
    blobs: { stored: 1, missing: 0, failed: 0 },
    storageBytes: 1000,
    kind: 'archive',
    ...over,
  }
}

function progress(did: string, over: Partial<SyncProgressDto> = {}): SyncProgressDto {
  return { did, phase: 'repo', blocks: 1, bytes: 1, totalBytes: null, blobsDone: 0, blobsTotal: null, etaSec: null, ...over }
}

// A fake bridge: the real ones need Electron IPC or a running node's local API.
class FakeBridge {
  listeners = new Map<ApiEventName, Set<(data: never) => void>>()
  accounts: AccountDto[] = []
  listCalls = 0
  failList: Error | undefined
  /** Holds list answers until released, to test answers that arrive late. */
  gate: Promise<void> | undefined

  readonly api = {
    accounts: {
      list: async () => {
        this.listCalls++
        const snapshot = [...this.accounts]
        const fail = this.failList
        await this.gate
        if (fail !== undefined) throw fail
        return snapshot
      },
    },
    on: <E extends ApiEventName>(event: E, listener: (data: P2pdsEvents[E]) => void) => {
      let set = this.listeners.get(event)
      if (set === undefined) this.listeners.set(event, (set = new Set()))
      set.add(listener as (data: never) => void)
      return () => void set.delete(listener as (data: never) => void)
    },
  } as unknown as P2pdsBridge

  emit<E extends ApiEventName>(event: E, data: P2pdsEvents[E]): void {
    for (const l of this.listeners.get(event) ?? []) (l as (d: P2pdsEvents[E]) => void)(data)
  }

  get listenerCount(): number {
    let n = 0
    for (const s of this.listeners.values()) n += s.size
    return n
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0))

function statusWith(accounts: number): NodeStatusDto {
  return {
    state: 'started',
    host: 'serve',
    pid: 1,
    version: '0.1.0',
    dataDir: '/d',
    startedAt: null,
    uptimeSec: 1,
    rssMb: 1,
    listeners: { ui: null, peer: null },
    accounts,
  }
}

describe('accounts store', () => {
  it('puts an added account first and replaces an older copy', () => {
    const store = createAccountsStore()
    store.getState().listLoaded([account('did:plc:a'), account('did:plc:b')])
    store.getState().accountAdded(account('did:plc:b', { handle: 'b.test' }))
    expect(store.getState().accounts?.map((a) => [a.did, a.handle])).toEqual([
      ['did:plc:b', 'b.test'],
      ['did:plc:a', null],
    ])
  })

  it('forgets a removed account and its progress', () => {
    const store = createAccountsStore()
    store.getState().listLoaded([account('did:plc:a')])
    store.getState().progressReceived(progress('did:plc:a'))
    store.getState().accountRemoved('did:plc:a')
    expect(store.getState()).toMatchObject({ accounts: [], progress: {} })
  })

  it('drops stale progress only for accounts that are not syncing', () => {
    const store = createAccountsStore()
    store.getState().progressReceived(progress('did:plc:a'))
    store.getState().progressReceived(progress('did:plc:b'))
    store.getState().listLoaded([account('did:plc:a', { syncing: true }), account('did:plc:b')], ['did:plc:a', 'did:plc:b'])
    expect(Object.keys(store.getState().progress)).toEqual(['did:plc:a'])
  })
})

describe('connectAccounts', () => {
  it('reads the list at once and keeps the bridge', async () => {
    const fake = new FakeBridge()
    fake.accounts = [account('did:plc:a')]
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    expect(store.getState()).toMatchObject({ bridge: fake.api, accounts: [{ did: 'did:plc:a' }], listProblem: null })
    stop()
  })

  it('shows progress until the sync completes or fails, then reads the list again', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    fake.emit('sync:progress', progress('did:plc:a', { blocks: 5 }))
    fake.emit('sync:progress', progress('did:plc:b'))
    expect(store.getState().progress['did:plc:a']?.blocks).toBe(5)

    fake.emit('sync:completed', {
      did: 'did:plc:a',
      rev: '3l',
      cid: 'bafy',
      kind: 'full',
      creates: 1,
      updates: 0,
      deletes: 0,
      bytesReceived: 1,
      blobsFetched: 0,
      blobsFailed: 0,
      durationMs: 1,
    })
    fake.emit('sync:failed', { did: 'did:plc:b', error: { name: 'E', code: 'ERR_X', message: 'No.' } })
    await settle()
    expect(store.getState().progress).toEqual({})
    expect(store.getState().changes).toEqual({ 'did:plc:a': 1, 'did:plc:b': 1 })
    // One read at the start, then the two events coalesce into at most two more.
    expect(fake.listCalls).toBeGreaterThanOrEqual(2)
    expect(fake.listCalls).toBeLessThanOrEqual(3)
    stop()
  })

  it('reads the list again on accounts:changed, coalescing a burst', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    fake.accounts = [account('did:plc:new')]
    for (let i = 0; i < 5; i++) fake.emit('accounts:changed', { did: 'did:plc:new' })
    await settle()
    await settle()
    expect(fake.listCalls).toBe(3)
    expect(store.getState().accounts?.map((a) => a.did)).toEqual(['did:plc:new'])
    expect(store.getState().changes['did:plc:new']).toBe(5)
    stop()
  })

  it('keeps progress that arrived after a list request was sent', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    let release!: () => void
    fake.gate = new Promise((r) => (release = r))
    fake.accounts = [account('did:plc:a', { syncing: false })]
    const stop = connectAccounts({ bridge: fake.api, store })
    fake.emit('sync:progress', progress('did:plc:a'))
    release()
    await settle()
    expect(store.getState().progress['did:plc:a']).toBeDefined()
    // A later list that says it is not syncing drops it (a missed sync:completed).
    fake.gate = undefined
    fake.emit('accounts:changed', { did: 'did:plc:a' })
    await settle()
    expect(store.getState().progress).toEqual({})
    stop()
  })

  it('says why the list could not be read, and tries again on a status tick', async () => {
    const fake = new FakeBridge()
    fake.failList = Object.assign(new Error('The node is not running.'), { code: 'ERR_NOT_STARTED' })
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    expect(store.getState().listProblem).toBe('The node is not running.')
    fake.failList = undefined
    fake.accounts = [account('did:plc:a')]
    fake.emit('node:status', { ...statusWith(1), state: 'stopped' })
    await settle()
    expect(fake.listCalls).toBe(1)
    fake.emit('node:status', statusWith(1))
    await settle()
    expect(store.getState()).toMatchObject({ listProblem: null, accounts: [{ did: 'did:plc:a' }] })
    // In step with the status: no more reads.
    fake.emit('node:status', statusWith(1))
    await settle()
    expect(fake.listCalls).toBe(2)
    stop()
  })

  it('stops listening once stopped', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    stop()
    expect(fake.listenerCount).toBe(0)
  })
})

import { describe, expect, it } from 'vitest'
import type { AccountDto, ApiEventName, NodeStatusDto, P2pdsBridge, P2pdsEvents, SyncProgressDto, SyncResultDto, SyncStateDto } from '../../core/api.js'
import { accountStatus, progressView } from './account-view.js'
import { connectAccounts, createAccountsStore, type AccountsState } from './accounts-store.js'

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

  syncState: SyncStateDto | undefined

  readonly api = {
    sync: {
      state: async () => {
        if (this.syncState === undefined) throw new Error('not offered')
        return this.syncState
      },
    },
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

function completed(did: string, rev: string): SyncResultDto {
  return { did, rev, cid: `bafy-${rev}`, kind: 'full', creates: 1, updates: 0, deletes: 0, bytesReceived: 1, blobsFetched: 0, blobsFailed: 0, durationMs: 1 }
}

const failure = { name: 'PdsRequestError', code: 'ERR_PDS_REQUEST', message: 'The PDS did not answer. Try again later.' }

/** What an account's row shows: the bar's label while syncing, else the badge. */
function shown(s: AccountsState, did: string): string {
  const a = s.accounts?.find((x) => x.did === did)
  if (a === undefined) return 'absent'
  const p = s.progress[did] ?? null
  const status = accountStatus(a, p)
  return status.kind === 'syncing' ? `bar: ${progressView(p).label}` : status.label
}

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

  it('shows how a sync ended at once: not syncing, with the new head or the error', () => {
    const store = createAccountsStore()
    store.getState().listLoaded([account('did:plc:a', { syncing: true, head: null }), account('did:plc:b', { syncing: true })])
    store.getState().progressReceived(progress('did:plc:a', { phase: 'done' }))
    store.getState().syncEnded({ did: 'did:plc:a', ok: true, head: { cid: 'bafy-new', rev: '3new' } })
    store.getState().syncEnded({ did: 'did:plc:b', ok: false, error: failure })
    const [a, b] = store.getState().accounts!
    expect(a).toMatchObject({ syncing: false, head: { cid: 'bafy-new', rev: '3new' }, lastError: null })
    expect(b).toMatchObject({ syncing: false, head: { rev: '3l2a' }, lastError: failure })
    expect(store.getState().progress).toEqual({})
    expect(shown(store.getState(), 'did:plc:a')).toBe('Up to date')
    expect(shown(store.getState(), 'did:plc:b')).toBe('Sync failed')
  })

  it('keeps a sync’s end over a list older than it, until a newer list confirms it', () => {
    const store = createAccountsStore()
    store.getState().listLoaded([account('did:plc:a', { syncing: true, head: null })])
    store.getState().syncEnded({ did: 'did:plc:a', ok: true, head: { cid: 'bafy-new', rev: '3new' } })
    // Asked for before the end: it still says syncing, and must not show a new sync.
    store.getState().listLoaded([account('did:plc:a', { syncing: true, head: null })])
    expect(store.getState().accounts![0]).toMatchObject({ syncing: false, head: { rev: '3new' } })
    expect(shown(store.getState(), 'did:plc:a')).toBe('Up to date')
    // Asked for after it: the list has the whole truth (counts, time) and the end is dropped.
    store.getState().listLoaded([account('did:plc:a', { head: { cid: 'bafy-new', rev: '3new' }, records: 42 })], ['did:plc:a'])
    expect(store.getState().ended).toEqual({})
    expect(store.getState().accounts![0]).toMatchObject({ syncing: false, records: 42 })
  })

  it('drops a sync’s end when a new sync of the account sends progress', () => {
    const store = createAccountsStore()
    store.getState().listLoaded([account('did:plc:a')])
    store.getState().syncEnded({ did: 'did:plc:a', ok: false, error: failure })
    // A list read after the end that says syncing: the node cleared the old sync late, or a new one began.
    store.getState().listLoaded([account('did:plc:a', { syncing: true })], ['did:plc:a'])
    expect(shown(store.getState(), 'did:plc:a')).toBe('Sync failed')
    store.getState().progressReceived(progress('did:plc:a', { phase: 'resolving' }))
    expect(store.getState().ended).toEqual({})
    store.getState().listLoaded([account('did:plc:a', { syncing: true })])
    expect(shown(store.getState(), 'did:plc:a')).toBe('bar: Looking up the account')
  })

  it('applies an end that came before the added account’s answer', () => {
    const store = createAccountsStore()
    store.getState().listLoaded([])
    store.getState().syncEnded({ did: 'did:plc:a', ok: true, head: { cid: 'bafy-new', rev: '3new' } })
    store.getState().accountAdded(account('did:plc:a', { syncing: true, head: null }))
    expect(store.getState().accounts![0]).toMatchObject({ syncing: false, head: { rev: '3new' } })
  })
})

describe('connectAccounts', () => {
  it('reads the sync state at once, follows sync:state, and applies it to the listed accounts', async () => {
    const fake = new FakeBridge()
    fake.accounts = [account('did:plc:a', { paused: false, nextSyncAt: null }), account('did:plc:b', { paused: false, nextSyncAt: null })]
    fake.syncState = { paused: false, accounts: [{ did: 'did:plc:a', paused: false, nextSyncAt: '2030-01-01T00:00:00.000Z', running: false }] }
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    expect(store.getState().syncState).toEqual(fake.syncState)
    const calls = fake.listCalls
    const paused: SyncStateDto = { paused: false, accounts: [{ did: 'did:plc:b', paused: true, nextSyncAt: null, running: false }] }
    fake.emit('sync:state', paused)
    expect(store.getState().syncState).toBe(paused)
    expect(store.getState().accounts?.find((a) => a.did === 'did:plc:b')).toMatchObject({ paused: true, nextSyncAt: null })
    await settle()
    expect(fake.listCalls).toBeGreaterThan(calls)
    stop()
  })

  it('does without sync.state on a node that lacks it', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    expect(store.getState()).toMatchObject({ syncState: null, accounts: [] })
    stop()
  })

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

    fake.emit('sync:completed', completed('did:plc:a', '3l'))
    fake.emit('sync:failed', { did: 'did:plc:b', error: { name: 'E', code: 'ERR_X', message: 'No.' } })
    await settle()
    expect(store.getState().progress).toEqual({})
    expect(store.getState().changes).toEqual({ 'did:plc:a': 1, 'did:plc:b': 1 })
    // One read at the start, then the two events coalesce into at most two more.
    expect(fake.listCalls).toBeGreaterThanOrEqual(2)
    expect(fake.listCalls).toBeLessThanOrEqual(3)
    stop()
  })

  it('goes from real progress to the final state without showing a new sync (the node’s event order)', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    const did = 'did:plc:a'
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    const seen: string[] = []
    const unsubscribe = store.subscribe((s) => {
      const now = shown(s, did)
      if (now !== 'absent' && seen.at(-1) !== now) seen.push(now)
    })
    // List answers are held back so each arrives after the events that followed its request.
    let release = () => {}
    const hold = () => (fake.gate = new Promise<void>((r) => (release = r)))

    // The node: accounts:changed (start), progress per phase, done, sync:completed, accounts:changed (end).
    hold()
    fake.accounts = [account(did, { syncing: true, head: null, records: 0 })]
    fake.emit('accounts:changed', { did })
    fake.emit('sync:progress', progress(did, { phase: 'resolving' }))
    release()
    await settle()
    hold()
    fake.emit('sync:progress', progress(did, { phase: 'repo', bytes: 50, totalBytes: 100 }))
    fake.emit('sync:progress', progress(did, { phase: 'blobs', blobsDone: 1, blobsTotal: 2 }))
    fake.emit('sync:progress', progress(did, { phase: 'done' }))
    expect(progressView(store.getState().progress[did] ?? null)).toMatchObject({ fraction: 1 })
    // A list read while the sync ran answers only after it ended: it still says syncing.
    fake.emit('accounts:changed', { did })
    fake.emit('sync:completed', completed(did, '3new'))
    expect(store.getState().accounts![0]).toMatchObject({ syncing: false, head: { rev: '3new' }, lastError: null })
    fake.accounts = [account(did, { head: { cid: 'bafy-3new', rev: '3new' }, records: 12 })]
    fake.emit('accounts:changed', { did })
    release()
    fake.gate = undefined
    await settle()
    await settle()

    expect(seen).toEqual([
      'bar: Looking up the account',
      'bar: Downloading the repository',
      'bar: Downloading images and other blobs',
      'bar: Finishing',
      'Up to date',
    ])
    expect(store.getState().accounts![0]).toMatchObject({ syncing: false, records: 12 })
    expect(store.getState().ended).toEqual({})
    unsubscribe()
    stop()
  })

  it('shows a failed sync’s sentence at once', async () => {
    const fake = new FakeBridge()
    fake.accounts = [account('did:plc:a', { syncing: true, head: null })]
    const store = createAccountsStore()
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    fake.emit('sync:failed', { did: 'did:plc:a', error: failure })
    expect(store.getState().accounts![0]).toMatchObject({ syncing: false, lastError: failure })
    expect(shown(store.getState(), 'did:plc:a')).toBe('Sync failed')
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

  it('reads the list again when a policy of a listed account changes (why it is held), not for others or failures', async () => {
    const fake = new FakeBridge()
    const store = createAccountsStore()
    fake.accounts = [account('did:plc:a', { consent: 'unconsented' })]
    const stop = connectAccounts({ bridge: fake.api, store })
    await settle()
    const calls = fake.listCalls
    fake.emit('offers:changed', { did: 'did:plc:other' })
    fake.emit('offers:changed', { did: 'did:plc:a', error: failure })
    await settle()
    expect(fake.listCalls).toBe(calls)
    fake.accounts = [account('did:plc:a', { consent: 'consented' })]
    fake.emit('offers:changed', { did: 'did:plc:a' })
    await settle()
    expect(store.getState().accounts?.[0]?.consent).toBe('consented')
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

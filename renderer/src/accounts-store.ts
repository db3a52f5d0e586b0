/**
 * The accounts the node holds, and the live progress of their syncs. Fed by `connectAccounts`
 * from the node's events; components read it through `useAccounts(selector)` and call the node
 * through the bridge kept here.
 */
import { useStore } from 'zustand'
import { createStore, type StoreApi } from 'zustand/vanilla'
import type { AccountDto, ErrorDto, P2pdsBridge, SyncProgressDto, SyncStateDto } from '../../core/api.js'
import { actionSentence } from './problem.js'

/** How a sync ended, as its `sync:completed` or `sync:failed` event said. */
export type SyncEnd = { did: string; ok: true; head: { cid: string; rev: string } } | { did: string; ok: false; error: ErrorDto }

/** An account as a sync's end leaves it: not syncing, with the new head or the error. */
export function withSyncEnd(account: AccountDto, end: SyncEnd): AccountDto {
  return end.ok ? { ...account, syncing: false, head: end.head, lastError: null } : { ...account, syncing: false, lastError: end.error }
}

export interface AccountsState {
  /** The node's API, once found; null while the page is still looking for it. */
  bridge: P2pdsBridge | null
  /** Accounts held, most recently added first; null until the first answer. */
  accounts: AccountDto[] | null
  /** Why the list could not be read, as a sentence; null once it was. */
  listProblem: string | null
  /** The latest progress of each running sync, by DID. */
  progress: Record<string, SyncProgressDto>
  /**
   * Syncs that ended (by event) since the list last said so, by DID. Their outcome is applied to
   * the listed account until a list read after the end confirms it, so a list answer older than
   * the event cannot bring back "syncing" for a sync that is over.
   */
  ended: Record<string, SyncEnd>
  /** Bumped for a DID on every event about it, so a view of that account knows to read it again. */
  changes: Record<string, number>
  /** The latest pause state and schedule of periodic sync (`sync.state`, `sync:state`); null until read. */
  syncState: SyncStateDto | null

  bridgeReady(bridge: P2pdsBridge): void
  /**
   * A fresh list. `older` names the DIDs whose last sync event came before the list was asked
   * for: where such an account is not syncing, the list confirms how its sync ended (its progress
   * and end are dropped). Events newer than the list stay applied over it.
   */
  listLoaded(accounts: AccountDto[], older?: readonly string[]): void
  listFailed(sentence: string): void
  /** An account the user just added (shown before the list is read again). */
  accountAdded(account: AccountDto): void
  accountRemoved(did: string): void
  /** A running sync's progress; a sync that runs has not ended, so an earlier end is dropped. */
  progressReceived(p: SyncProgressDto): void
  /** A sync completed or failed: the account shows its final state at once. */
  syncEnded(end: SyncEnd): void
  changed(did: string): void
  /** A new sync state: kept, and each listed account's `paused` and `nextSyncAt` follow it. */
  syncStateLoaded(state: SyncStateDto): void
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!Object.hasOwn(record, key)) return record
  const { [key]: _dropped, ...rest } = record
  return rest
}

function applyEnd(account: AccountDto, ended: Record<string, SyncEnd>): AccountDto {
  const end = Object.hasOwn(ended, account.did) ? ended[account.did] : undefined
  return end === undefined ? account : withSyncEnd(account, end)
}

export function createAccountsStore(): StoreApi<AccountsState> {
  return createStore<AccountsState>()((set) => ({
    bridge: null,
    accounts: null,
    listProblem: null,
    progress: {},
    ended: {},
    changes: {},
    syncState: null,
    bridgeReady: (bridge) => set({ bridge }),
    listLoaded: (listed, older = []) =>
      set((s) => {
        let { progress, ended } = s
        for (const did of older) {
          const a = listed.find((x) => x.did === did)
          if (a !== undefined && a.syncing) continue
          progress = without(progress, did)
          ended = without(ended, did)
        }
        const accounts = listed.map((a) => applyEnd(a, ended))
        return { accounts, listProblem: null, progress, ended }
      }),
    listFailed: (sentence) => set({ listProblem: sentence }),
    accountAdded: (added) => set((s) => ({ accounts: [applyEnd(added, s.ended), ...(s.accounts ?? []).filter((a) => a.did !== added.did)] })),
    accountRemoved: (did) =>
      set((s) => ({
        accounts: s.accounts === null ? null : s.accounts.filter((a) => a.did !== did),
        progress: without(s.progress, did),
        ended: without(s.ended, did),
      })),
    progressReceived: (p) => set((s) => ({ progress: { ...s.progress, [p.did]: p }, ended: without(s.ended, p.did) })),
    syncEnded: (end) =>
      set((s) => ({
        accounts: s.accounts === null ? null : s.accounts.map((a) => (a.did === end.did ? withSyncEnd(a, end) : a)),
        progress: without(s.progress, end.did),
        ended: { ...s.ended, [end.did]: end },
      })),
    changed: (did) => set((s) => ({ changes: { ...s.changes, [did]: (s.changes[did] ?? 0) + 1 } })),
    syncStateLoaded: (state) =>
      set((s) => {
        if (s.accounts === null) return { syncState: state }
        const byDid = new Map(state.accounts.map((a) => [a.did, a]))
        const accounts = s.accounts.map((a) => {
          const st = byDid.get(a.did)
          if (st === undefined || (a.paused === st.paused && a.nextSyncAt === st.nextSyncAt)) return a
          return { ...a, paused: st.paused, nextSyncAt: st.nextSyncAt }
        })
        return { syncState: state, accounts }
      }),
  }))
}

/** The app's one accounts store. */
export const accountsStore = createAccountsStore()

/** Reads from the accounts store; select primitives or stored objects, never build new ones here. */
export function useAccounts<T>(selector: (s: AccountsState) => T): T {
  return useStore(accountsStore, selector)
}

export interface ConnectAccountsInit {
  bridge: P2pdsBridge
  store: StoreApi<AccountsState>
}

/**
 * Reads the list now and again whenever the node says something changed (`accounts:changed`, a
 * sync completing or failing, `sync:state`, a policy of a listed account in `offers:changed`), keeps the sync state (pause, next sync times), keeps sync progress, applies a sync's end to its account as soon as
 * the event arrives, and reads the list again when a status tick shows it is missing or out of
 * date (an event missed while the stream reconnected). Returns the function that stops it.
 */
export function connectAccounts(init: ConnectAccountsInit): () => void {
  const { bridge, store } = init
  let stopped = false
  let loading = false
  let again = false
  // When each DID's last sync event (progress or end) arrived, to tell a list answer that is newer
  // than it (which may drop it) from one that is older (which must not undo it).
  let tick = 0
  const eventTick = new Map<string, number>()

  const refresh = async (): Promise<void> => {
    if (stopped) return
    if (loading) {
      again = true
      return
    }
    loading = true
    const sentAt = tick
    try {
      const accounts = await bridge.accounts.list()
      if (stopped) return
      const older = [...eventTick].filter(([, t]) => t <= sentAt).map(([did]) => did)
      store.getState().listLoaded(accounts, older)
    } catch (err) {
      if (!stopped) store.getState().listFailed(actionSentence(err))
    } finally {
      loading = false
      if (again && !stopped) {
        again = false
        void refresh()
      }
    }
  }

  const loadSyncState = async (): Promise<void> => {
    try {
      const state = await bridge.sync.state()
      if (!stopped) store.getState().syncStateLoaded(state)
    } catch {
      // An older node without sync.state: the status tick's summary stands in for it.
    }
  }

  const ended = (end: SyncEnd) => {
    eventTick.set(end.did, ++tick)
    store.getState().syncEnded(end)
    store.getState().changed(end.did)
    void refresh()
  }

  store.getState().bridgeReady(bridge)
  const offs = [
    bridge.on('sync:progress', (p) => {
      eventTick.set(p.did, ++tick)
      store.getState().progressReceived(p)
    }),
    bridge.on('sync:completed', (r) => ended({ did: r.did, ok: true, head: { cid: r.cid, rev: r.rev } })),
    bridge.on('sync:failed', (f) => ended({ did: f.did, ok: false, error: f.error })),
    // Sent when a sync starts and again when it ends (after its end event).
    bridge.on('accounts:changed', ({ did }) => {
      store.getState().changed(did)
      void refresh()
    }),
    bridge.on('node:status', (status) => {
      if (status.state !== 'started') return
      const s = store.getState()
      if (s.accounts === null || s.listProblem !== null || s.accounts.length !== status.accounts) void refresh()
    }),
    // A policy changed: why an account is held (its badge) may have, and its consent.
    bridge.on('offers:changed', ({ did, error }) => {
      if (error !== undefined || !(store.getState().accounts ?? []).some((a) => a.did === did)) return
      store.getState().changed(did)
      void refresh()
    }),
    // A pause or resume, a sync starting or ending, a next sync time moving.
    bridge.on('sync:state', (state) => {
      store.getState().syncStateLoaded(state)
      void refresh()
    }),
  ]
  void refresh()
  void loadSyncState()

  return () => {
    stopped = true
    for (const off of offs) off()
  }
}

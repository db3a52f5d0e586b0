/**
 * The accounts the node holds, and the live progress of their syncs. Fed by `connectAccounts`
 * from the node's events; components read it through `useAccounts(selector)` and call the node
 * through the bridge kept here.
 */
import { useStore } from 'zustand'
import { createStore, type StoreApi } from 'zustand/vanilla'
import type { AccountDto, P2pdsBridge, SyncProgressDto } from '../../core/api.js'
import { actionSentence } from './problem.js'

export interface AccountsState {
  /** The node's API, once found; null while the page is still looking for it. */
  bridge: P2pdsBridge | null
  /** Accounts held, most recently added first; null until the first answer. */
  accounts: AccountDto[] | null
  /** Why the list could not be read, as a sentence; null once it was. */
  listProblem: string | null
  /** The latest progress of each running sync, by DID. */
  progress: Record<string, SyncProgressDto>
  /** Bumped for a DID on every event about it, so a view of that account knows to read it again. */
  changes: Record<string, number>

  bridgeReady(bridge: P2pdsBridge): void
  /** A fresh list; progress of the DIDs in `staleProgress` is dropped when their account is not syncing. */
  listLoaded(accounts: AccountDto[], staleProgress?: readonly string[]): void
  listFailed(sentence: string): void
  /** An account the user just added (shown before the list is read again). */
  accountAdded(account: AccountDto): void
  accountRemoved(did: string): void
  progressReceived(p: SyncProgressDto): void
  syncEnded(did: string): void
  changed(did: string): void
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!Object.hasOwn(record, key)) return record
  const { [key]: _dropped, ...rest } = record
  return rest
}

export function createAccountsStore(): StoreApi<AccountsState> {
  return createStore<AccountsState>()((set) => ({
    bridge: null,
    accounts: null,
    listProblem: null,
    progress: {},
    changes: {},
    bridgeReady: (bridge) => set({ bridge }),
    listLoaded: (accounts, staleProgress = []) =>
      set((s) => {
        let progress = s.progress
        for (const did of staleProgress) {
          const a = accounts.find((x) => x.did === did)
          if (a === undefined || !a.syncing) progress = without(progress, did)
        }
        return { accounts, listProblem: null, progress }
      }),
    listFailed: (sentence) => set({ listProblem: sentence }),
    accountAdded: (account) => set((s) => ({ accounts: [account, ...(s.accounts ?? []).filter((a) => a.did !== account.did)] })),
    accountRemoved: (did) =>
      set((s) => ({
        accounts: s.accounts === null ? null : s.accounts.filter((a) => a.did !== did),
        progress: without(s.progress, did),
      })),
    progressReceived: (p) => set((s) => ({ progress: { ...s.progress, [p.did]: p } })),
    syncEnded: (did) => set((s) => ({ progress: without(s.progress, did) })),
    changed: (did) => set((s) => ({ changes: { ...s.changes, [did]: (s.changes[did] ?? 0) + 1 } })),
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
 * sync completing or failing), keeps sync progress, and reads the list again when a status tick
 * shows it is missing or out of date (an event missed while the stream reconnected). Returns the
 * function that stops it.
 */
export function connectAccounts(init: ConnectAccountsInit): () => void {
  const { bridge, store } = init
  let stopped = false
  let loading = false
  let again = false
  // Which progress events arrived before a list request was sent: only those may be dropped by
  // its answer (a later event is newer than the list).
  let tick = 0
  const progressTick = new Map<string, number>()

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
      const stale = [...progressTick].filter(([, t]) => t <= sentAt).map(([did]) => did)
      store.getState().listLoaded(accounts, stale)
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

  const ended = (did: string) => {
    progressTick.delete(did)
    store.getState().syncEnded(did)
    store.getState().changed(did)
    void refresh()
  }

  store.getState().bridgeReady(bridge)
  const offs = [
    bridge.on('sync:progress', (p) => {
      progressTick.set(p.did, ++tick)
      store.getState().progressReceived(p)
    }),
    bridge.on('sync:completed', (r) => ended(r.did)),
    bridge.on('sync:failed', (f) => ended(f.did)),
    bridge.on('accounts:changed', ({ did }) => {
      store.getState().changed(did)
      void refresh()
    }),
    bridge.on('node:status', (status) => {
      if (status.state !== 'started') return
      const s = store.getState()
      if (s.accounts === null || s.listProblem !== null || s.accounts.length !== status.accounts) void refresh()
    }),
  ]
  void refresh()

  return () => {
    stopped = true
    for (const off of offs) off()
  }
}

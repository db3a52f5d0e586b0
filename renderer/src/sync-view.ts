/**
 * Periodic sync in words and the pause/resume actions: whether an account is paused, when the
 * next sync is, what the Overview says about the scheduler. Pure functions over the contract's
 * types, plus `setSyncPaused`, which calls the node and feeds the answer to the accounts store.
 */
import type { AccountDto, NodeStatusDto, NodeSyncSummaryDto, P2pdsBridge, SyncStateDto } from '../../core/api.js'
import type { AccountsState } from './accounts-store.js'
import { plural } from './format.js'

/** The code `accounts.sync` fails with while the account or the node is paused. */
export const ERR_ACCOUNT_PAUSED = 'ERR_ACCOUNT_PAUSED'

/**
 * Whether syncing is paused for every account: the latest `sync:state` wins, else the status
 * tick's summary; false when neither said.
 */
export function nodeSyncPaused(syncState: SyncStateDto | null, status: NodeStatusDto | null): boolean {
  return syncState?.paused ?? status?.sync?.paused ?? false
}

/** Whether an account's periodic sync is paused, on its own or with the whole node. */
export function isAccountPaused(a: Pick<AccountDto, 'paused'>, nodePaused: boolean): boolean {
  return nodePaused || a.paused === true
}

/**
 * How far ahead an ISO time is, relative to `now` (ms): `in 5 min`, `in 3 h`, `in 2 d`;
 * `in under a minute` when less than a minute away, `now` once due (or past, clock skew).
 * Null for null or an unreadable time.
 */
export function formatUntil(iso: string | null, now: number): string | null {
  if (iso === null) return null
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return null
  const sec = Math.floor((t - now) / 1000)
  if (sec <= 0) return 'now'
  if (sec < 60) return 'in under a minute'
  if (sec < 3_600) return `in ${Math.floor(sec / 60)} min`
  if (sec < 86_400) return `in ${Math.floor(sec / 3_600)} h`
  return `in ${Math.floor(sec / 86_400)} d`
}

/** `Next sync in 5 min`, or null when no next sync is planned (paused, running, no scheduler). */
export function nextSyncLine(nextSyncAt: string | null | undefined, now: number): string | null {
  const until = formatUntil(nextSyncAt ?? null, now)
  return until === null ? null : `Next sync ${until}`
}

/** The button that pauses or resumes: its words and test id, for all accounts or for one. */
export function pauseToggle(paused: boolean, scope: 'all' | 'account'): { label: string; testId: string; busyLabel: string } {
  if (scope === 'all') {
    return paused
      ? { label: 'Resume syncing', busyLabel: 'Resuming…', testId: 'sync-resume-all' }
      : { label: 'Pause syncing', busyLabel: 'Pausing…', testId: 'sync-pause-all' }
  }
  return paused
    ? { label: 'Resume syncing', busyLabel: 'Resuming…', testId: 'account-resume' }
    : { label: 'Pause syncing', busyLabel: 'Pausing…', testId: 'account-pause' }
}

/** The Overview's lines about periodic sync; null when the node did not say (an older node). */
export function syncSummaryView(sync: NodeSyncSummaryDto | undefined, now: number): { state: string; paused: boolean; running: string; next: string } | null {
  if (sync === undefined) return null
  return {
    paused: sync.paused,
    state: sync.paused ? 'Paused for all accounts' : 'Active',
    running: sync.running === 0 ? 'none' : plural(sync.running, 'sync'),
    next: sync.paused ? 'none while paused' : (formatUntil(sync.nextSyncAt, now) ?? 'none planned'),
  }
}

/**
 * Pauses or resumes syncing, of one account (`did`) or of all, and hands the node's answer to
 * the store at once (the `sync:state` event that follows says the same). Rejects as the call did.
 */
export async function setSyncPaused(
  bridge: Pick<P2pdsBridge, 'sync'>,
  store: { getState(): Pick<AccountsState, 'syncStateLoaded'> },
  paused: boolean,
  did?: string,
): Promise<SyncStateDto> {
  const input = did === undefined ? {} : { did }
  const state = paused ? await bridge.sync.pause(input) : await bridge.sync.resume(input)
  store.getState().syncStateLoaded(state)
  return state
}

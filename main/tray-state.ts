/**
 * What the tray shows, derived from the node's events: which icon, the tooltip and the menu's
 * status line. Pure (no Electron): `applyTrayEvent` folds events into `TrayInputs`, `trayState`
 * derives the display from them, and the Tray class redraws only when that display changes.
 */
import type { AccountDto, ApiEventName, ErrorDto, NodeStatusDto, P2pdsEvents } from '../core/api.js'

/** The three tray icons (assets/build/tray). */
export type TrayIcon = 'idle' | 'syncing' | 'attention'

/** What the tray displays. Two equal states draw the same tray. */
export interface TrayState {
  icon: TrayIcon
  /** Hover text. Kept under Windows' 127-character limit. */
  tooltip: string
  /** The disabled first line of the tray menu. */
  statusLine: string
  /** Whether "Sync all now" has anything to do: the node is started and holds accounts. */
  canSync: boolean
  /** Syncing is paused for every account (node:status `sync.paused`): the menu offers "Resume syncing". */
  paused: boolean
}

/** Everything the tray state is derived from, built from node events (immutable). */
export interface TrayInputs {
  /** The latest `node:status`, or null before the first one. */
  readonly status: NodeStatusDto | null
  /** DIDs with a sync running now. */
  readonly syncing: ReadonlySet<string>
  /** The latest failure of each DID whose last sync failed (cleared by its next success). */
  readonly failures: ReadonlyMap<string, ErrorDto>
}

/** `AbortError`'s code (core/errors.ts). */
const ABORTED = 'ERR_ABORTED'

/** Longest tooltip: Windows cuts tray tooltips at 127 characters. */
export const TOOLTIP_MAX = 127

export function emptyTrayInputs(status: NodeStatusDto | null = null): TrayInputs {
  return { status, syncing: new Set(), failures: new Map() }
}

/**
 * Inputs seeded from the account list at startup: failures kept from before a restart (an
 * account's `lastError` is null once a sync succeeds) and syncs already running.
 */
export function trayInputsFromAccounts(status: NodeStatusDto | null, accounts: readonly AccountDto[]): TrayInputs {
  const failures = new Map<string, ErrorDto>()
  for (const a of accounts) if (a.lastError !== null) failures.set(a.did, a.lastError)
  return { status, syncing: new Set(accounts.filter((a) => a.syncing).map((a) => a.did)), failures }
}

/** Drops what the inputs hold about accounts no longer held (an account removed while failing). */
export function forgetRemovedAccounts(inputs: TrayInputs, heldDids: Iterable<string>): TrayInputs {
  const held = new Set(heldDids)
  const syncing = [...inputs.syncing].filter((d) => held.has(d))
  const failures = [...inputs.failures].filter(([d]) => held.has(d))
  if (syncing.length === inputs.syncing.size && failures.length === inputs.failures.size) return inputs
  return { status: inputs.status, syncing: new Set(syncing), failures: new Map(failures) }
}

/** Folds one node event into the inputs. Returns the same object when nothing changed. */
export function applyTrayEvent<E extends ApiEventName>(inputs: TrayInputs, name: E, data: P2pdsEvents[E]): TrayInputs {
  switch (name) {
    case 'node:status':
      return { ...inputs, status: data as NodeStatusDto }
    case 'sync:state': {
      // A pause or resume: node:status follows on its next tick, the menu should not wait for it.
      const { paused } = data as P2pdsEvents['sync:state']
      const status = inputs.status
      if (status === null || (status.sync?.paused ?? false) === paused) return inputs
      return { ...inputs, status: { ...status, sync: { running: 0, nextSyncAt: null, ...status.sync, paused } } }
    }
    case 'sync:progress': {
      const { did, phase } = data as P2pdsEvents['sync:progress']
      return phase === 'done' ? withoutSyncing(inputs, did) : withSyncing(inputs, did)
    }
    case 'sync:completed': {
      const { did } = data as P2pdsEvents['sync:completed']
      const next = withoutSyncing(inputs, did)
      if (!next.failures.has(did)) return next
      const failures = new Map(next.failures)
      failures.delete(did)
      return { ...next, failures }
    }
    case 'sync:failed': {
      const { did, error } = data as P2pdsEvents['sync:failed']
      const next = withoutSyncing(inputs, did)
      // A sync aborted (the node stopping, the account removed) says nothing about the data.
      if (error.code === ABORTED) return next
      return { ...next, failures: new Map(next.failures).set(did, error) }
    }
    default:
      return inputs
  }
}

function withSyncing(inputs: TrayInputs, did: string): TrayInputs {
  if (inputs.syncing.has(did)) return inputs
  return { ...inputs, syncing: new Set(inputs.syncing).add(did) }
}

function withoutSyncing(inputs: TrayInputs, did: string): TrayInputs {
  if (!inputs.syncing.has(did)) return inputs
  const syncing = new Set(inputs.syncing)
  syncing.delete(did)
  return { ...inputs, syncing }
}

const NODE_NOT_STARTED: Record<Exclude<NodeStatusDto['state'], 'started'>, string> = {
  starting: 'Starting…',
  stopping: 'Stopping…',
  stopped: 'Stopped: backups are paused',
}

/**
 * The display for some inputs. Attention wins (the node is not started, a sync failed since
 * that account's last success, or storage reached its cap), then syncing, then idle.
 */
export function trayState(inputs: TrayInputs): TrayState {
  const state = inputs.status?.state ?? 'starting'
  const paused = inputs.status?.sync?.paused ?? false
  if (state !== 'started') {
    const line = NODE_NOT_STARTED[state]
    return { icon: 'attention', statusLine: line, tooltip: tooltip(line), canSync: false, paused }
  }
  const accounts = inputs.status?.accounts ?? 0
  const canSync = accounts > 0
  const syncing = inputs.syncing.size
  const failed = inputs.failures.size
  if (failed > 0) {
    const line = `Backup failed for ${count(failed, 'account')}`
    // One failure: its sentence says what to do. Several: the window lists them.
    const only = failed === 1 ? [...inputs.failures.values()][0] : undefined
    const detail = only !== undefined ? firstLine(only.message) : 'open P2PDS for details'
    return { icon: 'attention', statusLine: line, tooltip: tooltip(`${line}: ${detail}`), canSync, paused }
  }
  if (inputs.status?.storage?.level === 'full') {
    const line = 'Storage is full: new syncs stopped'
    return { icon: 'attention', statusLine: line, tooltip: tooltip(`${line}; raise the cap in Settings`), canSync, paused }
  }
  if (syncing > 0) {
    const line = accounts > 1 ? `Syncing ${syncing} of ${count(accounts, 'account')}…` : `Syncing ${count(syncing, 'account')}…`
    return { icon: 'syncing', statusLine: line, tooltip: tooltip(line), canSync, paused }
  }
  const backedUp = accounts === 0 ? 'No accounts backed up yet' : `${count(accounts, 'account')} backed up`
  const line = paused && accounts > 0 ? `${backedUp}, syncing paused` : backedUp
  return { icon: 'idle', statusLine: line, tooltip: tooltip(line), canSync, paused }
}

/** Whether two states draw the same tray. */
export function sameTrayState(a: TrayState | undefined, b: TrayState): boolean {
  return a !== undefined && a.icon === b.icon && a.tooltip === b.tooltip && a.statusLine === b.statusLine && a.canSync === b.canSync && a.paused === b.paused
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).trim()
}

function tooltip(text: string): string {
  const full = `P2PDS: ${text}`
  return full.length <= TOOLTIP_MAX ? full : `${full.slice(0, TOOLTIP_MAX - 1)}…`
}

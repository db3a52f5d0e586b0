/**
 * Desktop notifications, throttled so a failing account (or a burst of offers) cannot flood the
 * desktop: at most one per kind and key (a DID) per interval, and at most a few per minute in
 * all. Pure: `show` is handed in (Electron's `Notification` in main/index.ts).
 */
import type { AccountDto, ChallengeResultDto, ErrorDto, ExportResultDto, StorageUsageDto } from '../core/api.js'

/** What a notification is about; each kind has its own per-key interval. */
export type NoticeKind = 'sync-failed' | 'offer-received' | 'challenge-failed' | 'export-finished' | 'export-failed' | 'close-hint' | 'storage-warning'

export interface Notice {
  kind: NoticeKind
  /** What the throttle tells apart within a kind: the DID, or '' for one-off notices. */
  key: string
  title: string
  body: string
}

export interface NotificationThrottleInit {
  /**
   * Shortest time between two notices of one kind and key, per kind, in ms.
   * @default sync-failed, offer-received, challenge-failed: 10 minutes; others: 0 (every export
   * the user asked for is reported)
   */
  perKeyMs?: Partial<Record<NoticeKind, number>>
  /** Most notices in any window of `windowMs`, over every kind. @default 4 */
  maxPerWindow?: number
  /** @default 60_000 */
  windowMs?: number
  /** @default Date.now */
  now?: () => number
}

export const DEFAULT_PER_KEY_MS: Readonly<Record<NoticeKind, number>> = {
  'sync-failed': 10 * 60_000,
  'offer-received': 10 * 60_000,
  'challenge-failed': 10 * 60_000,
  'export-finished': 0,
  'export-failed': 0,
  'close-hint': 0,
  // Keyed by level: reaching the cap is said even shortly after the 90% warning.
  'storage-warning': 6 * 60 * 60_000,
}

/** Most remembered (kind, key) pairs; the oldest are forgotten beyond it. */
const MAX_KEYS = 1000

export interface NotificationThrottle {
  /** Whether a notice may be shown now; when it may, it is counted as shown. */
  allow(kind: NoticeKind, key: string): boolean
}

export function createNotificationThrottle(init: NotificationThrottleInit = {}): NotificationThrottle {
  const perKey = { ...DEFAULT_PER_KEY_MS, ...init.perKeyMs }
  const maxPerWindow = init.maxPerWindow ?? 4
  const windowMs = init.windowMs ?? 60_000
  const now = init.now ?? Date.now
  const lastShown = new Map<string, number>()
  let recent: number[] = []

  return {
    allow(kind, key) {
      const t = now()
      const id = `${kind}\u0000${key}`
      const last = lastShown.get(id)
      if (last !== undefined && t - last < perKey[kind]) return false
      recent = recent.filter((at) => t - at < windowMs)
      if (recent.length >= maxPerWindow) return false
      recent.push(t)
      lastShown.delete(id)
      lastShown.set(id, t)
      if (lastShown.size > MAX_KEYS) lastShown.delete(lastShown.keys().next().value!)
      return true
    },
  }
}

export interface NotifierInit extends NotificationThrottleInit {
  /** Shows one notification (`new Notification({ title, body }).show()`); may throw. */
  show(notice: Notice): void
}

/** Throttled notifications; `notify` never throws and returns whether the notice was shown. */
export interface Notifier {
  /** Shows a notice if the throttle allows; null (nothing worth saying) is ignored. */
  notify(notice: Notice | null): boolean
}

export function createNotifier(init: NotifierInit): Notifier {
  const throttle = createNotificationThrottle(init)
  return {
    notify(notice) {
      if (notice === null || !throttle.allow(notice.kind, notice.key)) return false
      try {
        init.show(notice)
        return true
      } catch (err) {
        // No notification daemon (some Linux desktops): the tray and window still show the state.
        console.error('p2pds: could not show a notification:', err)
        return false
      }
    },
  }
}

/** How an account is named to a person: its handle, else its DID. */
export function accountName(did: string, account?: Pick<AccountDto, 'handle'> | null): string {
  return account?.handle ?? did
}

/**
 * A sync failed (background or asked for). Null for an aborted sync (the node stopping, the
 * account removed): nothing went wrong with the data.
 */
export function syncFailedNotice(did: string, error: ErrorDto, account?: Pick<AccountDto, 'handle'> | null): Notice | null {
  if (error.code === 'ERR_ABORTED') return null
  return {
    kind: 'sync-failed',
    key: did,
    title: `Backup of ${accountName(did, account)} failed`,
    body: firstLine(error.message),
  }
}

/** "Sync all now" could not even list the accounts. */
export function syncAllFailedNotice(err: unknown): Notice {
  const message = err instanceof Error ? err.message : String(err)
  return { kind: 'sync-failed', key: '', title: 'Could not start the backups', body: firstLine(message) }
}

/** An export asked for from the menu finished. */
export function exportFinishedNotice(what: 'car' | 'blobs', did: string, result: ExportResultDto, account?: Pick<AccountDto, 'handle'> | null): Notice {
  const items = what === 'car' ? `${result.items} blocks` : `${result.items} blob${result.items === 1 ? '' : 's'}`
  return {
    kind: 'export-finished',
    key: `${what}\u0000${did}`,
    title: what === 'car' ? `Exported ${accountName(did, account)} (CAR)` : `Exported the blobs of ${accountName(did, account)}`,
    body: `${items}, ${formatBytes(result.bytes)}, saved to ${result.path}`,
  }
}

/** An export asked for from the menu failed. */
export function exportFailedNotice(what: 'car' | 'blobs', did: string, err: unknown, account?: Pick<AccountDto, 'handle'> | null): Notice {
  const message = err instanceof Error ? err.message : String(err)
  return {
    kind: 'export-failed',
    key: `${what}\u0000${did}`,
    title: `Could not export ${accountName(did, account)}`,
    body: firstLine(message),
  }
}

/** Shown once, the first time closing the window leaves P2PDS running. */
export function closeHintNotice(platform: NodeJS.Platform): Notice {
  const where = platform === 'darwin' ? 'menu bar' : platform === 'win32' ? 'notification area' : 'tray'
  return {
    kind: 'close-hint',
    key: '',
    title: 'P2PDS is still running',
    body: `Your backups keep running in the background. Open P2PDS or quit it from its icon in the ${where}.`,
  }
}

/** Stored data reached 90% of the storage cap, or the cap (new syncs are then refused). */
export function storageWarningNotice(usage: StorageUsageDto): Notice | null {
  if (usage.level === 'ok' || usage.limitBytes === null) return null
  const of = `${formatBytes(usage.usedBytes)} of the ${formatBytes(usage.limitBytes)} storage cap`
  return usage.level === 'full'
    ? { kind: 'storage-warning', key: 'full', title: 'Storage is full', body: `${of} is used, so no new sync starts. Raise the cap in Settings or remove an account.` }
    : { kind: 'storage-warning', key: 'warning', title: 'Storage is almost full', body: `${of} is used (${Math.floor((usage.fraction ?? 0) * 100)}%). At the cap, new syncs stop; raise it in Settings.` }
}

/**
 * A peer failed a storage challenge in a way that says it lost or faked data (not merely being
 * offline, late or refusing: those show on the Verification page). Null otherwise.
 */
export function challengeFailedNotice(result: ChallengeResultDto, account?: Pick<AccountDto, 'handle'> | null): Notice | null {
  if (result.ok || result.reason === 'unreachable' || result.reason === 'late' || result.reason === 'refused') return null
  return {
    kind: 'challenge-failed',
    key: `${result.peer}\u0000${result.did}`,
    title: `A peer failed to prove it holds ${accountName(result.did, account)}`,
    body: `${result.peerId ?? `Peer ${result.peer}`}: ${firstLine(result.message)}`,
  }
}

/** `1.5 MB`, `980 B`: decimal units, as file managers show them. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = -1
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).trim()
}

/**
 * Accounts in words: their status, a sync's progress, what a sync or export did. Pure functions
 * over the contract's types, no DOM.
 */
import type { AccountDto, ExportResultDto, SyncPhase, SyncProgressDto, SyncResultDto } from '../../core/api.js'
import { formatBytes, formatCount, formatElapsedMs, formatEta, plural } from './format.js'

/** The state shown on an account's badge (also its `data-status`). */
export type AccountStatusKind = 'syncing' | 'paused' | 'ok' | 'error' | 'pending'

export interface AccountStatus {
  kind: AccountStatusKind
  label: string
  tone: 'ok' | 'busy' | 'error' | 'off'
  /** Why the last sync failed, as the node said it; null otherwise. */
  sentence: string | null
}

/**
 * Syncing wins (a sync that is running may fix the last error); then paused (`paused`: on its own
 * or with the node, see sync-view.ts `isAccountPaused`; the last error's sentence is kept); then
 * the last sync's error; then whether the account was ever synced.
 */
export function accountStatus(a: Pick<AccountDto, 'syncing' | 'lastError' | 'head'>, progress?: SyncProgressDto | null, paused = false): AccountStatus {
  const sentence = a.lastError === null ? null : a.lastError.message.trim() || 'The last sync failed without saying why.'
  if (a.syncing || (progress !== undefined && progress !== null)) return { kind: 'syncing', label: 'Syncing', tone: 'busy', sentence }
  if (paused) return { kind: 'paused', label: 'Paused', tone: 'off', sentence }
  if (sentence !== null) return { kind: 'error', label: 'Sync failed', tone: 'error', sentence }
  if (a.head === null) return { kind: 'pending', label: 'Not synced yet', tone: 'off', sentence: null }
  return { kind: 'ok', label: 'Up to date', tone: 'ok', sentence: null }
}

const PHASES: Record<SyncPhase, string> = {
  resolving: 'Looking up the account',
  repo: 'Downloading the repository',
  blobs: 'Downloading images and other blobs',
  verifying: 'Verifying the copy',
  done: 'Finishing',
}

/** A sync phase in words. */
export function phaseLabel(phase: SyncPhase): string {
  return PHASES[phase] ?? 'Syncing'
}

export interface ProgressView {
  label: string
  /** 0..1, or null when the total is not known (an indeterminate bar). */
  fraction: number | null
  /** Short facts: blocks and bytes, blobs, time left. */
  details: string[]
}

function ratio(done: number, total: number | null): number | null {
  if (total === null || !Number.isFinite(total) || total <= 0) return null
  return Math.min(1, Math.max(0, done / total))
}

/** A progress bar's label, fill and facts; `null` progress is a sync that has just started. */
export function progressView(p: SyncProgressDto | null): ProgressView {
  if (p === null) return { label: 'Starting', fraction: null, details: [] }
  let fraction: number | null
  switch (p.phase) {
    case 'repo':
      fraction = ratio(p.bytes, p.totalBytes)
      break
    case 'blobs':
      // Counting blobs is steadier than bytes: their sizes are not all known in advance.
      fraction = ratio(p.blobsDone, p.blobsTotal) ?? ratio(p.bytes, p.totalBytes)
      break
    case 'done':
      fraction = 1
      break
    default:
      fraction = null
  }
  const details: string[] = []
  if (p.blocks > 0 || p.bytes > 0) {
    const bytes = p.totalBytes !== null && p.totalBytes > 0 ? `${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}` : formatBytes(p.bytes)
    details.push(`${plural(p.blocks, 'block')}, ${bytes}`)
  }
  if (p.blobsTotal !== null && p.blobsTotal > 0) details.push(`blobs ${formatCount(p.blobsDone)} of ${formatCount(p.blobsTotal)}`)
  else if (p.blobsDone > 0) details.push(plural(p.blobsDone, 'blob'))
  if (p.etaSec !== null && p.phase !== 'done') details.push(`about ${formatEta(p.etaSec)} left`)
  return { label: phaseLabel(p.phase), fraction, details }
}

/** What a finished sync did, in one sentence. */
export function syncResultSentence(r: SyncResultDto): string {
  const took = formatElapsedMs(r.durationMs)
  if (r.kind === 'none' && r.blobsFetched === 0 && r.blobsFailed === 0) return `Already up to date (checked in ${took}).`
  const changes = `${formatCount(r.creates)} created, ${formatCount(r.updates)} updated, ${formatCount(r.deletes)} deleted`
  const parts = [r.kind === 'full' ? `Full sync: ${changes}` : `Synced: ${changes}`, `${formatBytes(r.bytesReceived)} received`]
  if (r.blobsFetched > 0) parts.push(`${plural(r.blobsFetched, 'blob')} fetched`)
  if (r.blobsFailed > 0) parts.push(`${plural(r.blobsFailed, 'blob')} could not be fetched`)
  return `${parts.join(', ')}${sourcePhrase(r.source)}; took ${took}.`
}

/** Where a sync's repository came from, as a phrase: nothing for the PDS (the usual source). */
function sourcePhrase(source: string | undefined): string {
  const label = syncSourceLabel(source)
  return label === null || label === 'the PDS' ? '' : ` from ${label} (verified as from the PDS)`
}

/** What served a sync, for people: 'the PDS', 'peer 12D3KooW…m3rZfB', or null when unknown. */
export function syncSourceLabel(source: string | null | undefined): string | null {
  if (source === undefined || source === null) return null
  if (source === 'pds') return 'the PDS'
  if (!source.startsWith('peer:')) return null
  const peerId = source.slice('peer:'.length)
  return `peer ${peerId.length > 16 ? `${peerId.slice(0, 8)}…${peerId.slice(-6)}` : peerId}`
}

/** What an export wrote, in one sentence. */
export function exportSentence(what: 'car' | 'blobs', r: ExportResultDto): string {
  const items = what === 'car' ? plural(r.items, 'block') : plural(r.items, 'blob')
  return `Saved ${items} (${formatBytes(r.bytes)}) to ${r.path}`
}

/**
 * What the add form says under itself about the account it just added, from that account's
 * status: that it is syncing, then how the sync ended. Null when there is nothing true to say
 * (the account is gone, or its sync stopped without an outcome).
 */
export function addedLine(name: string, status: AccountStatus | null): { ok: boolean; text: string } | null {
  switch (status?.kind) {
    case 'syncing':
      return { ok: true, text: `Added ${name}; syncing it now.` }
    case 'ok':
      return { ok: true, text: `Added ${name} and backed it up.` }
    case 'error':
      return { ok: false, text: `Added ${name}, but its sync failed: ${status.sentence ?? 'no reason was given.'}` }
    default:
      return null
  }
}

/** What a person typed to add an account, as the node expects it: trimmed, without a leading `@`. */
export function normalizeAccountInput(text: string): string {
  const t = text.trim()
  return t.startsWith('@') ? t.slice(1).trim() : t
}

/** Why an account is held, as its badge says it. */
export interface HoldingView {
  label: string
  tone: 'ok' | 'off' | 'error'
  /** The badge's tooltip: what the label means. */
  title: string
}

/**
 * Why the node holds an account, from the policy that holds it (`AccountDto.kind` and `consent`):
 * a withdrawn agreement first (its data is on its way out), then the kind of policy; a one-way
 * archive says whether the account consented. `p2pds accounts` uses the same labels.
 */
export function holdingView(a: Pick<AccountDto, 'kind' | 'consent'>): HoldingView {
  if (a.consent === 'revoked') {
    return { label: 'Agreement revoked', tone: 'error', title: 'The account withdrew its offer or consent; the copy here is purged after the grace period (see Offers).' }
  }
  switch (a.kind) {
    case 'reciprocal':
      return { label: 'Mutual backup', tone: 'ok', title: 'An agreement: this account and one logged in here offered to back each other up.' }
    case 'config':
      return { label: 'From config', tone: 'off', title: "Held because the node's configuration names it (REPLICATE_DIDS or POLICY_FILE)." }
    case 'archive':
      return a.consent === 'consented'
        ? { label: 'Archive · consented', tone: 'off', title: 'Archived one-way; the account published a consent record allowing any P2PDS node to archive it.' }
        : {
            label: 'Archive · no consent',
            tone: 'off',
            title: "Archived one-way without the account's consent record: its public data is copied here without it having agreed.",
          }
  }
}

/** The name to show for an account: its handle, or its DID. */
export function accountName(a: Pick<AccountDto, 'did' | 'handle'>): string {
  return a.handle ?? a.did
}

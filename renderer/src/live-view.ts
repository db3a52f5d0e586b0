/**
 * The firehose's live state in words: per account (live, catching up, resyncing, paused, error,
 * off) and for the connection (the Overview's sync panel). Pure functions over the contract's
 * types.
 */
import type { AccountLiveDto, FirehoseStateDto, SyncStateDto } from '../../core/api.js'
import { formatCount } from './format.js'

/** How a live state shows: its words, a badge tone, and the sentence behind it (null when live). */
export interface LiveView {
  state: AccountLiveDto['state']
  label: string
  tone: 'ok' | 'busy' | 'error' | 'off'
  sentence: string | null
}

const LABELS: Record<AccountLiveDto['state'], { label: string; tone: LiveView['tone'] }> = {
  live: { label: 'Live', tone: 'ok' },
  'catching-up': { label: 'Catching up', tone: 'busy' },
  resyncing: { label: 'Resyncing', tone: 'busy' },
  paused: { label: 'Paused', tone: 'off' },
  error: { label: 'Live sync error', tone: 'error' },
  off: { label: 'Periodic only', tone: 'off' },
}

/** An account's live state from the latest sync state; null when the node did not say (an older node). */
export function accountLive(syncState: SyncStateDto | null, did: string): AccountLiveDto | null {
  return syncState?.accounts.find((a) => a.did === did)?.live ?? null
}

/** The badge and sentence of a live state. */
export function liveView(live: AccountLiveDto): LiveView {
  const { label, tone } = LABELS[live.state]
  return { state: live.state, label, tone, sentence: live.reason }
}

/** `120 ms`, `3.4 s`, `2 min`, `1 h`: how far behind the stream; null when unknown. */
export function formatLag(ms: number | null): string | null {
  if (ms === null) return null
  if (ms < 1_000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`
  return `${Math.floor(ms / 3_600_000)} h`
}

/** `12 events from the firehose · 80 ms behind`: the facts under an account's live badge. */
export function liveFacts(live: AccountLiveDto): string {
  const events = live.eventsApplied === 1 ? '1 event from the firehose' : `${formatCount(live.eventsApplied)} events from the firehose`
  const lag = live.state === 'live' || live.state === 'catching-up' ? formatLag(live.lagMs) : null
  return lag === null ? events : `${events} · ${lag} behind`
}

/** The Overview's firehose line: `Connected · 80 ms behind`, `Reconnecting in 4 s`, `Off`. */
export function firehoseLine(f: FirehoseStateDto | undefined, now: number): string | null {
  if (f === undefined) return null
  switch (f.connection) {
    case 'off':
      return 'Off (periodic sync only)'
    case 'connected': {
      const lag = formatLag(f.lagMs)
      return lag === null ? 'Connected' : `Connected · ${lag} behind`
    }
    case 'connecting':
      return 'Connecting…'
    case 'waiting': {
      const at = f.nextAttemptAt === null ? NaN : new Date(f.nextAttemptAt).getTime() - now
      return Number.isNaN(at) ? 'Reconnecting' : `Reconnecting in ${Math.max(0, Math.ceil(at / 1000))} s`
    }
    case 'stopped':
      return 'Stopped'
  }
}

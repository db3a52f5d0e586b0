/**
 * The firehose's state as the API shows it (`sync.state`, `node.status`): JSON-safe, times as ISO
 * strings. With no consumer (FIREHOSE_ENABLED=false, or a CLI-opened data dir) every account is
 * `off`.
 */
import type { AccountLiveDto, FirehoseStateDto, SyncStateDto } from '../api.js'
import type { AccountLive, FirehoseConsumer } from './firehose.js'

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

/** One account's live state. */
export function accountLiveDto(consumer: FirehoseConsumer | null, did: string): AccountLiveDto {
  if (consumer === null) {
    return { did, state: 'off', reason: 'The firehose is switched off; the account is kept current by periodic syncs.', status: 'active', lastEventAt: null, eventsApplied: 0, lagMs: null }
  }
  const l: AccountLive = consumer.live(did)
  return { did, state: l.state, reason: l.reason, status: l.status, lastEventAt: iso(l.lastEventAt), eventsApplied: l.eventsApplied, lagMs: l.lagMs }
}

/** The connection. `url` is the configured FIREHOSE_URL (shown even when off). */
export function firehoseStateDto(consumer: FirehoseConsumer | null, url: string): FirehoseStateDto {
  if (consumer === null) {
    return { enabled: false, url, connection: 'off', cursor: null, lastEventAt: null, lagMs: null, reconnects: 0, lastError: null, nextAttemptAt: null }
  }
  const s = consumer.state()
  return {
    enabled: true,
    url: s.url,
    connection: s.connection,
    cursor: s.cursor,
    lastEventAt: iso(s.lastEventAt),
    lagMs: s.lagMs,
    reconnects: s.reconnects,
    lastError: s.lastError,
    nextAttemptAt: iso(s.nextAttemptAt),
  }
}

/** `sync.state` with each account's live state and the connection added. */
export function withLiveState(state: SyncStateDto, consumer: FirehoseConsumer | null, url: string): SyncStateDto {
  return {
    ...state,
    accounts: state.accounts.map((a) => ({ ...a, live: accountLiveDto(consumer, a.did) })),
    firehose: firehoseStateDto(consumer, url),
  }
}

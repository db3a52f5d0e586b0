import { describe, expect, it } from 'vitest'
import type { AccountLiveDto, FirehoseStateDto } from '../../core/api.js'
import { accountLive, firehoseLine, formatLag, liveFacts, liveView } from './live-view.js'

const live = (over: Partial<AccountLiveDto> = {}): AccountLiveDto => ({
  did: 'did:plc:a',
  state: 'live',
  reason: null,
  status: 'active',
  lastEventAt: null,
  eventsApplied: 0,
  lagMs: null,
  ...over,
})

const firehose = (over: Partial<FirehoseStateDto> = {}): FirehoseStateDto => ({
  enabled: true,
  url: 'wss://relay.example/xrpc/com.atproto.sync.subscribeRepos',
  connection: 'connected',
  cursor: 10,
  lastEventAt: null,
  lagMs: null,
  reconnects: 0,
  lastError: null,
  nextAttemptAt: null,
  ...over,
})

describe('live-view', () => {
  it('names every state with its tone, and keeps the reason as the sentence', () => {
    expect(liveView(live())).toMatchObject({ label: 'Live', tone: 'ok', sentence: null })
    expect(liveView(live({ state: 'resyncing', reason: 'A gap.' }))).toMatchObject({ label: 'Resyncing', tone: 'busy', sentence: 'A gap.' })
    expect(liveView(live({ state: 'error', reason: 'Refused.' }))).toMatchObject({ tone: 'error', sentence: 'Refused.' })
    expect(liveView(live({ state: 'paused' })).tone).toBe('off')
    expect(liveView(live({ state: 'off' })).label).toBe('Periodic only')
    expect(liveView(live({ state: 'catching-up' })).label).toBe('Catching up')
  })

  it('formats lag and facts', () => {
    expect(formatLag(null)).toBeNull()
    expect(formatLag(80)).toBe('80 ms')
    expect(formatLag(3400)).toBe('3.4 s')
    expect(formatLag(125_000)).toBe('2 min')
    expect(liveFacts(live({ eventsApplied: 1 }))).toBe('1 event from the firehose')
    expect(liveFacts(live({ eventsApplied: 12, lagMs: 80 }))).toBe('12 events from the firehose · 80 ms behind')
    // A paused account's lag says nothing about it.
    expect(liveFacts(live({ state: 'paused', eventsApplied: 2, lagMs: 80 }))).toBe('2 events from the firehose')
  })

  it('finds an account in the sync state; null for an older node that does not say', () => {
    const l = live({ did: 'did:plc:b' })
    expect(accountLive({ paused: false, accounts: [{ did: 'did:plc:b', paused: false, nextSyncAt: null, running: false, live: l }] }, 'did:plc:b')).toBe(l)
    expect(accountLive({ paused: false, accounts: [{ did: 'did:plc:b', paused: false, nextSyncAt: null, running: false }] }, 'did:plc:b')).toBeNull()
    expect(accountLive(null, 'did:plc:b')).toBeNull()
  })

  it('describes the connection', () => {
    const now = Date.parse('2030-01-01T00:00:00.000Z')
    expect(firehoseLine(undefined, now)).toBeNull()
    expect(firehoseLine(firehose({ connection: 'off' }), now)).toBe('Off (periodic sync only)')
    expect(firehoseLine(firehose({ lagMs: 120 }), now)).toBe('Connected · 120 ms behind')
    expect(firehoseLine(firehose(), now)).toBe('Connected')
    expect(firehoseLine(firehose({ connection: 'waiting', nextAttemptAt: '2030-01-01T00:00:04.200Z' }), now)).toBe('Reconnecting in 5 s')
    expect(firehoseLine(firehose({ connection: 'connecting' }), now)).toBe('Connecting…')
  })
})

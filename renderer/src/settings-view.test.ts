import { describe, expect, it } from 'vitest'
import type { SettingDto, SettingKey, SettingsDto, SettingValues } from '../../core/api.js'
import {
  appliesLine,
  dataDirLine,
  draftFrom,
  formatInterval,
  parseField,
  resettableKeys,
  sectionDirty,
  sectionUpdate,
  SETTINGS_SECTIONS,
  sourceLine,
  storageBar,
} from './settings-view.js'

const ENV: Record<SettingKey, string> = {
  bandwidthLimitKbps: 'BANDWIDTH_LIMIT_KBPS',
  storageLimitMb: 'STORAGE_LIMIT_MB',
  syncIntervalSec: 'SYNC_INTERVAL_SEC',
  firehoseEnabled: 'FIREHOSE_ENABLED',
  firehoseUrl: 'FIREHOSE_URL',
  ipfsNetworking: 'IPFS_NETWORKING',
}

/** Settings as the node sends them: every value its default, unless `over` says otherwise. */
function settings(over: Partial<{ [K in SettingKey]: Partial<SettingDto<K>> }> = {}): SettingsDto['settings'] {
  const defaults: SettingValues = {
    bandwidthLimitKbps: null,
    storageLimitMb: null,
    syncIntervalSec: 3600,
    firehoseEnabled: true,
    firehoseUrl: 'wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos',
    ipfsNetworking: true,
  }
  const out = {} as Record<SettingKey, SettingDto>
  for (const key of Object.keys(defaults) as SettingKey[]) {
    const value = defaults[key]
    out[key] = {
      key,
      value,
      inUse: value,
      default: value,
      source: 'default',
      lockedBy: null,
      applies: ['firehoseEnabled', 'firehoseUrl', 'ipfsNetworking'].includes(key) ? 'restart' : 'now',
      env: ENV[key],
      ...over[key],
    } as SettingDto
  }
  return out as SettingsDto['settings']
}

const section = (id: string) => SETTINGS_SECTIONS.find((s) => s.id === id)!

describe('parseField', () => {
  it('reads caps as whole numbers, empty as no cap', () => {
    expect(parseField('bandwidthLimitKbps', ' 512 ')).toEqual({ ok: true, value: 512 })
    expect(parseField('bandwidthLimitKbps', '')).toEqual({ ok: true, value: null })
    expect(parseField('storageLimitMb', '1.5')).toEqual({ ok: false, error: 'must be a whole number of MB, or empty for no cap.' })
    expect(parseField('storageLimitMb', '0')).toEqual({ ok: false, error: 'must be at least 1 MB.' })
    expect(parseField('storageLimitMb', '-3')).toMatchObject({ ok: false })
  })

  it('needs an interval of at least 10 s', () => {
    expect(parseField('syncIntervalSec', '9')).toEqual({ ok: false, error: 'must be at least 10 seconds.' })
    expect(parseField('syncIntervalSec', '')).toEqual({ ok: false, error: 'is needed: a whole number of seconds.' })
    expect(parseField('syncIntervalSec', '600')).toEqual({ ok: true, value: 600 })
  })

  it('accepts ws(s) and http(s) firehose URLs only, without credentials or a trailing slash', () => {
    expect(parseField('firehoseUrl', 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos/')).toEqual({
      ok: true,
      value: 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos',
    })
    expect(parseField('firehoseUrl', 'ftp://relay.example.com')).toEqual({ ok: false, error: 'must start with wss://, ws://, https:// or http://.' })
    expect(parseField('firehoseUrl', 'relay')).toMatchObject({ ok: false, error: expect.stringMatching(/^is not a URL/) })
    expect(parseField('firehoseUrl', 'wss://a:b@relay.example.com')).toMatchObject({ ok: false })
    expect(parseField('firehoseEnabled', false)).toEqual({ ok: true, value: false })
  })
})

describe('sectionUpdate', () => {
  it('sends only what changed, and nothing when nothing did', () => {
    const s = settings()
    const draft = draftFrom(s)
    expect(sectionUpdate(section('firehose'), draft, s)).toEqual({ update: null, errors: {} })
    expect(sectionDirty(section('firehose'), draft, s)).toBe(false)
    draft.firehoseEnabled = false
    expect(sectionDirty(section('firehose'), draft, s)).toBe(true)
    expect(sectionUpdate(section('firehose'), draft, s)).toEqual({ update: { values: { firehoseEnabled: false } }, errors: {} })
  })

  it('gives one line per invalid field, naming it, and sends nothing', () => {
    const s = settings()
    const draft = { ...draftFrom(s), firehoseUrl: 'relay', firehoseEnabled: false }
    const r = sectionUpdate(section('firehose'), draft, s)
    expect(r.update).toBeNull()
    expect(r.errors).toEqual({ firehoseUrl: expect.stringMatching(/^Firehose URL is not a URL\./) })
  })

  it('never sends a locked setting, whatever the form holds', () => {
    const s = settings({ bandwidthLimitKbps: { value: 100, source: 'env', lockedBy: 'BANDWIDTH_LIMIT_KBPS' } })
    const draft = { ...draftFrom(s), bandwidthLimitKbps: '5' }
    expect(sectionDirty(section('transfer'), draft, s)).toBe(false)
    expect(sectionUpdate(section('transfer'), draft, s)).toEqual({ update: null, errors: {} })
  })

  it('offers a reset only for values saved in the app', () => {
    const s = settings({ storageLimitMb: { value: 5, source: 'saved' } })
    expect(resettableKeys(section('storage'), s)).toEqual(['storageLimitMb'])
    expect(resettableKeys(section('sync'), s)).toEqual([])
  })
})

describe('lines', () => {
  it('says where a value comes from', () => {
    expect(sourceLine({ source: 'env', lockedBy: 'BANDWIDTH_LIMIT_KBPS' })).toBe('set by BANDWIDTH_LIMIT_KBPS')
    expect(sourceLine({ source: 'flag', lockedBy: '--sync-interval-sec' })).toBe('set by --sync-interval-sec')
    expect(sourceLine({ source: 'saved', lockedBy: null })).toBe('saved in Settings')
    expect(sourceLine({ source: 'default', lockedBy: null })).toBe('default')
  })

  it('says when a change applies, and what is in use until a restart', () => {
    expect(appliesLine({ key: 'syncIntervalSec', applies: 'now', value: 60, inUse: 60 })).toBe('Applies at once.')
    expect(appliesLine({ key: 'ipfsNetworking', applies: 'restart', value: false, inUse: true })).toBe('Applies at the next start; in use until then: on.')
    expect(appliesLine({ key: 'firehoseEnabled', applies: 'restart', value: true, inUse: true })).toBe('Applies at the next start of P2PDS.')
    expect(formatInterval(3600)).toBe('1 h')
    expect(formatInterval(5400)).toBe('1 h 30 min')
    expect(formatInterval(10)).toBe('10 s')
  })

  it('explains the data folder, naming what sets it', () => {
    expect(dataDirLine({ path: '/d', source: 'env', lockedBy: 'DATA_DIR' })).toMatch(/^Set by DATA_DIR\. P2PDS runs from this folder/)
    expect(dataDirLine({ path: '/d', source: 'default', lockedBy: null })).toMatch(/^P2PDS runs from this folder.*`DATA_DIR`/)
  })
})

describe('storageBar', () => {
  const MB = 1024 * 1024
  it('shows the amount alone without a cap', () => {
    expect(storageBar({ usedBytes: 1.5 * MB, blocks: 3, limitBytes: null, fraction: null, level: 'ok' })).toEqual({
      percent: null,
      tone: 'ok',
      label: '1.5 MB stored (no cap)',
      warning: null,
    })
  })

  it('warns from 90% and says new syncs stop at the cap', () => {
    expect(storageBar({ usedBytes: 5 * MB, blocks: 3, limitBytes: 10 * MB, fraction: 0.5, level: 'ok' })).toMatchObject({ percent: 50, label: '5.0 MB of 10.0 MB (50%)', warning: null })
    const warn = storageBar({ usedBytes: 9.3 * MB, blocks: 3, limitBytes: 10 * MB, fraction: 0.93, level: 'warning' })
    expect(warn).toMatchObject({ percent: 93, tone: 'warning', warning: expect.stringMatching(/almost full/) })
    const full = storageBar({ usedBytes: 12 * MB, blocks: 3, limitBytes: 10 * MB, fraction: 1.2, level: 'full' })
    expect(full).toMatchObject({ percent: 100, tone: 'full', label: '12.0 MB of 10.0 MB (120%)', warning: expect.stringMatching(/new syncs are refused/) })
  })
})

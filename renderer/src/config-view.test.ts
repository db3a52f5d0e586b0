import { describe, expect, it } from 'vitest'
import { configRows, envOf, flagOf, formatConfigValue, labelOf } from './config-view.js'

describe('names', () => {
  it('derives the environment variable and flag from the key', () => {
    expect(envOf('syncIntervalSec')).toBe('SYNC_INTERVAL_SEC')
    expect(envOf('p2pdsSecret')).toBe('P2PDS_SECRET')
    expect(envOf('dataDir')).toBe('DATA_DIR')
    expect(flagOf('bandwidthLimitKbps')).toBe('--bandwidth-limit-kbps')
  })

  it('labels known keys and splits unknown ones into words', () => {
    expect(labelOf('dataDir')).toBe('Data folder')
    expect(labelOf('someNewThing')).toBe('Some new thing')
  })
})

describe('formatConfigValue', () => {
  it('uses units from the key', () => {
    expect(formatConfigValue('syncIntervalSec', 3600)).toBe('1 h')
    expect(formatConfigValue('purgeGraceSec', 604_800)).toBe('7 d')
    expect(formatConfigValue('plcRefreshSec', 90)).toBe('90 s')
    expect(formatConfigValue('bandwidthLimitKbps', 2048)).toBe('2,048 KB/s')
    expect(formatConfigValue('storageLimitMb', 500)).toBe('500 MB')
    expect(formatConfigValue('uiPort', 0)).toBe('0 (a free port)')
    expect(formatConfigValue('port', 3000)).toBe('3000')
  })

  it('says unlimited for missing caps and not set otherwise', () => {
    expect(formatConfigValue('storageLimitMb', undefined)).toBe('unlimited')
    expect(formatConfigValue('policyFile', undefined)).toBe('not set')
    expect(formatConfigValue('p2pdsSecret', 'unset')).toBe('not set')
    expect(formatConfigValue('p2pdsSecret', 'set')).toBe('set')
  })

  it('formats booleans, lists and strings', () => {
    expect(formatConfigValue('ipfsEnabled', true)).toBe('on')
    expect(formatConfigValue('firehoseEnabled', false)).toBe('off')
    expect(formatConfigValue('trustedDids', [])).toBe('none')
    expect(formatConfigValue('listenAddrs', ['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0'])).toBe('/ip4/0.0.0.0/tcp/0, /ip6/::/tcp/0')
    expect(formatConfigValue('host', '')).toBe('(empty)')
    expect(formatConfigValue('weird', { a: 1 })).toBe('{"a":1}')
  })
})

describe('configRows', () => {
  const config = { dataDir: '/d', port: 3000, ipfsEnabled: true, syncIntervalSec: 3600, p2pdsSecret: 'unset' }

  it('lists every key in the order sent when no keys are given', () => {
    expect(configRows(config).map((r) => r.key)).toEqual(['dataDir', 'port', 'ipfsEnabled', 'syncIntervalSec', 'p2pdsSecret'])
  })

  it('picks the given keys in order, skipping missing ones but keeping unlimited caps', () => {
    const rows = configRows(config, ['syncIntervalSec', 'port', 'plcUrl', 'storageLimitMb'])
    expect(rows).toEqual([
      { key: 'syncIntervalSec', label: 'Sync interval', value: '1 h', env: 'SYNC_INTERVAL_SEC', flag: '--sync-interval-sec' },
      { key: 'port', label: 'Peer port', value: '3000', env: 'PORT', flag: '--port' },
      { key: 'storageLimitMb', label: 'Storage limit', value: 'unlimited', env: 'STORAGE_LIMIT_MB', flag: '--storage-limit-mb' },
    ])
  })
})

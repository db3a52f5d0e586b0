import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CONFIG_VARS, loadConfig, publicConfig } from './config.js'
import { defaultDataDir } from './data-dir.js'
import { ConfigError } from './errors.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-config-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('loadConfig', () => {
  it('gives every variable its default', () => {
    const c = loadConfig({ env: {}, cwd: dir, platform: 'linux' })
    expect(c.port).toBe(3000)
    expect(c.host).toBe('127.0.0.1')
    expect(c.uiPort).toBe(0)
    expect(c.publicUrl).toBeUndefined()
    expect(c.plcUrl).toBe('https://plc.directory')
    expect(c.listenAddrs).toEqual(['/ip4/0.0.0.0/tcp/0'])
    expect(c.syncIntervalSec).toBe(3600)
    expect(c.purgeGraceSec).toBe(604_800)
    expect(c.plcRefreshSec).toBe(21_600)
    expect(c.allowPrivateNetwork).toBe(false)
    expect(c.bandwidthLimitKbps).toBeUndefined()
    expect(c.dataDir).toBe(defaultDataDir('linux', {}))
  })

  it('covers every variable of the CLI configuration table', () => {
    const names = CONFIG_VARS.map((v) => v.env)
    for (const n of [
      'DATA_DIR', 'PORT', 'HOST', 'PUBLIC_URL', 'UI_PORT', 'OAUTH_ENABLED', 'IPFS_ENABLED', 'IPFS_NETWORKING',
      'LISTEN_ADDRS', 'REPLICATE_DIDS', 'POLICY_FILE', 'FIREHOSE_URL', 'FIREHOSE_ENABLED', 'PLC_URL',
      'HANDLE_RESOLVER_URL', 'RATE_LIMIT_ENABLED', 'ALLOW_PRIVATE_NETWORK', 'PLC_REFRESH_SEC', 'SYNC_INTERVAL_SEC',
      'PURGE_GRACE_SEC', 'TRUSTED_DIDS', 'BANDWIDTH_LIMIT_KBPS', 'STORAGE_LIMIT_MB', 'P2PDS_SECRET', 'SECRET_KEY_FILE',
    ]) {
      expect(names).toContain(n)
    }
    expect(CONFIG_VARS.find((v) => v.env === 'PLC_URL')?.flag).toBe('--plc-url')
  })

  it('applies flag > environment > .env in cwd > .env in data dir > default', () => {
    const dataDir = join(dir, 'data')
    mkdirSync(dataDir)
    writeFileSync(join(dataDir, '.env'), 'PORT=4001\nUI_PORT=5001\nSYNC_INTERVAL_SEC=61\nPLC_REFRESH_SEC=62\n')
    writeFileSync(join(dir, '.env'), `DATA_DIR=${dataDir}\nPORT=4002\nUI_PORT=5002\nSYNC_INTERVAL_SEC=71\n`)
    const c = loadConfig({ env: { PORT: '4003', UI_PORT: '5003' }, flags: { PORT: '4004' }, cwd: dir })
    expect(c.dataDir).toBe(dataDir)
    expect(c.port).toBe(4004) // flag
    expect(c.uiPort).toBe(5003) // environment
    expect(c.syncIntervalSec).toBe(71) // .env in cwd
    expect(c.plcRefreshSec).toBe(62) // .env in data dir
    expect(c.purgeGraceSec).toBe(604_800) // default
  })

  it('accepts flags by kebab-case name', () => {
    const c = loadConfig({ env: {}, cwd: dir, flags: { 'plc-url': 'http://localhost:2582/', '--data-dir': 'rel/data' } })
    expect(c.plcUrl).toBe('http://localhost:2582')
    expect(c.dataDir).toBe(join(dir, 'rel', 'data'))
  })

  it('parses lists, booleans and optional numbers', () => {
    const c = loadConfig({
      cwd: dir,
      env: {
        REPLICATE_DIDS: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz, did:web:example.com,did:plc:ewvi7nxzyoun6zhxrhs64oiz',
        FIREHOSE_ENABLED: 'no',
        RATE_LIMIT_ENABLED: '0',
        ALLOW_PRIVATE_NETWORK: 'TRUE',
        BANDWIDTH_LIMIT_KBPS: '512',
        STORAGE_LIMIT_MB: '',
        LISTEN_ADDRS: '/ip4/127.0.0.1/tcp/0,/ip6/::1/tcp/4001',
      },
    })
    expect(c.replicateDids).toEqual(['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com'])
    expect(c.firehoseEnabled).toBe(false)
    expect(c.rateLimitEnabled).toBe(false)
    expect(c.allowPrivateNetwork).toBe(true)
    expect(c.bandwidthLimitKbps).toBe(512)
    expect(c.storageLimitMb).toBeUndefined()
    expect(c.listenAddrs).toEqual(['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/4001'])
  })

  it.each([
    ['PORT', '70000', 'a port number from 0 to 65535'],
    ['PORT', '-1', 'a port number'],
    ['UI_PORT', '12.5', 'a port number'],
    ['OAUTH_ENABLED', 'maybe', 'true or false'],
    ['PLC_URL', 'ftp://plc.example', 'an http(s) URL'],
    ['PLC_URL', 'not a url', 'an http(s) URL'],
    ['FIREHOSE_URL', 'file:///etc/passwd', 'a ws(s) or http(s) URL'],
    ['REPLICATE_DIDS', 'did:plc:ok7nxzyoun6zhxrhs64oiz,alice.example.com', 'comma-separated DIDs'],
    ['TRUSTED_DIDS', 'did:', 'comma-separated DIDs'],
    ['LISTEN_ADDRS', 'tcp://0.0.0.0:4001', 'multiaddrs'],
    ['HOST', 'bad host!', 'an IP address or host name'],
    ['SYNC_INTERVAL_SEC', '5', 'seconds from 10'],
    ['BANDWIDTH_LIMIT_KBPS', '0', 'KB/s from 1'],
    ['P2PDS_SECRET', 'short', 'at least 16 characters'],
  ])('rejects %s=%s with one line naming the variable', (name, value, accepted) => {
    let error: unknown
    try {
      loadConfig({ env: { [name]: value }, cwd: dir })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as ConfigError).message
    expect(message).toContain(name)
    expect(message).toContain(accepted)
    expect(message).not.toContain('\n')
  })

  it('rejects a bad value in a .env file too', () => {
    writeFileSync(join(dir, '.env'), 'PORT=eighty\n')
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow(/Invalid PORT="eighty"/)
  })

  it('never shows the secret in the public view', () => {
    const c = loadConfig({ env: { P2PDS_SECRET: 'a-very-secret-value-123' }, cwd: dir })
    expect(JSON.stringify(publicConfig(c))).not.toContain('a-very-secret-value-123')
    expect(publicConfig(c).p2pdsSecret).toBe('set')
  })
})

describe('defaultDataDir', () => {
  it('follows each platform', () => {
    expect(defaultDataDir('linux', { XDG_DATA_HOME: '/x/data' }, '/home/u')).toBe('/x/data/p2pds')
    expect(defaultDataDir('linux', { XDG_DATA_HOME: 'relative' }, '/home/u')).toBe('/home/u/.local/share/p2pds')
    expect(defaultDataDir('linux', {}, '/home/u')).toBe('/home/u/.local/share/p2pds')
    expect(defaultDataDir('darwin', {}, '/Users/u')).toBe('/Users/u/Library/Application Support/P2PDS')
    expect(defaultDataDir('win32', { APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'C:\\Users\\u')).toMatch(/Roaming[\\/]P2PDS$/)
  })
})

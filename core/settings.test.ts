// The settings service over a real pds.db (SQLite file, migrated): precedence, validation, atomic
// writes, and the storage usage the triggers of migration 5 keep. The node applying settings
// live, and the storage cap against the real local network, are in settings-node.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SettingKey, SettingValues } from './api.js'
import { loadConfig, type LoadConfigInit } from './config.js'
import { InvalidInputError, SettingLockedError, StorageLimitError } from './errors.js'
import { SettingsService } from './settings.js'
import { openDatabase, type Database } from './storage/database.js'
import { createSqliteStorage } from './storage/index.js'
import { migrate } from './storage/migrations.js'

let dir: string
let db: Database
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-settings-'))
  db = openDatabase(join(dir, 'pds.db'))
  migrate(db)
})
afterEach(() => {
  db.close()
  rmSync(dir, { recursive: true, force: true })
})

function service(init: Omit<LoadConfigInit, 'cwd'> = {}, extra: { onChange?: (v: SettingValues, changed: readonly SettingKey[]) => void; events?: Array<[string, unknown]> } = {}) {
  const config = loadConfig({ env: { DATA_DIR: dir }, cwd: dir, platform: 'linux', ...init })
  return new SettingsService({
    db,
    config,
    onChange: extra.onChange,
    emit: (name, data) => extra.events?.push([name, data]),
  })
}

const savedRows = () => db.prepare("SELECT key, value_json FROM settings WHERE key LIKE 'config.%' ORDER BY key").all()

async function rawBlock(size: number, fill: number): Promise<{ cid: string; bytes: Uint8Array }> {
  const bytes = new Uint8Array(size).fill(fill)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString(), bytes }
}

describe('SettingsService: precedence', () => {
  it('a flag, the environment or .env locks a setting; otherwise the saved value; otherwise the default', () => {
    writeFileSync(join(dir, '.env'), 'FIREHOSE_ENABLED=false\n')
    const first = service()
    first.update({ values: { storageLimitMb: 5, firehoseUrl: 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos/' } })

    const s = service({ env: { DATA_DIR: dir, BANDWIDTH_LIMIT_KBPS: '100' }, flags: { SYNC_INTERVAL_SEC: '600' } })
    const { settings, dataDir } = s.get()
    expect(settings.bandwidthLimitKbps).toMatchObject({ value: 100, source: 'env', lockedBy: 'BANDWIDTH_LIMIT_KBPS', default: null, applies: 'now' })
    expect(settings.syncIntervalSec).toMatchObject({ value: 600, source: 'flag', lockedBy: '--sync-interval-sec', default: 3600 })
    expect(settings.firehoseEnabled).toMatchObject({ value: false, source: 'dotenv', lockedBy: 'FIREHOSE_ENABLED in .env', default: true, applies: 'restart' })
    expect(settings.storageLimitMb).toMatchObject({ value: 5, source: 'saved', lockedBy: null })
    // Saved as read from FIREHOSE_URL: no trailing slash.
    expect(settings.firehoseUrl).toMatchObject({ value: 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos', source: 'saved' })
    expect(settings.ipfsNetworking).toMatchObject({ value: true, source: 'default', lockedBy: null, env: 'IPFS_NETWORKING' })
    expect(dataDir).toEqual({ path: dir, source: 'env', lockedBy: 'DATA_DIR' })

    // The node starts with the saved values a flag or variable does not override.
    const config = s.startConfig()
    expect(config).toMatchObject({ bandwidthLimitKbps: 100, syncIntervalSec: 600, storageLimitMb: 5, firehoseEnabled: false, firehoseUrl: 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos' })
  })

  it('a variable set later wins over a saved value, which shows again once it is unset', () => {
    service().update({ values: { bandwidthLimitKbps: 50 } })
    expect(service({ env: { DATA_DIR: dir, BANDWIDTH_LIMIT_KBPS: '7' } }).values().bandwidthLimitKbps).toBe(7)
    expect(service().get().settings.bandwidthLimitKbps).toMatchObject({ value: 50, source: 'saved' })
  })

  it('restart settings keep the value in use until the next start; reset forgets the saved value', () => {
    const s = service()
    const dto = s.update({ values: { ipfsNetworking: false, firehoseEnabled: false, syncIntervalSec: 120 } })
    expect(dto.settings.ipfsNetworking).toMatchObject({ value: false, inUse: true, source: 'saved' })
    expect(dto.settings.syncIntervalSec).toMatchObject({ value: 120, inUse: 120 })
    expect(service().get().settings.ipfsNetworking).toMatchObject({ value: false, inUse: false })
    const reset = s.update({ reset: ['ipfsNetworking', 'syncIntervalSec'] })
    expect(reset.settings.ipfsNetworking).toMatchObject({ value: true, source: 'default' })
    expect(reset.settings.syncIntervalSec).toMatchObject({ value: 3600, source: 'default' })
    expect(savedRows()).toEqual([{ key: 'config.firehoseEnabled', value_json: 'false' }])
  })

  it('ignores a saved value this version cannot accept (edited by hand) and leaves other rows alone', () => {
    db.prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, 0)').run('config.syncIntervalSec', '"soon"')
    db.prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, 0)').run('config.bandwidthLimitKbps', '{bad json')
    db.prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, 0)').run('sync.paused', 'true')
    const s = service()
    expect(s.get().settings.syncIntervalSec).toMatchObject({ value: 3600, source: 'default' })
    expect(s.get().settings.bandwidthLimitKbps).toMatchObject({ value: null, source: 'default' })
    s.update({ values: { syncIntervalSec: 60 } })
    expect(db.prepare("SELECT value_json FROM settings WHERE key = 'sync.paused'").get()).toEqual({ value_json: 'true' })
  })
})

describe('SettingsService: validation and atomic updates', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['too short an interval', { values: { syncIntervalSec: 5 } }, /^Invalid syncIntervalSec: must be at least 10 seconds\.$/],
    ['a fractional cap', { values: { bandwidthLimitKbps: 1.5 } }, /^Invalid bandwidthLimitKbps: must be a whole number of KB\/s\.$/],
    ['a zero cap', { values: { storageLimitMb: 0 } }, /^Invalid storageLimitMb: must be at least 1 MB\.$/],
    ['a string for a number', { values: { storageLimitMb: '10' } }, /^Invalid storageLimitMb: must be a number of MB\.$/],
    ['a file: URL', { values: { firehoseUrl: 'file:///etc/passwd' } }, /^Invalid firehoseUrl: must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/],
    ['a URL with a password', { values: { firehoseUrl: 'wss://u:p@relay.example.com' } }, /^Invalid firehoseUrl: must be a ws:/],
    ['not a boolean', { values: { ipfsNetworking: 'off' } }, /^Invalid ipfsNetworking: must be on or off/],
    ['an unknown setting', { values: { dataDir: '/tmp' } }, /^Invalid values: names no setting P2PDS knows \(dataDir\)\.$/],
    ['nothing to do', {}, /give at least one setting/],
    ['save and reset one setting', { values: { syncIntervalSec: 60 }, reset: ['syncIntervalSec'] }, /cannot be saved and reset at once/],
    ['reset of an unknown setting', { reset: ['port'] }, /^Invalid reset\.0: must name settings/],
  ]
  it.each(bad)('refuses %s with one line, and saves nothing of the update', (_what, input, message) => {
    const s = service()
    // A valid value beside the bad one: not saved either.
    const values = typeof input === 'object' && input !== null && 'values' in input ? (input as { values: object }).values : undefined
    const valid = values !== undefined && Object.hasOwn(values, 'ipfsNetworking') ? { storageLimitMb: 10 } : { ipfsNetworking: false }
    const withValid = values === undefined ? input : { ...(input as object), values: { ...values, ...valid } }
    for (const attempt of [input, withValid]) {
      let err: unknown
      try {
        s.update(attempt as never)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvalidInputError)
      const text = (err as Error).message
      expect(text.split('\n')).toHaveLength(1)
      if (attempt === input) expect(text).toMatch(message)
    }
    expect(savedRows()).toEqual([])
  })

  it('refuses to change or reset a locked setting, saving nothing of the update', () => {
    const events: Array<[string, unknown]> = []
    const s = service({ env: { DATA_DIR: dir, STORAGE_LIMIT_MB: '100' } }, { events })
    for (const input of [{ values: { storageLimitMb: 5, syncIntervalSec: 60 } }, { values: { syncIntervalSec: 60 }, reset: ['storageLimitMb' as const] }]) {
      let err: unknown
      try {
        s.update(input)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(SettingLockedError)
      expect(err).toMatchObject({ code: 'ERR_SETTING_LOCKED', key: 'storageLimitMb', lockedBy: 'STORAGE_LIMIT_MB' })
      expect((err as Error).message).toMatch(/^storageLimitMb is set by STORAGE_LIMIT_MB, so it cannot be changed here\./)
    }
    expect(savedRows()).toEqual([])
    expect(events).toEqual([])
  })

  it('writes every value of an update in one transaction, then applies and announces what changed', () => {
    const calls: Array<[SettingValues, readonly SettingKey[]]> = []
    const events: Array<[string, unknown]> = []
    const s = service({}, { onChange: (v, changed) => calls.push([v, changed]), events })
    const dto = s.update({ values: { bandwidthLimitKbps: 64, syncIntervalSec: 3600, firehoseEnabled: false } })
    expect(savedRows()).toEqual([
      { key: 'config.bandwidthLimitKbps', value_json: '64' },
      { key: 'config.firehoseEnabled', value_json: 'false' },
      { key: 'config.syncIntervalSec', value_json: '3600' },
    ])
    // syncIntervalSec was saved at its default value: nothing changed for it.
    expect(calls).toHaveLength(1)
    expect(calls[0]![1]).toEqual(['bandwidthLimitKbps', 'firehoseEnabled'])
    expect(calls[0]![0]).toMatchObject({ bandwidthLimitKbps: 64, firehoseEnabled: false })
    expect(events).toEqual([['settings:changed', dto]])
    // A failing write leaves every row as it was (the transaction rolls back).
    db.exec("CREATE TRIGGER refuse_firehose BEFORE INSERT ON settings WHEN NEW.key = 'config.firehoseUrl' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    expect(() => s.update({ values: { bandwidthLimitKbps: 1, firehoseUrl: 'wss://relay.example.com' } })).toThrow(/disk full/)
    expect(s.values().bandwidthLimitKbps).toBe(64)
    expect(calls).toHaveLength(1)
  })
})

describe('SettingsService: storage usage and the cap', () => {
  it('usage follows every block written and deleted (kept by triggers), and equals SUM(size)', async () => {
    const { blocks } = createSqliteStorage(db)
    const s = service()
    expect(s.storageUsage()).toEqual({ usedBytes: 0, blocks: 0, limitBytes: null, fraction: null, level: 'ok' })
    const a = await rawBlock(1000, 1)
    const b = await rawBlock(3000, 2)
    await blocks.putBlocks([a, b])
    await blocks.putBlock(a.cid, a.bytes) // stored once
    expect(s.storageUsage()).toMatchObject({ usedBytes: 4000, blocks: 2 })
    await blocks.deleteBlock(a.cid)
    expect(s.storageUsage()).toMatchObject({ usedBytes: 3000, blocks: 1 })
    expect(db.prepare('SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS blocks FROM blocks').get()).toEqual({ bytes: 3000, blocks: 1 })
  })

  it('a database upgraded to migration 5 starts from the blocks it already holds', async () => {
    const old = openDatabase(join(dir, 'old.db'))
    migrate(old, 4)
    const a = await rawBlock(700, 1)
    const b = await rawBlock(300, 2)
    const put = old.prepare('INSERT INTO blocks (cid, bytes, size) VALUES (?, ?, ?)')
    for (const x of [a, b]) put.run(x.cid, Buffer.from(x.bytes), x.bytes.byteLength)
    migrate(old)
    expect(old.prepare('SELECT bytes, blocks FROM storage_usage').all()).toEqual([{ bytes: 1000, blocks: 2 }])
    old.close()
  })

  it('warns from 90% of the cap, refuses new syncs at the cap, and says so once per rise', async () => {
    const { blocks } = createSqliteStorage(db)
    const events: Array<[string, unknown]> = []
    const s = service({}, { events })
    s.update({ values: { storageLimitMb: 1 } })
    expect(events.map(([n]) => n)).toEqual(['settings:changed'])
    const MB = 1024 * 1024
    await blocks.putBlock(...Object.values(await rawBlock(0.85 * MB, 1)) as [string, Uint8Array])
    expect(s.checkStorage()).toMatchObject({ level: 'ok', limitBytes: MB })
    s.admit('did:plc:a')
    await blocks.putBlock(...Object.values(await rawBlock(0.1 * MB, 2)) as [string, Uint8Array])
    expect(s.checkStorage()).toMatchObject({ level: 'warning' })
    expect(s.checkStorage()).toMatchObject({ level: 'warning' }) // no second event for the same level
    s.admit('did:plc:a') // a warning still syncs
    await blocks.putBlock(...Object.values(await rawBlock(0.1 * MB, 3)) as [string, Uint8Array])
    expect(s.checkStorage()).toMatchObject({ level: 'full' })
    expect(events.filter(([n]) => n === 'storage:warning').map(([, d]) => (d as { level: string }).level)).toEqual(['warning', 'full'])
    let err: unknown
    try {
      s.admit('did:plc:a')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(StorageLimitError)
    expect((err as Error).message).toMatch(/^Storage is full \(1(\.\d)? MB stored, cap 1 MB\), so did:plc:a was not synced; its backup is unchanged\. Raise the storage cap/)
    expect(() => s.admit('alice.test', 'added')).toThrow(/so alice\.test was not added\. Raise/)
    // Raising the cap lifts the refusal at once.
    const raised = s.update({ values: { storageLimitMb: 2 } })
    expect(raised.storage).toMatchObject({ level: 'ok' })
    s.admit('did:plc:a')
  })
})

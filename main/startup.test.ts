import { join, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, DataDirLockedError } from '../core/errors.js'
import { describeStartFailure, electronSqliteBindingPath, findElectronSqliteBinding } from './startup.js'

describe('Electron SQLite binding', () => {
  it('lives in .native/electron-<version>/, where prepare-electron.mjs builds it', () => {
    expect(electronSqliteBindingPath('/app', '45.5.0')).toBe(join('/app', '.native', 'electron-45.5.0', 'better_sqlite3.node'))
  })

  it('is used only when built, preferring the copy unpacked from app.asar', () => {
    expect(findElectronSqliteBinding('/app', '45.5.0', () => false)).toBeUndefined()
    expect(findElectronSqliteBinding('/app', '45.5.0', () => true)).toBe(electronSqliteBindingPath('/app', '45.5.0'))
    const packaged = `${sep}opt${sep}P2PDS${sep}resources${sep}app.asar`
    const unpacked = electronSqliteBindingPath(`${packaged}.unpacked`, '45.5.0')
    expect(findElectronSqliteBinding(packaged, '45.5.0', (p) => p === unpacked)).toBe(unpacked)
  })
})

describe('describeStartFailure', () => {
  it('passes on the sentence of a P2PDS error (data dir locked, bad config)', () => {
    const locked = new DataDirLockedError('/data', 1234)
    expect(describeStartFailure(locked)).toBe(locked.message)
    expect(describeStartFailure(new ConfigError('PORT', 'x', 'a port number'))).toBe('Invalid PORT="x": expected a port number.')
  })

  it('explains a SQLite module built for another runtime', () => {
    const err = Object.assign(new Error("The module '/x/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 127."), {
      code: 'ERR_DLOPEN_FAILED',
    })
    expect(describeStartFailure(err)).toMatch(/prepare-electron/)
    expect(describeStartFailure(err)).not.toContain('\n')
  })

  it('keeps anything else to one line', () => {
    expect(describeStartFailure(new Error('disk I/O error\n    at stack'))).toBe('P2PDS could not start: disk I/O error')
    expect(describeStartFailure('odd')).toBe('P2PDS could not start: odd')
  })
})

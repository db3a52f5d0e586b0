import { describe, expect, it } from 'vitest'
import { E2E_HOOK_GLOBAL, e2eUserDataDir, installE2eHook, type E2eHook } from './e2e-hook.js'

const hook: E2eHook = { trayState: () => null, clickMenuItem: () => false, notices: () => [] }

describe('installE2eHook', () => {
  it('installs nothing unless P2PDS_E2E=1', () => {
    for (const env of [{}, { P2PDS_E2E: '0' }, { P2PDS_E2E: 'true' }, { P2PDS_E2E: '' }]) {
      const target = {}
      expect(installE2eHook(env, hook, target)).toBe(false)
      expect(E2E_HOOK_GLOBAL in target).toBe(false)
    }
  })

  it('installs a frozen hook under its global name when asked', () => {
    const target: Record<string, unknown> = {}
    expect(installE2eHook({ P2PDS_E2E: '1' }, hook, target)).toBe(true)
    const installed = target[E2E_HOOK_GLOBAL] as E2eHook
    expect(installed.trayState()).toBeNull()
    expect(Object.isFrozen(installed)).toBe(true)
  })
})

describe('e2eUserDataDir', () => {
  it('moves userData only in an e2e run, and only to an absolute path', () => {
    expect(e2eUserDataDir({ P2PDS_E2E: '1', P2PDS_E2E_USER_DATA: '/tmp/p2pds-e2e/user-data' })).toBe('/tmp/p2pds-e2e/user-data')
    expect(e2eUserDataDir({ P2PDS_E2E_USER_DATA: '/tmp/p2pds-e2e/user-data' })).toBeUndefined()
    expect(e2eUserDataDir({ P2PDS_E2E: '1', P2PDS_E2E_USER_DATA: 'relative' })).toBeUndefined()
    expect(e2eUserDataDir({ P2PDS_E2E: '1' })).toBeUndefined()
  })
})

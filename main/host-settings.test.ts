// The host's half of Settings with real files in a temp folder (userData and the XDG autostart
// folder). Electron's `app.setLoginItemSettings` and `shell.openPath` cannot run here: the tests
// hand in stand-ins for them, named as such.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HostActionError, NotSupportedError } from '../core/errors.js'
import { readDesktopSettings } from './desktop-settings.js'
import { hostSettingsDto, openFolder, readHostSettings, setLaunchAtLogin, UNPACKAGED_REASON, type LaunchAtLoginDeps } from './host-settings.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-host-settings-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function deps(over: Partial<LaunchAtLoginDeps['loginItems']> = {}, loginItemCalls: unknown[] = []): LaunchAtLoginDeps {
  return {
    userDataDir: join(dir, 'userData'),
    loginItems: {
      platform: 'linux',
      isPackaged: true,
      executable: '/opt/P2PDS/p2pds',
      autostartFile: join(dir, 'autostart', 'p2pds.desktop'),
      // Stand-in for app.setLoginItemSettings (Electron cannot start here).
      setLoginItemSettings: (s) => void loginItemCalls.push(s),
      ...over,
    },
  }
}

describe('launch at login', () => {
  it('is offered only in the installed app, and says why not otherwise', () => {
    expect(hostSettingsDto({ isPackaged: true, launchAtLogin: true })).toEqual({ launchAtLogin: { supported: true, enabled: true, reason: null }, canOpenDataFolder: true })
    expect(hostSettingsDto({ isPackaged: false, launchAtLogin: false }).launchAtLogin).toEqual({ supported: false, enabled: false, reason: UNPACKAGED_REASON })
    const d = deps({ isPackaged: false })
    expect(() => setLaunchAtLogin(true, d)).toThrow(NotSupportedError)
    expect(existsSync(d.userDataDir)).toBe(false) // nothing saved
    expect(existsSync(d.loginItems.autostartFile!)).toBe(false)
  })

  it('on Linux writes and removes the autostart entry, and remembers the choice', () => {
    const d = deps()
    expect(readHostSettings(d).launchAtLogin.enabled).toBe(false)
    expect(setLaunchAtLogin(true, d).launchAtLogin).toEqual({ supported: true, enabled: true, reason: null })
    expect(readFileSync(d.loginItems.autostartFile!, 'utf8')).toContain('Exec="/opt/P2PDS/p2pds" --hidden')
    expect(readDesktopSettings(d.userDataDir).launchAtLogin).toBe(true)
    expect(readHostSettings(d).launchAtLogin.enabled).toBe(true)
    setLaunchAtLogin(false, d)
    expect(existsSync(d.loginItems.autostartFile!)).toBe(false)
    expect(readDesktopSettings(d.userDataDir).launchAtLogin).toBe(false)
  })

  it('on macOS and Windows registers the login item; a refusal saves nothing and says why', () => {
    const calls: unknown[] = []
    setLaunchAtLogin(true, deps({ platform: 'win32' }, calls))
    expect(calls).toEqual([{ openAtLogin: true, args: ['--hidden'] }])
    const failing = deps({
      platform: 'darwin',
      setLoginItemSettings: () => {
        throw new Error('denied by policy')
      },
    })
    rmSync(failing.userDataDir, { recursive: true, force: true })
    let err: unknown
    try {
      setLaunchAtLogin(true, failing)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(HostActionError)
    expect((err as Error).message).toBe('Could not add P2PDS to the programs that open at login: denied by policy.')
    expect(readDesktopSettings(failing.userDataDir).launchAtLogin).toBe(false)
  })
})

describe('openFolder', () => {
  it('resolves when the file manager opened the folder, and says why when it did not', async () => {
    // Stand-ins for shell.openPath, which resolves to an error message ('' on success).
    const opened: string[] = []
    await openFolder('/data/p2pds', async (p) => (opened.push(p), ''))
    expect(opened).toEqual(['/data/p2pds'])
    await expect(openFolder('/data/p2pds', async () => 'No application is registered to open folders')).rejects.toThrow(
      new HostActionError('Could not open /data/p2pds in the file manager: No application is registered to open folders.'),
    )
  })
})

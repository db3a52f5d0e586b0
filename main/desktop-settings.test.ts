import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { applyLaunchAtLogin, applyLinuxAutostart, DESKTOP_SETTINGS_FILE, linuxAutostartEntry, linuxAutostartFile, loginItemSettings, readDesktopSettings, updateDesktopSettings } from './desktop-settings.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-desktop-settings-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('desktop settings file (real files in a temp userData folder)', () => {
  it('defaults when the file is missing, and remembers what is written', () => {
    expect(readDesktopSettings(dir)).toEqual({ closeHintShown: false, launchAtLogin: false })
    expect(updateDesktopSettings(dir, { closeHintShown: true })).toEqual({ closeHintShown: true, launchAtLogin: false })
    expect(updateDesktopSettings(dir, { launchAtLogin: true })).toEqual({ closeHintShown: true, launchAtLogin: true })
    expect(readDesktopSettings(dir)).toEqual({ closeHintShown: true, launchAtLogin: true })
    // Written by rename: no temp file left behind.
    expect(readdirSync(dir)).toEqual([DESKTOP_SETTINGS_FILE])
  })

  it('creates the userData folder on first write', () => {
    const nested = join(dir, 'P2PDS')
    updateDesktopSettings(nested, { closeHintShown: true })
    expect(readDesktopSettings(nested).closeHintShown).toBe(true)
  })

  it('never fails on a damaged file: keeps the fields it can read', () => {
    const file = join(dir, DESKTOP_SETTINGS_FILE)
    writeFileSync(file, '{ not json')
    expect(readDesktopSettings(dir)).toEqual({ closeHintShown: false, launchAtLogin: false })
    writeFileSync(file, JSON.stringify({ closeHintShown: 'yes', launchAtLogin: true, extra: 1 }))
    expect(readDesktopSettings(dir)).toEqual({ closeHintShown: false, launchAtLogin: true })
    writeFileSync(file, 'null')
    expect(readDesktopSettings(dir)).toEqual({ closeHintShown: false, launchAtLogin: false })
  })
})

describe('launch at login', () => {
  it('passes --hidden on Windows, nothing on macOS', () => {
    expect(loginItemSettings(true, 'win32')).toEqual({ openAtLogin: true, args: ['--hidden'] })
    expect(loginItemSettings(false, 'darwin')).toEqual({ openAtLogin: false })
  })

  it('writes and removes an XDG autostart entry on Linux', () => {
    const file = linuxAutostartFile({ XDG_CONFIG_HOME: join(dir, 'config') })
    expect(file).toBe(join(dir, 'config', 'autostart', 'p2pds.desktop'))
    expect(linuxAutostartFile({ XDG_CONFIG_HOME: 'relative' }, '/home/u')).toBe('/home/u/.config/autostart/p2pds.desktop')
    applyLinuxAutostart(true, '/opt/P2PDS/p2pds', file)
    expect(readFileSync(file, 'utf8')).toContain('Exec="/opt/P2PDS/p2pds" --hidden\n')
    applyLinuxAutostart(false, '/opt/P2PDS/p2pds', file)
    expect(existsSync(file)).toBe(false)
    applyLinuxAutostart(false, '/opt/P2PDS/p2pds', file) // already gone: fine
  })

  it('quotes the executable as the Desktop Entry spec asks', () => {
    expect(linuxAutostartEntry('/home/u/Apps/P2PDS "new" $1.AppImage')).toContain('Exec="/home/u/Apps/P2PDS \\"new\\" \\$1.AppImage" --hidden')
  })
})

describe('applyLaunchAtLogin (app.setLoginItemSettings stand-in)', () => {
  it('registers the login item of a packaged app: Electron on macOS and Windows, autostart file on Linux', () => {
    const calls: unknown[] = []
    const setLoginItemSettings = (s: unknown) => calls.push(s)
    expect(applyLaunchAtLogin(true, { platform: 'win32', isPackaged: true, executable: 'C:\\P2PDS.exe', setLoginItemSettings })).toBe(true)
    expect(applyLaunchAtLogin(false, { platform: 'darwin', isPackaged: true, executable: '/Applications/P2PDS.app', setLoginItemSettings })).toBe(true)
    expect(calls).toEqual([{ openAtLogin: true, args: ['--hidden'] }, { openAtLogin: false }])
    const autostartFile = join(dir, 'autostart', 'p2pds.desktop')
    applyLaunchAtLogin(true, { platform: 'linux', isPackaged: true, executable: '/home/u/P2PDS.AppImage', setLoginItemSettings, autostartFile })
    expect(readFileSync(autostartFile, 'utf8')).toContain('Exec="/home/u/P2PDS.AppImage" --hidden')
    expect(calls).toHaveLength(2)
  })

  it('does nothing from a checkout (it would register the bare Electron binary)', () => {
    const calls: unknown[] = []
    const autostartFile = join(dir, 'autostart', 'p2pds.desktop')
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      expect(applyLaunchAtLogin(true, { platform, isPackaged: false, executable: '/x/electron', setLoginItemSettings: (s) => calls.push(s), autostartFile })).toBe(false)
    }
    expect(calls).toEqual([])
    expect(existsSync(autostartFile)).toBe(false)
  })
})

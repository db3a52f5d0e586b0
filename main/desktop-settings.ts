/**
 * The desktop app's own settings, apart from the node's configuration: a small JSON file in
 * Electron's userData folder (`desktop-settings.json`). It holds what only the desktop host needs:
 * whether the "still running in the tray" hint was shown, and whether P2PDS opens at login.
 *
 * Also the login item itself: `app.setLoginItemSettings` on macOS and Windows, an XDG autostart
 * entry on Linux (Electron has no login items there).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { HIDDEN_FLAG } from './close-rules.js'

export interface DesktopSettings {
  /** The "P2PDS is still running" hint was shown once. @default false */
  closeHintShown: boolean
  /** Open P2PDS (hidden, in the tray) when the user logs in. @default false */
  launchAtLogin: boolean
}

export const DEFAULT_DESKTOP_SETTINGS: Readonly<DesktopSettings> = { closeHintShown: false, launchAtLogin: false }

export const DESKTOP_SETTINGS_FILE = 'desktop-settings.json'

/**
 * Reads the settings. A missing, unreadable or malformed file, or a field of the wrong type,
 * gives the default for what is missing: this file must never stop the app from starting.
 */
export function readDesktopSettings(userDataDir: string): DesktopSettings {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(join(userDataDir, DESKTOP_SETTINGS_FILE), 'utf8'))
  } catch {
    return { ...DEFAULT_DESKTOP_SETTINGS }
  }
  const out = { ...DEFAULT_DESKTOP_SETTINGS }
  if (typeof raw !== 'object' || raw === null) return out
  for (const key of Object.keys(DEFAULT_DESKTOP_SETTINGS) as Array<keyof DesktopSettings>) {
    const value = (raw as Record<string, unknown>)[key]
    if (typeof value === typeof DEFAULT_DESKTOP_SETTINGS[key]) out[key] = value as never
  }
  return out
}

/** Changes some settings and writes the file atomically (write, then rename). Returns the result. */
export function updateDesktopSettings(userDataDir: string, change: Partial<DesktopSettings>): DesktopSettings {
  const next = { ...readDesktopSettings(userDataDir), ...change }
  const file = join(userDataDir, DESKTOP_SETTINGS_FILE)
  mkdirSync(userDataDir, { recursive: true })
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, JSON.stringify(next, null, 2) + '\n')
  renameSync(temp, file)
  return next
}

/** The subset of Electron's `app.setLoginItemSettings` argument used here. */
export interface LoginItemSettings {
  openAtLogin: boolean
  args?: string[]
}

/**
 * What to hand `app.setLoginItemSettings` (macOS, Windows). Windows launches with `--hidden` so
 * the app starts in the tray; macOS says itself that it opened at login (`wasOpenedAtLogin`).
 */
export function loginItemSettings(launchAtLogin: boolean, platform: NodeJS.Platform): LoginItemSettings {
  return platform === 'win32' ? { openAtLogin: launchAtLogin, args: [HIDDEN_FLAG] } : { openAtLogin: launchAtLogin }
}

/** Where the Linux autostart entry goes: `$XDG_CONFIG_HOME/autostart/p2pds.desktop`. */
export function linuxAutostartFile(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const config = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config')
  return join(config, 'autostart', 'p2pds.desktop')
}

/**
 * The autostart entry (freedesktop Desktop Entry spec). The AppImage must be started through its
 * own file (`$APPIMAGE`), not the binary inside its temporary mount.
 */
export function linuxAutostartEntry(executable: string): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=P2PDS',
    'Comment=Keeps your AT Protocol backups current',
    `Exec=${quoteExecArg(executable)} ${HIDDEN_FLAG}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n')
}

/** Quotes one Exec argument: inside double quotes, `"`, `` ` ``, `$` and `\` are backslash-escaped. */
function quoteExecArg(arg: string): string {
  return `"${arg.replace(/(["`$\\])/g, '\\$1')}"`
}

/** Writes or removes the Linux autostart entry. */
export function applyLinuxAutostart(launchAtLogin: boolean, executable: string, file: string = linuxAutostartFile()): void {
  if (!launchAtLogin) {
    rmSync(file, { force: true })
    return
  }
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, linuxAutostartEntry(executable))
}

/** What `applyLaunchAtLogin` needs from Electron's `app` and the process. */
export interface LoginItemHost {
  platform: NodeJS.Platform
  /** `app.isPackaged`: a checkout would register the bare Electron binary, so nothing is done there. */
  isPackaged: boolean
  /** What Linux autostart runs: `$APPIMAGE` for an AppImage, else `process.execPath`. */
  executable: string
  /** `app.setLoginItemSettings` (macOS, Windows). */
  setLoginItemSettings(settings: LoginItemSettings): void
  /** @default linuxAutostartFile() */
  autostartFile?: string
}

/** Makes the system's login items match the setting. Returns false when skipped (not packaged). */
export function applyLaunchAtLogin(launchAtLogin: boolean, host: LoginItemHost): boolean {
  if (!host.isPackaged) return false
  if (host.platform === 'linux') applyLinuxAutostart(launchAtLogin, host.executable, host.autostartFile ?? linuxAutostartFile())
  else host.setLoginItemSettings(loginItemSettings(launchAtLogin, host.platform))
  return true
}

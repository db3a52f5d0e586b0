/**
 * The host's half of the Settings page: launch at login (stored in desktop-settings.json and
 * applied to the system's login items) and opening the data folder. Plain functions over what
 * they are handed, so they run under Node in tests; main/index.ts binds them to Electron.
 *
 * Launch at login is offered only in the installed app: a checkout would register the bare
 * Electron binary (see `applyLaunchAtLogin`).
 */
import type { HostSettingsDto } from '../core/api.js'
import { HostActionError, NotSupportedError } from '../core/errors.js'
import { applyLaunchAtLogin, readDesktopSettings, updateDesktopSettings, type LoginItemHost } from './desktop-settings.js'

/** Why launch at login is unavailable when running from a source checkout. */
export const UNPACKAGED_REASON = 'P2PDS runs from a source checkout here; opening at login works in the installed app.'

/** What the Settings page is told about the host. */
export function hostSettingsDto(input: { isPackaged: boolean; launchAtLogin: boolean }): HostSettingsDto {
  return {
    launchAtLogin: { supported: input.isPackaged, enabled: input.launchAtLogin, reason: input.isPackaged ? null : UNPACKAGED_REASON },
    canOpenDataFolder: true,
  }
}

/** What changing launch at login needs. */
export interface LaunchAtLoginDeps {
  /** Electron's userData folder (where desktop-settings.json lives). */
  userDataDir: string
  loginItems: LoginItemHost
}

/** The host's settings as stored now. */
export function readHostSettings(deps: LaunchAtLoginDeps): HostSettingsDto {
  return hostSettingsDto({ isPackaged: deps.loginItems.isPackaged, launchAtLogin: readDesktopSettings(deps.userDataDir).launchAtLogin })
}

/**
 * Turns launch at login on or off: the system's login item first, then the saved setting, so a
 * failure leaves both as they were. Refused with `NotSupportedError` outside the installed app.
 */
export function setLaunchAtLogin(enabled: boolean, deps: LaunchAtLoginDeps): HostSettingsDto {
  if (!deps.loginItems.isPackaged) throw new NotSupportedError(UNPACKAGED_REASON)
  try {
    applyLaunchAtLogin(enabled, deps.loginItems)
  } catch (err) {
    throw new HostActionError(`Could not ${enabled ? 'add P2PDS to' : 'remove P2PDS from'} the programs that open at login: ${err instanceof Error ? err.message : String(err)}.`, { cause: err })
  }
  const saved = updateDesktopSettings(deps.userDataDir, { launchAtLogin: enabled })
  return hostSettingsDto({ isPackaged: true, launchAtLogin: saved.launchAtLogin })
}

/**
 * Opens a folder in the file manager. `openPath` is Electron's `shell.openPath`, which resolves to
 * an error message ('' when it worked) rather than rejecting.
 */
export async function openFolder(path: string, openPath: (path: string) => Promise<string>): Promise<void> {
  const error = await openPath(path)
  if (error !== '') throw new HostActionError(`Could not open ${path} in the file manager: ${error}.`)
}

import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * The folder the desktop app and the CLI use when neither `DATA_DIR` nor `--data-dir` is given.
 * `$XDG_DATA_HOME/p2pds` (else `~/.local/share/p2pds`) on Linux, `~/Library/Application
 * Support/P2PDS` on macOS, `%APPDATA%\P2PDS` on Windows.
 */
export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): string {
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'P2PDS')
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'P2PDS')
  const xdg = env.XDG_DATA_HOME
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'p2pds')
  return join(home, '.local', 'share', 'p2pds')
}

/** The user's config folder, where the headless data key file lives (outside the data dir). */
export function defaultConfigDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): string {
  if (platform === 'darwin') return join(home, 'Library', 'Preferences', 'P2PDS')
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'P2PDS', 'config')
  const xdg = env.XDG_CONFIG_HOME
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'p2pds')
  return join(home, '.config', 'p2pds')
}

/** Names of the files a node keeps in its data dir. */
export const DATA_DIR_FILES = {
  database: 'pds.db',
  lock: 'node.lock',
  apiInfo: 'api.json',
  env: '.env',
} as const

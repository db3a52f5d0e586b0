/**
 * A read-mostly window into the main process for the Electron e2e journey (e2e/electron.test.ts),
 * installed only when `P2PDS_E2E=1`. The test reaches it with Playwright's
 * `electronApp.evaluate(() => globalThis.__p2pdsE2E…)`, which runs in the main process; the
 * renderer (sandboxed, context-isolated) can never see main's globals.
 */
import { isAbsolute } from 'node:path'
import type { Notice } from './notifications.js'
import type { TrayState } from './tray-state.js'

/** The global the hook is installed on. */
export const E2E_HOOK_GLOBAL = '__p2pdsE2E'

export interface E2eHook {
  /** What the tray shows now, or null when there is no tray. */
  trayState(): TrayState | null
  /** Clicks an application menu item by id (`export-car:<did>`) as a user would; false when absent. */
  clickMenuItem(id: string): boolean
  /** Every notification the throttle let through, oldest first. */
  notices(): Notice[]
}

export function e2eEnabled(env: NodeJS.ProcessEnv): boolean {
  return env.P2PDS_E2E === '1'
}

/**
 * The userData folder an e2e run asks for (`P2PDS_E2E_USER_DATA`, absolute), so a journey never
 * touches the user's own settings or single-instance lock. Undefined outside e2e runs.
 */
export function e2eUserDataDir(env: NodeJS.ProcessEnv): string | undefined {
  const dir = env.P2PDS_E2E_USER_DATA
  return e2eEnabled(env) && dir !== undefined && isAbsolute(dir) ? dir : undefined
}

/** Installs the hook on `target` when the environment asks for it. Returns whether it did. */
export function installE2eHook(env: NodeJS.ProcessEnv, hook: E2eHook, target: object = globalThis): boolean {
  if (!e2eEnabled(env)) return false
  Object.defineProperty(target, E2E_HOOK_GLOBAL, { value: Object.freeze({ ...hook }), enumerable: false, writable: false, configurable: true })
  return true
}

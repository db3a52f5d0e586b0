/**
 * What closing the window does, as pure decisions main/index.ts applies:
 * - while quitting: the window closes and the app exits (the node is stopped first by `before-quit`);
 * - macOS: the window hides (the app convention: Cmd+W hides, the Dock icon brings it back);
 * - elsewhere with a tray icon: the window closes (its renderer exits, so nothing renders while
 *   it is gone) and the node keeps running in the tray;
 * - elsewhere without a tray (no status area on this desktop): closing the window quits, or the
 *   app would be left running with no way to reach it.
 * The first time closing leaves P2PDS running, a hint says so, once per user (see desktop-settings).
 */

export interface CloseContext {
  platform: NodeJS.Platform
  /** Quit was asked for (menu, tray, Cmd+Q, SIGTERM): nothing is kept. */
  quitting: boolean
  /** Whether the tray icon exists. */
  hasTray: boolean
  /** Whether the "still running" hint was ever shown to this user. */
  hintShown: boolean
}

export interface CloseDecision {
  /** `hide`: prevent the close and hide the window; `close`: let it close. */
  window: 'hide' | 'close'
  /** Whether the app (and its node) keeps running once no window is left. */
  keepRunning: boolean
  /** Whether to show the one-time "P2PDS is still running" hint now. */
  showHint: boolean
}

export function decideWindowClose(ctx: CloseContext): CloseDecision {
  if (ctx.quitting) return { window: 'close', keepRunning: false, showHint: false }
  if (ctx.platform === 'darwin') return { window: 'hide', keepRunning: true, showHint: !ctx.hintShown }
  if (ctx.hasTray) return { window: 'close', keepRunning: true, showHint: !ctx.hintShown }
  return { window: 'close', keepRunning: false, showHint: false }
}

/**
 * What to do when the last window has closed (`window-all-closed`): quit, unless the app keeps
 * running (macOS, or a tray to come back from).
 */
export function quitWhenAllWindowsClosed(ctx: Omit<CloseContext, 'hintShown'>): boolean {
  return !decideWindowClose({ ...ctx, hintShown: true }).keepRunning
}

/**
 * Whether a launch should leave the window hidden: started at login (`--hidden`, which
 * `loginItemSettings` passes; macOS reports it itself) and there is a tray or Dock icon to open it
 * from.
 */
export function startHidden(init: { argv: readonly string[]; platform: NodeJS.Platform; openedAtLogin: boolean; hasTray: boolean }): boolean {
  const atLogin = init.openedAtLogin || init.argv.includes(HIDDEN_FLAG)
  return atLogin && (init.hasTray || init.platform === 'darwin')
}

/** The flag the login item launches P2PDS with (Windows and Linux). */
export const HIDDEN_FLAG = '--hidden'

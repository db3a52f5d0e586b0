/**
 * The tray icon and its menu, as one class (like Signal-Desktop's SystemTrayService). It draws a
 * `TrayState` (main/tray-state.ts) and redraws only when that state changes; what the menu items
 * do is passed in. Only types come from 'electron': main/index.ts hands in `new Tray(...)` and
 * `Menu.buildFromTemplate`, tests hand in stand-ins.
 */
import { join } from 'node:path'
import type { Menu, MenuItemConstructorOptions, Tray } from 'electron'
import type { AccountDto, P2pdsApi } from '../core/api.js'
import { sameTrayState, type TrayIcon, type TrayState } from './tray-state.js'

/** What the tray menu's items do. */
export interface TrayActions {
  /** Shows (or re-creates) the window and focuses it. */
  open(): void
  /** Starts a sync of every account; must return at once (see `syncAllAccounts`). */
  syncAll(): void
  /** Pauses periodic syncing of every account (`sync.pause({})`); must return at once. */
  pauseAll(): void
  /** Lifts the node-wide pause (`sync.resume({})`); must return at once. */
  resumeAll(): void
  /** Quits: the node stops cleanly first (main/index.ts `before-quit`). */
  quit(): void
}

/** The parts of an Electron `Tray` the class uses. */
export type TrayHandle = Pick<Tray, 'setImage' | 'setToolTip' | 'setContextMenu' | 'on' | 'destroy' | 'isDestroyed'>

export interface SystemTrayInit {
  /** Folder of the tray PNGs (see `trayIconDir`). */
  iconDir: string
  /** @default process.platform */
  platform?: NodeJS.Platform
  /** Makes the tray with its first icon: `(path) => new Tray(path)`. */
  createTray(iconPath: string): TrayHandle
  /** `Menu.buildFromTemplate`. */
  buildMenu(template: MenuItemConstructorOptions[]): Menu
  actions: TrayActions
}

/**
 * Where the tray PNGs are: `process.resourcesPath/tray` in a packaged app (electron-builder's
 * extraResources), `<app>/assets/build/tray` when run from a checkout (`npm run build` makes them).
 */
export function trayIconDir(init: { isPackaged: boolean; resourcesPath: string; appPath: string }): string {
  return init.isPackaged ? join(init.resourcesPath, 'tray') : join(init.appPath, 'assets', 'build', 'tray')
}

/**
 * The file of a tray icon. macOS gets the template images (black + alpha, named `…Template` so
 * Electron lets the menu bar tint them for light and dark mode); elsewhere the colour ones.
 * Electron picks the `@2x` file beside it on HiDPI screens.
 */
export function trayIconFile(icon: TrayIcon, platform: NodeJS.Platform): string {
  if (platform === 'darwin') return `tray${icon[0]!.toUpperCase()}${icon.slice(1)}Template.png`
  return `tray-${icon}.png`
}

/** The tray menu: open, a disabled status line, sync all now, pause or resume syncing, quit. */
export function trayMenuTemplate(state: TrayState, actions: TrayActions): MenuItemConstructorOptions[] {
  return [
    { id: 'open', label: 'Open P2PDS', click: () => actions.open() },
    { type: 'separator' },
    { id: 'status', label: state.statusLine, enabled: false },
    { id: 'sync-all', label: 'Sync all now', enabled: state.canSync, click: () => actions.syncAll() },
    state.paused
      ? { id: 'sync-resume', label: 'Resume syncing', enabled: state.canSync, click: () => actions.resumeAll() }
      : { id: 'sync-pause', label: 'Pause syncing', enabled: state.canSync, click: () => actions.pauseAll() },
    { type: 'separator' },
    { id: 'quit', label: 'Quit P2PDS', click: () => actions.quit() },
  ]
}

export class SystemTray {
  readonly #init: SystemTrayInit
  readonly #platform: NodeJS.Platform
  readonly #tray: TrayHandle
  #state: TrayState

  constructor(init: SystemTrayInit, initial: TrayState) {
    this.#init = init
    this.#platform = init.platform ?? process.platform
    this.#state = initial
    this.#tray = init.createTray(this.#iconPath(initial.icon))
    // Windows opens the window on a left click, as its tray apps do; macOS and Linux show the menu.
    if (this.#platform === 'win32') this.#tray.on('click', () => init.actions.open())
    this.#draw(initial, undefined)
  }

  /** What the tray shows now (read by the e2e test hook). */
  get state(): TrayState {
    return this.#state
  }

  /** Shows a new state; does nothing when it draws the same as the current one. Returns whether it redrew. */
  update(state: TrayState): boolean {
    if (this.#tray.isDestroyed() || sameTrayState(this.#state, state)) return false
    const previous = this.#state
    this.#state = state
    this.#draw(state, previous)
    return true
  }

  destroy(): void {
    if (!this.#tray.isDestroyed()) this.#tray.destroy()
  }

  #draw(state: TrayState, previous: TrayState | undefined): void {
    if (previous !== undefined && previous.icon !== state.icon) this.#tray.setImage(this.#iconPath(state.icon))
    if (previous?.tooltip !== state.tooltip) this.#tray.setToolTip(state.tooltip)
    if (previous?.statusLine !== state.statusLine || previous?.canSync !== state.canSync || previous?.paused !== state.paused) {
      this.#tray.setContextMenu(this.#init.buildMenu(trayMenuTemplate(state, this.#init.actions)))
    }
  }

  #iconPath(icon: TrayIcon): string {
    return join(this.#init.iconDir, trayIconFile(icon, this.#platform))
  }
}

/**
 * "Sync all now": lists the accounts, then starts one sync per account, all at once (the node
 * shares a sync already running for an account). Never rejects; each failure goes to `onError`
 * with its account (none when listing failed). The tray calls it without awaiting: the menu
 * returns at once and progress arrives as node events.
 */
export async function syncAllAccounts(api: Pick<P2pdsApi, 'accounts'>, onError: (err: unknown, account?: AccountDto) => void): Promise<void> {
  let accounts: AccountDto[]
  try {
    accounts = await api.accounts.list()
  } catch (err) {
    onError(err)
    return
  }
  await Promise.all(
    // A paused account is skipped, not reported: the user paused it.
    accounts.filter((account) => account.paused !== true).map((account) =>
      api.accounts.sync({ did: account.did }).then(
        () => undefined,
        (err: unknown) => onError(err, account),
      ),
    ),
  )
}

/**
 * The application menu as a pure template builder: macOS conventions (the app menu with About,
 * Services, Hide and Quit on Cmd+Q; Close on Cmd+W), File with the exports and the data folder,
 * and the standard Edit, View, Window and Help menus. What the items do is passed in; main/index.ts
 * builds the menu with `Menu.buildFromTemplate` and rebuilds it when the accounts change.
 */
import type { MenuItemConstructorOptions } from 'electron'
import type { AccountDto, ExportResultDto } from '../core/api.js'
import { exportFailedNotice, exportFinishedNotice, type Notice } from './notifications.js'
import { isSafeExternalUrl } from './window.js'

/** Help → Learn more (package.json `homepage`). */
export const LEARN_MORE_URL = 'https://p2pds.org'

/** Most accounts listed in an export submenu; the rest are exported from their page in the window. */
export const MENU_ACCOUNTS_MAX = 30

/** What an account in the menu needs. */
export type MenuAccount = Pick<AccountDto, 'did' | 'handle'>

/** What the menu items do. */
export interface AppMenuActions {
  /** Export one account's repository as a CAR (save dialog, then the node writes it). */
  exportCar(did: string): void
  /** Export one account's blobs to a folder. */
  exportBlobs(did: string): void
  /** Open the node's data folder in the file manager. */
  openDataFolder(): void
  /** Open an https URL in the system browser; only ever called with URLs `isSafeExternalUrl` accepts. */
  openExternal(url: string): void
}

export interface AppMenuInit {
  platform: NodeJS.Platform
  /** @default 'P2PDS' */
  appName?: string
  /** Accounts held, as `accounts.list` returns them. */
  accounts: readonly MenuAccount[]
  /** Offer View → Toggle Developer Tools (a checkout, not a packaged app). @default false */
  devTools?: boolean
  actions: AppMenuActions
}

/** Calls `open` with the URL only when it is a checked https URL. */
export function openCheckedUrl(url: string, open: (url: string) => void): boolean {
  if (!isSafeExternalUrl(url)) return false
  open(url)
  return true
}

/** Changes whenever the export submenus would: accounts added, removed or renamed. */
export function menuAccountsKey(accounts: readonly MenuAccount[]): string {
  return accounts.map((a) => `${a.did} ${a.handle ?? ''}`).join('\n')
}

export function appMenuTemplate(init: AppMenuInit): MenuItemConstructorOptions[] {
  const mac = init.platform === 'darwin'
  const name = init.appName ?? 'P2PDS'
  const { actions } = init
  const sep: MenuItemConstructorOptions = { type: 'separator' }

  const appMenu: MenuItemConstructorOptions = {
    label: name,
    submenu: [
      { role: 'about', label: `About ${name}` },
      sep,
      { role: 'services' },
      sep,
      { role: 'hide', label: `Hide ${name}`, accelerator: 'Command+H' },
      { role: 'hideOthers', accelerator: 'Command+Alt+H' },
      { role: 'unhide' },
      sep,
      { role: 'quit', label: `Quit ${name}`, accelerator: 'Command+Q' },
    ],
  }

  const fileMenu: MenuItemConstructorOptions = {
    label: mac ? 'File' : '&File',
    submenu: [
      { id: 'export-car', label: 'Export CAR…', submenu: accountItems(init.accounts, 'export-car', actions.exportCar) },
      { id: 'export-blobs', label: 'Export blobs…', submenu: accountItems(init.accounts, 'export-blobs', actions.exportBlobs) },
      sep,
      { id: 'open-data-folder', label: 'Open data folder', click: () => actions.openDataFolder() },
      sep,
      // macOS: Cmd+W closes (hides) the window; quitting is in the app menu. Elsewhere File ends with quit.
      mac
        ? { role: 'close', accelerator: 'Command+W' }
        : init.platform === 'win32'
          ? { role: 'quit', label: 'E&xit', accelerator: 'Alt+F4' }
          : { role: 'quit', label: '&Quit', accelerator: 'Ctrl+Q' },
    ],
  }

  const viewMenu: MenuItemConstructorOptions = {
    label: mac ? 'View' : '&View',
    submenu: [
      { role: 'reload' },
      { role: 'forceReload' },
      ...(init.devTools ? [{ role: 'toggleDevTools' } as const] : []),
      sep,
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      sep,
      { role: 'togglefullscreen' },
    ],
  }

  const helpMenu: MenuItemConstructorOptions = {
    role: 'help',
    label: mac ? 'Help' : '&Help',
    submenu: [
      { id: 'learn-more', label: 'Learn more', click: () => openCheckedUrl(LEARN_MORE_URL, actions.openExternal) },
      // macOS has About in the app menu.
      ...(mac ? [] : [sep, { role: 'about', label: `About ${name}` } as const]),
    ],
  }

  return [
    ...(mac ? [appMenu] : []),
    fileMenu,
    { role: 'editMenu' },
    viewMenu,
    { role: 'windowMenu' },
    helpMenu,
  ]
}

function accountItems(accounts: readonly MenuAccount[], idPrefix: string, run: (did: string) => void): MenuItemConstructorOptions[] {
  if (accounts.length === 0) return [{ id: `${idPrefix}-none`, label: 'No accounts yet', enabled: false }]
  const shown = accounts.slice(0, MENU_ACCOUNTS_MAX).map(
    (a): MenuItemConstructorOptions => ({
      id: `${idPrefix}:${a.did}`,
      // Handles and DIDs never contain '&', so no label turns into a mnemonic.
      label: a.handle ?? a.did,
      click: () => run(a.did),
    }),
  )
  const rest = accounts.length - shown.length
  if (rest > 0) shown.push({ type: 'separator' }, { id: `${idPrefix}-more`, label: `${rest} more: export from the account’s page`, enabled: false })
  return shown
}

export interface MenuExportInit {
  /** The host's save flow (main/index.ts `hostHandlers`): dialog, then the node writes; null when cancelled. */
  save(input: { did: string }): Promise<ExportResultDto | null>
  notify(notice: Notice): void
  /** Called with true while the export runs and false after (a progress bar on the window or Dock). */
  onBusy?(busy: boolean): void
}

/**
 * An export started from the menu: runs the save flow and says how it went in a notification.
 * Never rejects; resolves with the result (null when cancelled or failed).
 */
export async function exportFromMenu(what: 'car' | 'blobs', account: MenuAccount, init: MenuExportInit): Promise<ExportResultDto | null> {
  try {
    init.onBusy?.(true)
    const result = await init.save({ did: account.did })
    if (result !== null) init.notify(exportFinishedNotice(what, account.did, result, account))
    return result
  } catch (err) {
    init.notify(exportFailedNotice(what, account.did, err, account))
    return null
  } finally {
    init.onBusy?.(false)
  }
}

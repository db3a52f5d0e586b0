/**
 * Electron host: one instance, one node, one window, a tray icon and the application menu. Every
 * behaviour lives in core, and every decision here in a plain module beside this file (tray-state,
 * tray, menu, close-rules, notifications, desktop-settings); this file only wires them to Electron:
 * it creates the node, binds it to IPC, forwards its events to the window, the tray and
 * notifications, and stops the node on quit. Compiled by tsc to dist/main/index.js.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { app, BrowserWindow, dialog, ipcMain, Menu, Notification, safeStorage, shell, Tray } from 'electron'
import { IPC_EVENT_CHANNEL, type AccountDto, type ApiEventName, type P2pdsEvents } from '../core/api.js'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'
import { createSafeStorageKeyStore } from './data-key-store.js'
import { BUILD_DIRS, PACKAGE_ROOT } from '../core/package-info.js'
import { createEventForwarder } from './event-forwarder.js'
import { registerHostIpc, registerIpc, rendererSenderCheck, type HostHandlers } from './ipc.js'
import { exportFileName } from '../core/export-names.js'
import { toErrorDto } from '../core/errors.js'
import { decideWindowClose, quitWhenAllWindowsClosed, startHidden } from './close-rules.js'
import { coalescedTask } from './coalesced-task.js'
import { applyLaunchAtLogin, DEFAULT_DESKTOP_SETTINGS, readDesktopSettings, updateDesktopSettings, type DesktopSettings } from './desktop-settings.js'
import { e2eEnabled, e2eUserDataDir, installE2eHook } from './e2e-hook.js'
import { appMenuTemplate, exportFromMenu, menuAccountsKey } from './menu.js'
import { challengeFailedNotice, closeHintNotice, createNotifier, storageWarningNotice, syncAllFailedNotice, syncFailedNotice, type Notice } from './notifications.js'
import { openFolder, readHostSettings, setLaunchAtLogin, type LaunchAtLoginDeps } from './host-settings.js'
import { describeStartFailure, findElectronSqliteBinding } from './startup.js'
import { SystemTray, syncAllAccounts, trayIconDir } from './tray.js'
import { applyTrayEvent, emptyTrayInputs, forgetRemovedAccounts, trayInputsFromAccounts, trayState } from './tray-state.js'
import { hardenWebContents, windowOptions } from './window.js'

const PRELOAD_FILE = join(PACKAGE_ROOT, 'dist', 'preload', 'index.cjs')
const RENDERER_FILE = join(BUILD_DIRS.renderer, 'index.html')
const RENDERER_URL = pathToFileURL(RENDERER_FILE).href
/** Longest wait for the node to stop on quit before exiting anyway. */
const STOP_TIMEOUT_MS = 15_000

let win: BrowserWindow | null = null
let node: P2pdsNode | undefined
let unregisterIpc: (() => void) | undefined
let phase: 'running' | 'stopping' | 'stopped' = 'running'
/** Quit was asked for: windows close for good instead of hiding (close-rules.ts). */
let quitting = false
let tray: SystemTray | undefined
let trayInputs = emptyTrayInputs()
/** The latest `accounts.list`, for the File menu and for naming accounts in notifications. */
let accounts: AccountDto[] = []
let menuKey: string | undefined
let settings: DesktopSettings = { ...DEFAULT_DESKTOP_SETTINGS }
/** What the e2e hook reports (kept only when P2PDS_E2E=1). */
const shownNotices: Notice[] = []
/** Notifications are kept referenced until closed, or a garbage-collected one loses its click. */
const liveNotifications = new Set<Notification>()
const notifier = createNotifier({ show: showNotification })

const forwarder = createEventForwarder({
  send: (name, data) => {
    if (win === null || win.isDestroyed() || win.webContents.isDestroyed()) return
    win.webContents.send(IPC_EVENT_CHANNEL, { name, data })
  },
  isVisible: () => win !== null && !win.isDestroyed() && win.isVisible() && !win.isMinimized(),
})

// Before the single-instance lock, which lives in userData.
const e2eUserData = e2eUserDataDir(process.env)
if (e2eUserData !== undefined) app.setPath('userData', e2eUserData)

if (!app.requestSingleInstanceLock()) {
  // Another P2PDS window is open: it is focused by its 'second-instance' handler.
  app.quit()
} else {
  app.enableSandbox()
  app.on('second-instance', () => showWindow())
  app.on('activate', () => showWindow())
  app.on('window-all-closed', () => {
    if (quitWhenAllWindowsClosed({ platform: process.platform, quitting, hasTray: tray !== undefined })) app.quit()
  })
  app.on('before-quit', (event) => {
    quitting = true
    if (phase === 'stopped') return
    // Hold the quit until the node has stopped (database closed, lock and api.json removed).
    event.preventDefault()
    void shutdown(0)
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => app.quit())
  app.whenReady().then(start, (err: unknown) => fail(err))
}

async function start(): Promise<void> {
  try {
    const electronVersion = process.versions.electron
    const config = loadConfig({ env: process.env })
    node = await createNode({
      config,
      host: 'desktop',
      electronVersion,
      sqliteBinding: findElectronSqliteBinding(PACKAGE_ROOT, electronVersion),
      // Secrets at rest: the data key lives in the OS keychain when it has one.
      dataKeyStore: createSafeStorageKeyStore(safeStorage, app.getPath('userData')),
    })
    node.onAny((name, data) => {
      forwarder.push(name, data)
      onNodeEvent(name, data)
    })
    const senderCheck = rendererSenderCheck(RENDERER_URL)
    const unregisterApi = registerIpc(ipcMain, node.api, senderCheck)
    const unregisterHost = registerHostIpc(ipcMain, hostHandlers(node), senderCheck)
    unregisterIpc = () => {
      unregisterApi()
      unregisterHost()
    }
    await node.start()
    settings = readDesktopSettings(app.getPath('userData'))
    applyLaunchAtLogin(settings.launchAtLogin, {
      platform: process.platform,
      isPackaged: app.isPackaged,
      executable: process.env.APPIMAGE ?? process.execPath,
      setLoginItemSettings: (s) => app.setLoginItemSettings(s),
    })
    trayInputs = trayInputsFromAccounts(await node.api.node.status(), await node.api.accounts.list())
  } catch (err) {
    await fail(err)
    return
  }
  const n = node
  createTray(n)
  await refreshAccounts()
  installE2eHook(process.env, {
    trayState: () => tray?.state ?? null,
    clickMenuItem: (id) => {
      const item = Menu.getApplicationMenu()?.getMenuItemById(id)
      if (!item) return false
      item.click()
      return true
    },
    notices: () => [...shownNotices],
  })
  const openedAtLogin = process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin
  if (!startHidden({ argv: process.argv, platform: process.platform, openedAtLogin, hasTray: tray !== undefined })) createWindow()
}

/** Keeps the tray, notifications and the File menu up to date with the node. */
function onNodeEvent<E extends ApiEventName>(name: E, data: P2pdsEvents[E]): void {
  // The tray follows the node to the end ("Stopping…"); the rest stops with the app.
  trayInputs = applyTrayEvent(trayInputs, name, data)
  tray?.update(trayState(trayInputs))
  if (phase !== 'running') return
  if (name === 'sync:failed') {
    const { did, error } = data as P2pdsEvents['sync:failed']
    notifier.notify(syncFailedNotice(did, error, accountOf(did)))
  }
  if (name === 'accounts:changed') void refreshAccounts()
  if (name === 'storage:warning') notifier.notify(storageWarningNotice(data as P2pdsEvents['storage:warning']))
  if (name === 'challenge:completed') {
    const result = data as P2pdsEvents['challenge:completed']
    notifier.notify(challengeFailedNotice(result, accountOf(result.did)))
  }
}

const accountOf = (did: string): AccountDto | undefined => accounts.find((a) => a.did === did)

/** Re-lists the accounts (coalesced: accounts:changed fires at every sync start and end). */
const refreshAccounts = coalescedTask(
  async () => {
    if (node === undefined || phase !== 'running') return
    accounts = await node.api.accounts.list()
    trayInputs = forgetRemovedAccounts(trayInputs, accounts.map((a) => a.did))
    tray?.update(trayState(trayInputs))
    const key = menuAccountsKey(accounts)
    if (key !== menuKey) {
      menuKey = key
      Menu.setApplicationMenu(Menu.buildFromTemplate(appMenuTemplate({ platform: process.platform, accounts, devTools: !app.isPackaged, actions: menuActions(node) })))
    }
  },
  (err) => console.error('p2pds: could not list the accounts:', err),
)

function menuActions(n: P2pdsNode) {
  const host = hostHandlers(n)
  const onBusy = (busy: boolean) => {
    if (win !== null && !win.isDestroyed()) win.setProgressBar(busy ? 2 : -1) // 2: indeterminate
  }
  const exportAccount = (what: 'car' | 'blobs', did: string) =>
    void exportFromMenu(what, accountOf(did) ?? { did, handle: null }, { save: what === 'car' ? host.saveCar : host.saveBlobs, notify: (x) => notifier.notify(x), onBusy })
  return {
    exportCar: (did: string) => exportAccount('car', did),
    exportBlobs: (did: string) => exportAccount('blobs', did),
    openDataFolder: () => {
      shell.openPath(n.config.dataDir).then((error) => error !== '' && console.error('p2pds: could not open the data folder:', error), () => undefined)
    },
    openExternal: (url: string) => {
      shell.openExternal(url).catch((err: unknown) => console.error('p2pds: could not open', url, err))
    },
  }
}

function createTray(n: P2pdsNode): void {
  try {
    tray = new SystemTray(
      {
        iconDir: trayIconDir({ isPackaged: app.isPackaged, resourcesPath: process.resourcesPath, appPath: app.getAppPath() }),
        createTray: (path) => new Tray(path),
        buildMenu: (template) => Menu.buildFromTemplate(template),
        actions: {
          open: showWindow,
          // Not awaited: the menu returns at once; progress and failures arrive as node events.
          syncAll: () => void syncAllAccounts(n.api, (err, account) => notifier.notify(account ? syncFailedNotice(account.did, toErrorDto(err), account) : syncAllFailedNotice(err))),
          // The menu redraws from the sync:state event that follows.
          pauseAll: () => void n.api.sync.pause({}).catch((err: unknown) => console.error('p2pds: could not pause syncing:', err)),
          resumeAll: () => void n.api.sync.resume({}).catch((err: unknown) => console.error('p2pds: could not resume syncing:', err)),
          quit: () => app.quit(),
        },
      },
      trayState(trayInputs),
    )
  } catch (err) {
    // No tray on this desktop: closing the window then quits (close-rules.ts).
    console.error('p2pds: could not create the tray icon:', err)
  }
}

function showNotification(notice: Notice): void {
  if (e2eEnabled(process.env)) shownNotices.push(notice)
  if (!Notification.isSupported()) return
  const icon = app.isPackaged ? join(process.resourcesPath, 'icon.png') : join(app.getAppPath(), 'assets', 'build', 'icons', '512x512.png')
  const note = new Notification({ title: notice.title, body: notice.body, icon })
  liveNotifications.add(note)
  note.on('click', () => showWindow())
  note.on('close', () => liveNotifications.delete(note))
  note.show()
}

/** Save dialogs for exports; the node writes the files. Null when the user cancels. */
function hostHandlers(n: P2pdsNode): HostHandlers {
  return {
    async saveCar({ did, rev }) {
      const account = (await n.api.accounts.list()).find((a) => a.did === did)
      const options = {
        title: 'Export repository (CAR)',
        defaultPath: join(app.getPath('documents'), exportFileName(account?.handle ?? null, did, rev ?? account?.head?.rev ?? null, 'car')),
        filters: [{ name: 'CAR file', extensions: ['car'] }],
      }
      const r = win === null ? await dialog.showSaveDialog(options) : await dialog.showSaveDialog(win, options)
      if (r.canceled || r.filePath === undefined) return null
      return n.api.export.car({ did, path: r.filePath, ...(rev === undefined ? {} : { rev }) })
    },
    async saveBlobs({ did }) {
      const options = { title: 'Export blobs to a folder', properties: ['openDirectory', 'createDirectory'] as Array<'openDirectory' | 'createDirectory'> }
      const r = win === null ? await dialog.showOpenDialog(options) : await dialog.showOpenDialog(win, options)
      const dir = r.filePaths[0]
      if (r.canceled || dir === undefined) return null
      return n.api.export.blobs({ did, dir })
    },
    settings: async () => readHostSettings(launchAtLoginDeps()),
    setLaunchAtLogin: async ({ enabled }) => {
      const out = setLaunchAtLogin(enabled, launchAtLoginDeps())
      settings = { ...settings, launchAtLogin: out.launchAtLogin.enabled }
      return out
    },
    openDataFolder: () => openFolder(n.config.dataDir, (p) => shell.openPath(p)),
  }
}

function launchAtLoginDeps(): LaunchAtLoginDeps {
  return {
    userDataDir: app.getPath('userData'),
    loginItems: {
      platform: process.platform,
      isPackaged: app.isPackaged,
      executable: process.env.APPIMAGE ?? process.execPath,
      setLoginItemSettings: (s) => app.setLoginItemSettings(s),
    },
  }
}

/** Tells the user why P2PDS cannot run, in one sentence, and quits. */
async function fail(err: unknown): Promise<void> {
  console.error('p2pds: start failed:', err)
  dialog.showErrorBox('P2PDS could not start', describeStartFailure(err))
  await shutdown(1)
}

function createWindow(): void {
  // Electronegativity wants the isolation and sandbox options as a literal at this call and cannot
  // follow windowOptions(), which sets both (main/window.test.ts checks every window uses it).
  const w = new BrowserWindow(windowOptions(PRELOAD_FILE)) // eng-disable CONTEXT_ISOLATION_JS_CHECK SANDBOX_JS_CHECK
  win = w
  hardenWebContents(w.webContents, RENDERER_URL, (url) => shell.openExternal(url))
  w.once('ready-to-show', () => w.show())
  // Events held while hidden or minimised are delivered (newest state only) when it shows again.
  w.on('show', () => forwarder.shown())
  w.on('restore', () => forwarder.shown())
  // A (re)loaded page starts empty: give it the newest of everything seen so far.
  w.webContents.on('did-finish-load', () => forwarder.replay())
  w.webContents.on('render-process-gone', (_event, details) => console.error('p2pds: the window’s renderer exited:', details.reason))
  w.on('close', (event) => {
    const d = decideWindowClose({ platform: process.platform, quitting, hasTray: tray !== undefined, hintShown: settings.closeHintShown })
    if (d.window === 'hide') {
      event.preventDefault()
      w.hide()
    }
    if (d.showHint) {
      notifier.notify(closeHintNotice(process.platform))
      settings = { ...settings, closeHintShown: true }
      try {
        updateDesktopSettings(app.getPath('userData'), { closeHintShown: true })
      } catch (err) {
        console.error('p2pds: could not save the desktop settings:', err)
      }
    }
  })
  w.on('closed', () => {
    if (win === w) win = null
  })
  w.loadFile(RENDERER_FILE).catch((err: unknown) => {
    console.error('p2pds: could not load the UI:', err)
    dialog.showErrorBox('P2PDS could not open its window', 'The user interface has not been built: run `npm run build`, then open P2PDS again.')
    app.quit()
  })
}

function showWindow(): void {
  if (win === null || win.isDestroyed()) {
    if (phase === 'running' && node?.status === 'started') createWindow()
    return
  }
  if (win.isMinimized()) win.restore()
  win.show()
  win.focus()
}

/** Stops forwarding and IPC, then the node, then exits. Runs once. */
async function shutdown(exitCode: number): Promise<void> {
  if (phase !== 'running') return
  phase = 'stopping'
  forwarder.close()
  unregisterIpc?.()
  if (node !== undefined) {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        node.stop(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`still stopping after ${STOP_TIMEOUT_MS} ms`)), STOP_TIMEOUT_MS)
        }),
      ])
    } catch (err) {
      console.error('p2pds: the node did not stop cleanly:', err)
    } finally {
      clearTimeout(timer)
    }
  }
  phase = 'stopped'
  // Windows leaves a dead icon in the notification area until hovered unless it is removed.
  tray?.destroy()
  app.exit(exitCode)
}

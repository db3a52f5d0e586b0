/**
 * Electron host: one instance, one node, one window. Every behaviour lives in core; this file only
 * creates the node, binds it to IPC, forwards its events to the window and stops it on quit.
 * Compiled by tsc to dist/main/index.js (package.json "main").
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { app, BrowserWindow, dialog, ipcMain, shell } from 'electron'
import { IPC_EVENT_CHANNEL } from '../core/api.js'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'
import { BUILD_DIRS, PACKAGE_ROOT } from '../core/package-info.js'
import { createEventForwarder } from './event-forwarder.js'
import { registerHostIpc, registerIpc, rendererSenderCheck, type HostHandlers } from './ipc.js'
import { exportFileName } from '../core/export-names.js'
import { describeStartFailure, findElectronSqliteBinding } from './startup.js'
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

const forwarder = createEventForwarder({
  send: (name, data) => {
    if (win === null || win.isDestroyed() || win.webContents.isDestroyed()) return
    win.webContents.send(IPC_EVENT_CHANNEL, { name, data })
  },
  isVisible: () => win !== null && !win.isDestroyed() && win.isVisible() && !win.isMinimized(),
})

if (!app.requestSingleInstanceLock()) {
  // Another P2PDS window is open: it is focused by its 'second-instance' handler.
  app.quit()
} else {
  app.enableSandbox()
  app.on('second-instance', () => showWindow())
  app.on('activate', () => showWindow())
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })
  app.on('before-quit', (event) => {
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
    })
    node.onAny((name, data) => forwarder.push(name, data))
    const senderCheck = rendererSenderCheck(RENDERER_URL)
    const unregisterApi = registerIpc(ipcMain, node.api, senderCheck)
    const unregisterHost = registerHostIpc(ipcMain, hostHandlers(node), senderCheck)
    unregisterIpc = () => {
      unregisterApi()
      unregisterHost()
    }
    await node.start()
  } catch (err) {
    await fail(err)
    return
  }
  createWindow()
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
  }
}

/** Tells the user why P2PDS cannot run, in one sentence, and quits. */
async function fail(err: unknown): Promise<void> {
  console.error('p2pds: start failed:', err)
  dialog.showErrorBox('P2PDS could not start', describeStartFailure(err))
  await shutdown(1)
}

function createWindow(): void {
  const w = new BrowserWindow(windowOptions(PRELOAD_FILE))
  win = w
  hardenWebContents(w.webContents, RENDERER_URL, (url) => shell.openExternal(url))
  w.once('ready-to-show', () => w.show())
  // Events held while hidden or minimised are delivered (newest state only) when it shows again.
  w.on('show', () => forwarder.shown())
  w.on('restore', () => forwarder.shown())
  // A (re)loaded page starts empty: give it the newest of everything seen so far.
  w.webContents.on('did-finish-load', () => forwarder.replay())
  w.webContents.on('render-process-gone', (_event, details) => console.error('p2pds: the window’s renderer exited:', details.reason))
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
  app.exit(exitCode)
}

/**
 * Electron preload (sandboxed, context-isolated): exposes `window.p2pds`, built from the contract's
 * method list, over IPC. Never exposes `ipcRenderer` or a generic invoke.
 *
 * A sandboxed preload cannot be an ES module and may only `require('electron')`, so
 * `scripts/build-preload.mjs` bundles this file to `dist/preload/index.cjs`.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { hostIpcChannel, IPC_EVENT_CHANNEL, ipcChannel, type ApiResult, type P2pdsHostApi } from '../core/api.js'
import { createBridge, createEventHub, forContextBridge, unwrapResult } from './bridge.js'

const hub = createEventHub()

// One IPC listener for every event; main sends `{ name, data }` on IPC_EVENT_CHANNEL.
ipcRenderer.on(IPC_EVENT_CHANNEL, (_event, payload: unknown) => {
  if (typeof payload !== 'object' || payload === null) return
  const { name, data } = payload as { name?: unknown; data?: unknown }
  hub.dispatch(name, data)
})

// Native dialogs live in main: each host method is one IPC channel answered with an ApiResult.
const host: P2pdsHostApi = {
  kind: 'electron',
  saveCar: async (input) => unwrapResult('host.saveCar', await ipcRenderer.invoke(hostIpcChannel('saveCar'), input)),
  saveBlobs: async (input) => unwrapResult('host.saveBlobs', await ipcRenderer.invoke(hostIpcChannel('saveBlobs'), input)),
}

const bridge = createBridge(
  (method, input) => ipcRenderer.invoke(ipcChannel(method), input) as Promise<ApiResult<unknown>>,
  hub.subscribe,
  host,
)

contextBridge.exposeInMainWorld('p2pds', forContextBridge(bridge))

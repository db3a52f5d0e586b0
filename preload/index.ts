/**
 * Electron preload (sandboxed, context-isolated): exposes `window.p2pds`, built from the contract's
 * method list, over IPC. Never exposes `ipcRenderer` or a generic invoke.
 *
 * A sandboxed preload cannot be an ES module and may only `require('electron')`, so
 * `scripts/build-preload.mjs` bundles this file to `dist/preload/index.cjs`.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { IPC_EVENT_CHANNEL, ipcChannel, type ApiResult } from '../core/api.js'
import { createBridge, createEventHub, forContextBridge } from './bridge.js'

const hub = createEventHub()

// One IPC listener for every event; main sends `{ name, data }` on IPC_EVENT_CHANNEL.
ipcRenderer.on(IPC_EVENT_CHANNEL, (_event, payload: unknown) => {
  if (typeof payload !== 'object' || payload === null) return
  const { name, data } = payload as { name?: unknown; data?: unknown }
  hub.dispatch(name, data)
})

const bridge = createBridge(
  (method, input) => ipcRenderer.invoke(ipcChannel(method), input) as Promise<ApiResult<unknown>>,
  hub.subscribe,
)

contextBridge.exposeInMainWorld('p2pds', forContextBridge(bridge))

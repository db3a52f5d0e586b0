/**
 * Electron preload (sandboxed, context-isolated): exposes `window.p2pds`, built from the contract's
 * method list, over IPC. Never exposes `ipcRenderer` or a generic invoke.
 *
 * A sandboxed preload cannot be an ES module and may only `require('electron')`, so
 * `scripts/build-preload.mjs` bundles this file to `dist/preload/index.cjs`.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { HOST_METHODS, hostIpcChannel, IPC_EVENT_CHANNEL, ipcChannel, type ApiResult, type P2pdsHostApi } from '../core/api.js'
import { createBridge, createEventHub, forContextBridge, unwrapResult } from './bridge.js'

const hub = createEventHub()

// One IPC listener for every event; main sends `{ name, data }` on IPC_EVENT_CHANNEL.
ipcRenderer.on(IPC_EVENT_CHANNEL, (_event, payload: unknown) => {
  if (typeof payload !== 'object' || payload === null) return
  const { name, data } = payload as { name?: unknown; data?: unknown }
  hub.dispatch(name, data)
})

// Native dialogs, login items and the file manager live in main: each host method is one IPC
// channel answered with an ApiResult (main validates the input).
const hostMethods: Record<string, unknown> = { kind: 'electron' }
for (const m of HOST_METHODS) {
  hostMethods[m] = async (input?: unknown) => unwrapResult(`host.${m}`, await ipcRenderer.invoke(hostIpcChannel(m), input))
}
const host = hostMethods as unknown as P2pdsHostApi

const bridge = createBridge(
  (method, input) => ipcRenderer.invoke(ipcChannel(method), input) as Promise<ApiResult<unknown>>,
  hub.subscribe,
  host,
)

contextBridge.exposeInMainWorld('p2pds', forContextBridge(bridge))

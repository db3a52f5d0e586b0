/**
 * The IPC binding of the API contract: one `ipcMain.handle` per method, on `ipcChannel(method)`.
 * Each call is checked against its sender frame, validated with the contract's schema and answered
 * with an `ApiResult` (failures are data; nothing throws across IPC).
 *
 * Only types come from 'electron' here, so this file runs under plain Node in tests.
 */
import type { IpcMain, IpcMainInvokeEvent } from 'electron'
import { API_METHODS, HOST_METHODS, hostIpcChannel, ipcChannel, type ApiResult, type P2pdsApi, type P2pdsHostApi } from '../core/api.js'
import { dispatchApiCall } from '../core/api-dispatch.js'
import { HOST_INPUT_SCHEMAS } from '../core/api-schema.js'
import { InvalidInputError, toErrorDto } from '../core/errors.js'

/** Decides whether an IPC call comes from the app's own renderer. */
export type SenderCheck = (event: IpcMainInvokeEvent) => boolean

/**
 * Whether a frame URL is the app's renderer page: the same `file:` path as `rendererFileUrl`.
 * The fragment is ignored (the renderer may route with it); anything else must match exactly.
 */
export function isTrustedSenderUrl(url: string, rendererFileUrl: string): boolean {
  let actual: URL
  let expected: URL
  try {
    actual = new URL(url)
    expected = new URL(rendererFileUrl)
  } catch {
    return false
  }
  return (
    actual.protocol === 'file:' &&
    expected.protocol === 'file:' &&
    actual.host === expected.host &&
    actual.pathname === expected.pathname &&
    actual.search === expected.search &&
    actual.username === '' &&
    actual.password === ''
  )
}

/** A sender check for the app's renderer: its top-level frame at `rendererFileUrl`, nothing else. */
export function rendererSenderCheck(rendererFileUrl: string): SenderCheck {
  return (event) => {
    const frame = event.senderFrame
    // null when the frame navigated away or was destroyed before the call arrived.
    if (frame === null || frame.parent !== null) return false
    return isTrustedSenderUrl(frame.url, rendererFileUrl)
  }
}

const FORBIDDEN: ApiResult<never> = {
  ok: false,
  error: {
    name: 'ForbiddenSenderError',
    code: 'ERR_FORBIDDEN_SENDER',
    message: 'Only the P2PDS window may call the node.',
  },
}

/**
 * Registers one handler per API method. Returns the function that removes them all (call it
 * before the node stops, so a late call gets "no handler" rather than a stopped node).
 */
export function registerIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, api: P2pdsApi, isTrustedSender: SenderCheck): () => void {
  for (const method of API_METHODS) {
    ipcMain.handle(ipcChannel(method), async (event: IpcMainInvokeEvent, input?: unknown): Promise<ApiResult<unknown>> => {
      if (!isTrustedSender(event)) return FORBIDDEN
      return dispatchApiCall(api, method, input)
    })
  }
  return () => {
    for (const method of API_METHODS) ipcMain.removeHandler(ipcChannel(method))
  }
}

/** What main does for the host methods (native dialogs, then the node's export). */
export type HostHandlers = Omit<P2pdsHostApi, 'kind'>

/**
 * Registers the host methods (`p2pds:host.saveCar`, …) with the same sender check and input
 * validation as the API. Returns the function that removes them.
 */
export function registerHostIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, handlers: HostHandlers, isTrustedSender: SenderCheck): () => void {
  for (const method of HOST_METHODS) {
    ipcMain.handle(hostIpcChannel(method), async (event: IpcMainInvokeEvent, input?: unknown): Promise<ApiResult<unknown>> => {
      if (!isTrustedSender(event)) return FORBIDDEN
      try {
        const parsed = HOST_INPUT_SCHEMAS[method].safeParse(input)
        if (!parsed.success) throw new InvalidInputError(`Invalid input for host.${method}: ${parsed.error.issues[0]?.message ?? 'rejected'}.`)
        return { ok: true, value: await handlers[method](parsed.data as never) }
      } catch (err) {
        return { ok: false, error: toErrorDto(err) }
      }
    })
  }
  return () => {
    for (const method of HOST_METHODS) ipcMain.removeHandler(hostIpcChannel(method))
  }
}

/**
 * Feeds the store from the bridge: subscribes to `node:status`, asks `node.info` once per run of
 * the node, and notices when the node stops answering.
 *
 * The event stream has no error channel in the contract, so silence is the signal: the node
 * pushes a status every few seconds while started, and when nothing arrives for `silenceMs` we
 * ask `node.status` directly. A failed call marks contact lost; later checks keep asking every
 * `retryMs` and clear the problem as soon as the node answers again.
 */
import type { NodeStatusDto, P2pdsBridge } from '../../core/api.js'
import type { StoreApi } from 'zustand/vanilla'
import { errorCode, problemSentence } from './problem.js'
import type { AppState } from './store.js'

export interface ConnectNodeInit {
  bridge: P2pdsBridge
  store: StoreApi<AppState>
  /** Clock in ms. @default Date.now */
  now?: () => number
  /** Quiet time after which the node is asked directly. @default 12000 */
  silenceMs?: number
  /** Time between attempts while the node does not answer. @default 5000 */
  retryMs?: number
  /** How often the quiet time is checked. @default 1000 */
  checkMs?: number
  /**
   * Where the browser-mode bridge announces event-stream changes (`p2pds:connection`); a change
   * triggers an immediate check instead of waiting out the quiet time. @default globalThis
   */
  connectionEvents?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>
}

/** Starts feeding the store; returns the function that stops it. */
export function connectNode(init: ConnectNodeInit): () => void {
  const { bridge, store } = init
  const now = init.now ?? Date.now
  const silenceMs = init.silenceMs ?? 12_000
  const retryMs = init.retryMs ?? 5_000
  let stopped = false
  let probing = false
  let nextProbeAt = now() + silenceMs
  // `startedAt` of the run whose info we hold or are fetching; info is static within one run.
  let infoRun: string | null | undefined

  const host = () => store.getState().status?.host ?? null

  const received = (status: NodeStatusDto) => {
    if (stopped) return
    const at = now()
    nextProbeAt = at + silenceMs
    store.getState().statusReceived(status, at)
    if (status.state === 'started' && infoRun !== status.startedAt) fetchInfo(status.startedAt)
  }

  const failed = (err: unknown) => {
    if (stopped) return
    nextProbeAt = now() + retryMs
    store.getState().contactLost(problemSentence(err, host()))
  }

  const fetchInfo = (run: string | null) => {
    infoRun = run
    bridge.node.info().then(
      (info) => {
        if (!stopped && infoRun === run) store.getState().infoReceived(info)
      },
      (err: unknown) => {
        if (stopped || infoRun !== run) return
        infoRun = undefined // ask again on the next status
        // The node stopped between status and info; the next `started` status brings it.
        if (errorCode(err) === 'ERR_NOT_STARTED') return
        store.getState().infoFailed(problemSentence(err, host()))
      },
    )
  }

  const probe = async () => {
    if (probing || stopped) return
    probing = true
    try {
      received(await bridge.node.status())
    } catch (err) {
      failed(err)
    } finally {
      probing = false
    }
  }

  let unsubscribe: () => void = () => {}
  try {
    unsubscribe = bridge.on('node:status', received)
  } catch (err) {
    failed(err)
  }
  void probe()
  const events = init.connectionEvents ?? (typeof globalThis.addEventListener === 'function' ? globalThis : undefined)
  const onConnectionChange = () => void probe()
  events?.addEventListener('p2pds:connection', onConnectionChange)
  const timer = setInterval(() => {
    if (now() >= nextProbeAt) void probe()
  }, init.checkMs ?? 1_000)

  return () => {
    stopped = true
    clearInterval(timer)
    events?.removeEventListener('p2pds:connection', onConnectionChange)
    unsubscribe()
  }
}

/**
 * Forwards node events to the window without ever letting the window slow the node: events are
 * coalesced (the newest per name, and per DID when the payload names one), sent at most once per
 * interval, and held while the window is hidden or minimised; on show, the newest state is sent.
 */
import type { ApiEventName } from '../core/api.js'

export interface EventForwarderInit {
  /** Delivers one event to the window (`webContents.send(IPC_EVENT_CHANNEL, { name, data })`). */
  send(name: ApiEventName, data: unknown): void
  /** Whether the window can show anything now (visible and not minimised). */
  isVisible(): boolean
  /** Shortest time between two deliveries, in ms. @default 100 */
  intervalMs?: number
  /** Most distinct pending events kept; the oldest is dropped beyond it. @default 1000 */
  maxPending?: number
  /** @default Date.now */
  now?: () => number
}

export interface EventForwarder {
  /** Queues an event (call from `node.onAny`). Never blocks, never throws. */
  push(name: ApiEventName, data: unknown): void
  /** The window became visible: deliver what it missed. */
  shown(): void
  /** The page (re)loaded: deliver the newest of every event seen so far. */
  replay(): void
  /** Stops delivering; pending events are dropped. */
  close(): void
}

/** The coalescing key: events about different accounts must not overwrite each other. */
export function coalesceKey(name: string, data: unknown): string {
  if (typeof data === 'object' && data !== null && typeof (data as { did?: unknown }).did === 'string') {
    return `${name}\u0000${(data as { did: string }).did}`
  }
  return name
}

export function createEventForwarder(init: EventForwarderInit): EventForwarder {
  const interval = init.intervalMs ?? 100
  const maxPending = init.maxPending ?? 1000
  const now = init.now ?? Date.now
  const pending = new Map<string, { name: ApiEventName; data: unknown }>()
  const latest = new Map<string, { name: ApiEventName; data: unknown }>()
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastFlush = -Infinity
  let closed = false

  const remember = (map: typeof pending, key: string, e: { name: ApiEventName; data: unknown }): void => {
    // Re-insert so Map order is "least recently updated first".
    map.delete(key)
    map.set(key, e)
    if (map.size > maxPending) {
      const oldest = map.keys().next().value
      if (oldest !== undefined) map.delete(oldest)
    }
  }

  const deliver = (e: { name: ApiEventName; data: unknown }): void => {
    try {
      init.send(e.name, e.data)
    } catch (err) {
      // The window is closing or its contents are gone: nothing to deliver to.
      console.error('p2pds: could not forward', e.name, err)
    }
  }

  const flush = (): void => {
    timer = undefined
    if (closed || pending.size === 0) return
    if (!init.isVisible()) return // kept; `shown()` delivers it
    lastFlush = now()
    const batch = [...pending.values()]
    pending.clear()
    for (const e of batch) deliver(e)
  }

  const schedule = (): void => {
    if (closed || timer !== undefined || pending.size === 0 || !init.isVisible()) return
    const wait = Math.max(0, lastFlush + interval - now())
    timer = setTimeout(flush, wait)
    // Never keep the app alive just to deliver UI updates.
    if (typeof timer === 'object' && timer !== null && 'unref' in timer) timer.unref()
  }

  return {
    push(name, data) {
      if (closed) return
      const key = coalesceKey(name, data)
      const e = { name, data }
      remember(pending, key, e)
      remember(latest, key, e)
      schedule()
    },
    shown() {
      schedule()
    },
    replay() {
      if (closed) return
      for (const [key, e] of latest) remember(pending, key, e)
      schedule()
    },
    close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      pending.clear()
      latest.clear()
    },
  }
}

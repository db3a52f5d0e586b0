/**
 * The renderer's state: what the node last told us, and whether it still answers. Fed only by
 * `connection.ts`; components read it through `useApp(selector)`.
 */
import { useStore } from 'zustand'
import { createStore, type StoreApi } from 'zustand/vanilla'
import type { NodeInfoDto, NodeStatusDto } from '../../core/api.js'
import { stateLabel } from './format.js'

/** Whether the node answers: not yet known, answering, or not answering. */
export type Connection = 'connecting' | 'connected' | 'lost'

export interface AppState {
  connection: Connection
  /** What went wrong talking to the node, as a sentence; null while it answers. */
  problem: string | null
  /** The last status the node sent, kept while contact is lost. */
  status: NodeStatusDto | null
  /** Local time (ms) `status` arrived, to advance uptime between ticks. */
  statusAt: number | null
  info: NodeInfoDto | null
  /** Why `node.info` failed, as a sentence. */
  infoProblem: string | null

  /** A status arrived (event or call): the node answers. */
  statusReceived(status: NodeStatusDto, at: number): void
  infoReceived(info: NodeInfoDto): void
  infoFailed(sentence: string): void
  /** A call failed or the bridge is missing. */
  contactLost(sentence: string): void
}

export function createAppStore(): StoreApi<AppState> {
  return createStore<AppState>()((set) => ({
    connection: 'connecting',
    problem: null,
    status: null,
    statusAt: null,
    info: null,
    infoProblem: null,
    statusReceived: (status, at) => set({ status, statusAt: at, connection: 'connected', problem: null }),
    infoReceived: (info) => set({ info, infoProblem: null }),
    infoFailed: (sentence) => set({ infoProblem: sentence }),
    contactLost: (sentence) => set({ connection: 'lost', problem: sentence }),
  }))
}

/** The app's one store. */
export const appStore = createAppStore()

/** Reads from the app store; select primitives or stored objects, never build new ones here. */
export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(appStore, selector)
}

/** How the state badge looks. */
export type BadgeTone = 'ok' | 'busy' | 'off' | 'unknown' | 'error'

/** Text and tone of the node state badge. */
export function selectBadge(s: Pick<AppState, 'connection' | 'status'>): { label: string; tone: BadgeTone } {
  if (s.connection === 'lost') return { label: 'Unreachable', tone: 'error' }
  if (s.status === null) return { label: 'Connecting…', tone: 'unknown' }
  const label = stateLabel(s.status.state)
  switch (s.status.state) {
    case 'started':
      return { label, tone: 'ok' }
    case 'starting':
    case 'stopping':
      return { label, tone: 'busy' }
    case 'stopped':
      return { label, tone: 'off' }
  }
}

/**
 * Uptime at `now`: the last reported value, advanced by the time since it arrived while the node
 * runs and answers (status ticks come every few seconds; the display ticks every second).
 */
export function selectUptimeSec(s: Pick<AppState, 'connection' | 'status' | 'statusAt'>, now: number): number | null {
  if (s.status === null) return null
  if (s.status.state !== 'started' || s.connection !== 'connected' || s.statusAt === null) return s.status.uptimeSec
  return s.status.uptimeSec + Math.max(0, Math.floor((now - s.statusAt) / 1000))
}

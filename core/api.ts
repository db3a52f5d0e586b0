/**
 * THE contract between the core and every user interface: the methods, the events and their
 * JSON-safe types. Electron IPC (`main/ipc.ts` + `preload/`), the browser-mode local API
 * (`core/server/ui-server.ts` + `preload/browser.ts`) and the CLI all bind this one list.
 *
 * This file has no runtime dependencies so that the preload bundles can import it; the input
 * schemas live beside it in `api-schema.ts`.
 */
import type { ErrorDto } from './errors.js'

export type { ErrorDto }

/** Lifecycle of a node. */
export type NodeState = 'stopped' | 'starting' | 'started' | 'stopping'

/** Which host runs the node. */
export type NodeHost = 'desktop' | 'serve' | 'cli' | 'test'

/** Live state of a node, pushed as `node:status` and returned by `node.status`. */
export interface NodeStatusDto {
  state: NodeState
  host: NodeHost
  pid: number
  version: string
  dataDir: string
  /** ISO time the node last started, or null when it has not. */
  startedAt: string | null
  uptimeSec: number
  /** Resident memory of the node's process, in MB. */
  rssMb: number
  /** Listener URLs; null when that listener is off (for example the CLI reading a data dir). */
  listeners: { ui: string | null; peer: string | null }
  /** Accounts the node holds. */
  accounts: number
  /**
   * Periodic sync at a glance. Always set by the node; optional only so that hand-built values
   * (UI test fakes) predating it still type-check.
   */
  sync?: NodeSyncSummaryDto
}

/** Periodic sync at a glance, in {@link NodeStatusDto}. */
export interface NodeSyncSummaryDto {
  /** Syncing is paused for every account. */
  paused: boolean
  /** Syncs running now (periodic and "sync now"). */
  running: number
  /** ISO time of the next periodic sync of any account, or null (paused, none held, or no scheduler: a CLI-opened data dir). */
  nextSyncAt: string | null
}

/** One account's place in periodic sync. */
export interface AccountSyncStateDto {
  did: string
  /** Paused on its own (a node-wide pause is {@link SyncStateDto.paused}). */
  paused: boolean
  /** ISO time of its next periodic sync; null while paused (either way), running, or when no scheduler runs. */
  nextSyncAt: string | null
  /** A sync of it is running now. */
  running: boolean
}

/** Pause state and schedule of periodic sync, returned by `sync.state` and pushed as `sync:state`. */
export interface SyncStateDto {
  /** Syncing is paused for every account (accounts paused on their own stay paused when it is lifted). */
  paused: boolean
  /** Every account held, most recently added first. */
  accounts: AccountSyncStateDto[]
}

/** Static facts about a node, returned by `node.info`. */
export interface NodeInfoDto {
  name: 'P2PDS'
  version: string
  host: NodeHost
  dataDir: string
  databaseFile: string
  schemaVersion: number
  runtime: { node: string; electron: string | null; platform: string; arch: string }
  /** The logged-in identity, or null before the first login. */
  identity: { did: string; handle: string | null } | null
  /** The node's configuration without secrets. */
  config: Record<string, unknown>
}

/** Where a sync is, for progress bars. */
export type SyncPhase = 'resolving' | 'repo' | 'blobs' | 'verifying' | 'done'

/** One account held by the node, as listed. */
export interface AccountDto {
  did: string
  handle: string | null
  pdsUrl: string | null
  /** Head commit CID and rev, or null before the first successful sync. */
  head: { cid: string; rev: string } | null
  /** ISO time of the last successful sync, or null. */
  lastSyncAt: string | null
  /** The last sync's failure in one sentence, or null when it succeeded. */
  lastError: ErrorDto | null
  /** Whether a sync is running right now. */
  syncing: boolean
  /**
   * Syncing this account is paused on its own (see also `sync.state`). Always set by the node;
   * optional only so that hand-built values (UI test fakes) predating it still type-check.
   */
  paused?: boolean
  /** ISO time of the next periodic sync, or null (paused, running, or no scheduler). Always set by the node; optional as `paused`. */
  nextSyncAt?: string | null
  records: number
  blobs: { stored: number; missing: number; failed: number }
  /** Bytes this account's blocks and blobs take (shared blocks counted for each account). */
  storageBytes: number
  /** How the account came to be held; 'archive' = added by hand (no consent needed for public data). */
  kind: 'archive'
}

/** A record collection at some rev, with its record count. */
export interface CollectionDto {
  nsid: string
  records: number
}

/** A verification result (L0: head matches the PDS; L1: sampled local blocks re-hash to their CIDs). */
export interface VerificationDto {
  level: 'L0' | 'L1'
  ok: boolean
  /** ISO time. */
  at: string
  /** One sentence a person can read. */
  summary: string
}

/** Everything the account page shows. */
export interface AccountDetailDto extends AccountDto {
  collections: CollectionDto[]
  /** Kept commits, newest first. */
  history: CommitDto[]
  /** Latest result of each level, newest first. */
  verifications: VerificationDto[]
  /** Blobs that could not be fetched, with the reason. */
  failedBlobs: Array<{ cid: string; error: string; attempts: number }>
}

/** A kept commit. */
export interface CommitDto {
  rev: string
  cid: string
  /** ISO time the node first saw it. */
  seenAt: string
}

/** A record, decoded to atproto JSON (CIDs as {$link}, bytes as {$bytes}). */
export interface RecordDto {
  uri: string
  collection: string
  rkey: string
  cid: string
  value: Record<string, unknown>
}

/** What one sync did. */
export interface SyncResultDto {
  did: string
  rev: string
  cid: string
  /** 'full' for a whole-repo fetch, 'incremental' for a diff since our head, 'none' when already current. */
  kind: 'full' | 'incremental' | 'none'
  creates: number
  updates: number
  deletes: number
  bytesReceived: number
  blobsFetched: number
  blobsFailed: number
  durationMs: number
}

/** A blob's bytes for display (images in the record browser). */
export interface BlobDto {
  cid: string
  mimeType: string
  /** Base64 of the bytes. */
  base64: string
}

/** Result of writing an export. */
export interface ExportResultDto {
  path: string
  bytes: number
  /** Blocks in a CAR, or blobs in a folder. */
  items: number
}

/** Live progress of a sync. */
export interface SyncProgressDto {
  did: string
  phase: SyncPhase
  blocks: number
  bytes: number
  /** Known for blobs (sum of listed sizes is not known in advance: null). */
  totalBytes: number | null
  blobsDone: number
  blobsTotal: number | null
  /** Estimated seconds left, when it can be estimated. */
  etaSec: number | null
}

/** The methods a user interface may call, grouped by area. Every input and output is JSON-safe. */
export interface P2pdsApi {
  node: {
    /** Live state of the node. */
    status(): Promise<NodeStatusDto>
    /** Version, data location, runtime and configuration. */
    info(): Promise<NodeInfoDto>
  }
  accounts: {
    /** Accounts held, most recently added first. */
    list(): Promise<AccountDto[]>
    /** One account with its collections, history, verification results and failed blobs. */
    get(input: { did: string }): Promise<AccountDetailDto>
    /** Resolves a handle or DID, starts holding the account and starts its first sync (in the background). */
    add(input: { handleOrDid: string }): Promise<AccountDto>
    /**
     * Syncs now and resolves when done (repo, then blobs); the next periodic sync is then one
     * interval away. Refused with `ERR_ACCOUNT_PAUSED` while the account or the node is paused.
     */
    sync(input: { did: string }): Promise<SyncResultDto>
    /** Stops holding the account and deletes its data (blocks shared with other accounts stay). */
    remove(input: { did: string }): Promise<void>
    /** Runs L0 and L1 verification now. */
    verify(input: { did: string }): Promise<VerificationDto[]>
  }
  records: {
    /** Collections at the head, or at a kept rev. */
    collections(input: { did: string; rev?: string }): Promise<CollectionDto[]>
    /** Records of one collection, in rkey order, paged. */
    list(input: { did: string; collection: string; rev?: string; cursor?: string; limit?: number }): Promise<{ records: RecordDto[]; cursor: string | null }>
    /** One record at the head or a kept rev (deleted records stay readable at revs that had them). */
    get(input: { did: string; collection: string; rkey: string; rev?: string }): Promise<RecordDto>
  }
  blobs: {
    /** A stored blob's bytes, for display; refused over 10 MB. */
    get(input: { did: string; cid: string }): Promise<BlobDto>
  }
  sync: {
    /**
     * Pauses syncing of one account (`did`), or of every account (no `did`): no new sync starts,
     * running ones are aborted (storing nothing of themselves). Kept across restarts.
     */
    pause(input?: { did?: string }): Promise<SyncStateDto>
    /** Resumes one account (`did`), or lifts the node-wide pause (no `did`); what is overdue syncs soon. */
    resume(input?: { did?: string }): Promise<SyncStateDto>
    /** Pause state, running syncs and next periodic sync of every account. */
    state(): Promise<SyncStateDto>
  }
  export: {
    /** Writes a CAR of the head (or a kept rev) to an absolute path. */
    car(input: { did: string; path: string; rev?: string }): Promise<ExportResultDto>
    /** Writes every stored blob to a folder, one file each, plus manifest.json. */
    blobs(input: { did: string; dir: string }): Promise<ExportResultDto>
  }
}

/** Events the node pushes to every user interface. */
export interface P2pdsEvents {
  /** The node's state changed, or its periodic status tick (every few seconds while started). */
  'node:status': NodeStatusDto
  /** Progress of a running sync (throttled by the node). */
  'sync:progress': SyncProgressDto
  /** A sync finished. */
  'sync:completed': SyncResultDto
  /** A sync failed; nothing of it was stored. */
  'sync:failed': { did: string; error: ErrorDto }
  /** The list of accounts or one account's summary changed. */
  'accounts:changed': { did: string }
  /** `sync.state` changed: a pause or resume, a sync started or ended, a next sync time moved. */
  'sync:state': SyncStateDto
}

export type ApiEventName = keyof P2pdsEvents

/** The result of a call as it crosses IPC or HTTP: failures are data, not exceptions. */
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ErrorDto }

type Fn = (...args: never[]) => Promise<unknown>
/** `'area.method'` for every method of the contract. */
export type ApiMethodName = {
  [A in keyof P2pdsApi]: { [M in keyof P2pdsApi[A]]: P2pdsApi[A][M] extends Fn ? `${A & string}.${M & string}` : never }[keyof P2pdsApi[A]]
}[keyof P2pdsApi]

type MethodOf<N extends ApiMethodName> = N extends `${infer A}.${infer M}`
  ? A extends keyof P2pdsApi
    ? M extends keyof P2pdsApi[A]
      ? P2pdsApi[A][M]
      : never
    : never
  : never

/** The input of a method (`undefined` for methods without one). */
export type ApiInput<N extends ApiMethodName> = MethodOf<N> extends (input: infer I) => Promise<unknown> ? I : undefined
/** The value a method resolves to. */
export type ApiOutput<N extends ApiMethodName> = MethodOf<N> extends (...args: never[]) => Promise<infer O> ? O : never

/** Every method name; bindings are built from this list. Checked complete against the interface below. */
export const API_METHODS = [
  'node.status',
  'node.info',
  'accounts.list',
  'accounts.get',
  'accounts.add',
  'accounts.sync',
  'accounts.remove',
  'accounts.verify',
  'records.collections',
  'records.list',
  'records.get',
  'blobs.get',
  'sync.pause',
  'sync.resume',
  'sync.state',
  'export.car',
  'export.blobs',
] as const satisfies readonly ApiMethodName[]

/** Every event name pushed to user interfaces. */
export const API_EVENTS = ['node:status', 'sync:progress', 'sync:completed', 'sync:failed', 'accounts:changed', 'sync:state'] as const satisfies readonly ApiEventName[]

// Compile-time completeness checks: adding a method or event to the interfaces without listing it
// here (or the reverse) fails `tsc`.
type Missing<All, Listed> = Exclude<All, Listed>
const methodsComplete: Missing<ApiMethodName, (typeof API_METHODS)[number]> extends never ? true : false = true
const eventsComplete: Missing<ApiEventName, (typeof API_EVENTS)[number]> extends never ? true : false = true
void methodsComplete
void eventsComplete

/** The IPC channel of a method (`p2pds:node.status`). */
export function ipcChannel(method: ApiMethodName): string {
  return `p2pds:${method}`
}

/** The IPC channel of a host method (`p2pds:host.saveCar`). */
export function hostIpcChannel(method: (typeof HOST_METHODS)[number]): string {
  return `p2pds:host.${method}`
}

/** The one IPC channel on which main pushes events to the window. */
export const IPC_EVENT_CHANNEL = 'p2pds:event'

/**
 * What only the host can do for the user: native save dialogs in Electron, downloads in a browser.
 * Built by each preload (not served by the node's API), so the renderer asks for an export the
 * same way in both modes.
 */
export interface P2pdsHostApi {
  readonly kind: 'electron' | 'browser'
  /** Asks where to save a CAR of the head (or a kept rev) and writes it; null when the user cancels. */
  saveCar(input: { did: string; rev?: string }): Promise<ExportResultDto | null>
  /** Asks where to save every blob (a folder in Electron, a .tar download in a browser); null when cancelled. */
  saveBlobs(input: { did: string }): Promise<ExportResultDto | null>
}

/** The host's methods; in Electron each is an IPC channel (`p2pds:host.saveCar`) handled by main. */
export const HOST_METHODS = ['saveCar', 'saveBlobs'] as const satisfies ReadonlyArray<Exclude<keyof P2pdsHostApi, 'kind'>>

/** What a user interface sees: the API, event subscription and the host's own abilities. Built by the preloads. */
export type P2pdsBridge = P2pdsApi & {
  /** Subscribes to a node event; returns the unsubscribe function. */
  on<E extends ApiEventName>(event: E, listener: (data: P2pdsEvents[E]) => void): () => void
  host: P2pdsHostApi
}

/** Thrown by bridge methods when the call failed; carries the error's stable `code`. */
export class ApiCallError extends Error {
  readonly code: string
  constructor(error: ErrorDto) {
    super(error.message)
    this.name = error.name
    this.code = error.code
  }
}

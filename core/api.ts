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
  /** Stored bytes against the storage cap; null while stopped. Optional as `sync`. */
  storage?: StorageUsageDto | null
}

/** Periodic sync at a glance, in {@link NodeStatusDto}. */
export interface NodeSyncSummaryDto {
  /** Syncing is paused for every account. */
  paused: boolean
  /** Syncs running now (periodic and "sync now"). */
  running: number
  /** ISO time of the next periodic sync of any account, or null (paused, none held, or no scheduler: a CLI-opened data dir). */
  nextSyncAt: string | null
  /** The firehose connection; absent from values built before it existed. */
  firehose?: FirehoseStateDto
  /** Every held account's live state (what `p2pds status --json` shows); absent as `firehose`. */
  live?: AccountLiveDto[]
}

/** Live state of one account: is the firehose keeping it current? */
export interface AccountLiveDto {
  did: string
  /**
   * `live`: following the firehose; `catching-up`: connecting or behind the stream; `resyncing`:
   * fetching with getRepo what the stream could not give; `paused`; `error` (see `reason`);
   * `off`: the firehose is switched off (FIREHOSE_ENABLED=false, or a CLI-opened data dir).
   */
  state: 'live' | 'catching-up' | 'resyncing' | 'paused' | 'error' | 'off'
  /** Why, in a sentence; null when live. */
  reason: string | null
  /** Hosting status from the account's last `#account` event (`active`, `deactivated`, `takendown`, `deleted`, …). */
  status: string
  /** ISO time the last event of the account was handled, or null. */
  lastEventAt: string | null
  /** Commits applied from the firehose so far. */
  eventsApplied: number
  /** How far the node is behind the stream, in ms, or null before any event. */
  lagMs: number | null
}

/** The firehose connection (`FIREHOSE_URL`). */
export interface FirehoseStateDto {
  /** FIREHOSE_ENABLED (and a node that serves: a CLI-opened data dir does not follow it). */
  enabled: boolean
  url: string
  /** `waiting`: between two connection attempts (see `nextAttemptAt`); `off` when not enabled. */
  connection: 'connecting' | 'connected' | 'waiting' | 'stopped' | 'off'
  /** The seq of the last event handled; a restart resumes after it. */
  cursor: number | null
  /** ISO time the last event was handled. */
  lastEventAt: string | null
  lagMs: number | null
  /** Connections lost or failed since the node started. */
  reconnects: number
  /** The last connection problem, in a sentence; null once events flow again. */
  lastError: string | null
  /** ISO time of the next connection attempt while waiting. */
  nextAttemptAt: string | null
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
  /** Its live state (firehose). Always set by the node; optional as {@link AccountDto.paused}. */
  live?: AccountLiveDto
}

/** Pause state and schedule of periodic sync, returned by `sync.state` and pushed as `sync:state`. */
export interface SyncStateDto {
  /** Syncing is paused for every account (accounts paused on their own stay paused when it is lifted). */
  paused: boolean
  /** Every account held, most recently added first. */
  accounts: AccountSyncStateDto[]
  /** The firehose connection. Always set by the node; optional as {@link AccountDto.paused}. */
  firehose?: FirehoseStateDto
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
  /** The peer network (PeerID, multiaddrs) for `org.p2pds.peer`; null while stopped. Optional as for UI test fakes. */
  network?: NetworkInfoDto | null
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
  /** What served it: 'pds' or 'peer:<PeerID>' (null before one said). Optional for hand-built values. */
  lastSyncSource?: string | null
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
  /**
   * Why the account is held, from the policies: 'reciprocal' (an agreement), 'archive' (added by
   * hand; no consent needed for public data) or 'config' (REPLICATE_DIDS, POLICY_FILE).
   */
  kind: 'reciprocal' | 'archive' | 'config'
  /**
   * What the account agreed to (the holding policy's consent status): 'unconsented' is an archive
   * without its consent record, shown as such. Always set by the node; optional as {@link AccountDto.paused}.
   */
  consent?: 'reciprocal' | 'consented' | 'unconsented' | 'revoked'
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
  /** What served the repository: 'pds', or 'peer:<PeerID>' (peer-first sync; blobs come from the PDS, or from peers holding the account when the PDS cannot serve them). Optional for hand-built values. */
  source?: string
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

/** Outcome of the latest attempt to refresh a mirrored PLC log. */
export type PlcValidationState =
  /** The log fetched was valid and is the one held. */
  | 'valid'
  /** The log fetched broke a did:plc rule; the copy held before (if any) was kept. */
  | 'invalid'
  /** Neither the PLC directory nor any peer answered with a log; the copy held before (if any) was kept. */
  | 'unavailable'
  /** Not fetched yet. */
  | 'pending'

/** The mirrored PLC log of one held did:plc account. */
export interface PlcLogStatusDto {
  did: string
  /** Operations in the held log, nullified ones included; 0 before a log is held. */
  operations: number
  /** Operations a recovery nullified. */
  nullified: number
  /** The DID was deactivated for good (the chain in force ends with a tombstone). */
  tombstoned: boolean
  /** ISO time the held log was fetched, or null before one is held. */
  lastFetchAt: string | null
  /** ISO time of the latest attempt, or null before the first. */
  lastCheckAt: string | null
  /** Where the held log came from: the PLC directory's URL or a peer's endpoint URL. */
  source: string | null
  validation: PlcValidationState
  /** Why the latest attempt failed, or null. */
  error: ErrorDto | null
  /** What the latest operation in force says; null before a log is held, or when tombstoned. */
  document: {
    /** e.g. `at://alice.example.com`. */
    alsoKnownAs: string[]
    /** The `atproto_pds` service endpoint, or null. */
    pdsUrl: string | null
    /** The `atproto` verification method (did:key), or null. */
    signingKey: string | null
    /** did:key rotation keys, highest priority first. */
    rotationKeys: string[]
  } | null
}

/** One entry of a PLC audit log, as the directory serves it (`/<did>/log/audit`). */
export interface PlcAuditEntryDto {
  did: string
  operation: Record<string, unknown>
  cid: string
  nullified: boolean
  createdAt: string
}

/** A mirrored PLC log with its status. */
export interface PlcLogDto {
  status: PlcLogStatusDto
  /** The held (validated) log, oldest first; empty before one is held. */
  log: PlcAuditEntryDto[]
}

/** One NSID of the lexicon index. */
export interface LexiconDto {
  nsid: string
  /** Records held whose collection or `$type` is this NSID (0: seen before, none held now). */
  records: number
  /** Accounts holding at least one such record. */
  repos: number
  /** ISO time this node first saw it. */
  firstSeenAt: string
  /** ISO time this node last saw a record of it. */
  lastSeenAt: string
}

/** Totals of the lexicon index. */
export interface LexiconStatsDto {
  /** NSIDs with at least one record held. */
  nsids: number
  /** Records held in the indexed accounts. */
  records: number
  /** Accounts indexed. */
  repos: number
  /** ISO time the index last changed, or null. */
  updatedAt: string | null
}

/** The settings a user can change in the app (each is also a configuration variable; see core/settings.ts). */
export interface SettingValues {
  /** Transfer cap in KB/s, or null for none. Applies at once. */
  bandwidthLimitKbps: number | null
  /** Storage cap in MB, or null for none. Applies at once. */
  storageLimitMb: number | null
  /** Periodic sync interval in seconds. Applies at once. */
  syncIntervalSec: number
  /** Real-time sync through the firehose. Applies at the next start. */
  firehoseEnabled: boolean
  /** The firehose's `subscribeRepos` URL. Applies at the next start. */
  firehoseUrl: string
  /** libp2p (IPFS) networking. Applies at the next start. */
  ipfsNetworking: boolean
}

export type SettingKey = keyof SettingValues

/** Where a setting's value comes from: a flag, the environment or `.env` (locked), the app (saved), or the default. */
export type SettingSource = 'flag' | 'env' | 'dotenv' | 'saved' | 'default'

/** One setting as the Settings page shows it. */
export interface SettingDto<K extends SettingKey = SettingKey> {
  key: K
  /** The value that applies: now, or at the next start for `applies: 'restart'`. */
  value: SettingValues[K]
  /** The value the running node uses now (differs from `value` until a restart, for `restart` settings). */
  inUse: SettingValues[K]
  /** The value without flag, environment, `.env` or saved setting. */
  default: SettingValues[K]
  source: SettingSource
  /** What sets it when it cannot be changed in the app (`BANDWIDTH_LIMIT_KBPS`, `--sync-interval-sec`, `.env`); else null. */
  lockedBy: string | null
  /** When a change takes effect. */
  applies: 'now' | 'restart'
  /** The configuration variable behind it, e.g. `BANDWIDTH_LIMIT_KBPS`. */
  env: string
}

/** Stored bytes against the storage cap. */
export interface StorageUsageDto {
  /** Bytes of every stored block: repository blocks and blob bytes (each stored once). */
  usedBytes: number
  /** Blocks stored. */
  blocks: number
  /** The cap in bytes, or null for none. */
  limitBytes: number | null
  /** `usedBytes / limitBytes`, or null without a cap. */
  fraction: number | null
  /** `warning` from 90% of the cap, `full` at the cap (new syncs are refused). */
  level: 'ok' | 'warning' | 'full'
}

/** What `settings.get` returns and `settings:changed` carries. */
export interface SettingsDto {
  settings: { [K in SettingKey]: SettingDto<K> }
  /** The data folder: shown, never changed by the running node (see core/settings.ts). */
  dataDir: { path: string; source: Exclude<SettingSource, 'saved'>; lockedBy: string | null }
  storage: StorageUsageDto
}

/** Input of `settings.update`: values to save, and settings whose saved value to forget (back to the default). */
export interface SettingsUpdateDto {
  values?: Partial<SettingValues>
  reset?: SettingKey[]
}

/** What the host reports for the Settings page (launch at login and the data folder are the host's). */
export interface HostSettingsDto {
  /** Open P2PDS when the user logs in: only the desktop app can. */
  launchAtLogin: {
    supported: boolean
    enabled: boolean
    /** Why it is not supported here, in a sentence; null when supported. */
    reason: string | null
  }
  /** Whether `openDataFolder` can open the folder in the system's file manager. */
  canOpenDataFolder: boolean
}

/** A rotation key of a DID, as the PLC document lists it or as this node holds it. */
export interface RotationKeyDto {
  /** `did:key:z…` */
  didKey: string
  /** Place in the DID's rotation keys (0 = highest priority); null when not listed (held only). */
  position: number | null
  /** This node holds the private key (sealed at rest). */
  heldHere: boolean
}

/** The rotation keys of one DID (from its validated PLC log) and the keys held here. */
export interface RotationKeysDto {
  did: string
  keys: RotationKeyDto[]
}

/** A key just made, shown once: save the phrase or the key file, the node keeps only a sealed copy. */
export interface NewRotationKeyDto {
  didKey: string
  /** 24-word BIP-39 recovery phrase of the 32 private bytes. */
  phrase: string
  /** The key file's content (CLI.md): 64 hexadecimal characters and a newline. */
  keyFile: string
}

/** Result of `recovery.addRotationKey`. */
export interface AddRotationKeyResultDto {
  did: string
  /** `token-sent`: the PDS emailed a code, call again with it; `added`: the key is now listed; `already-listed`: nothing to do. */
  status: 'token-sent' | 'added' | 'already-listed'
  /** The DID's rotation keys after the call. */
  rotationKeys: string[]
}

/** The steps of a restore to a new PDS, in order (core/recovery/restore.ts). */
export type RestoreStepName = 'check' | 'signing-key' | 'create-account' | 'import-repo' | 'upload-blobs' | 'point-did' | 'activate' | 'verify'

/** Where one step of a restore stands. */
export interface RestoreStepDto {
  name: RestoreStepName
  /** `skipped`: its effect was already there (a resumed restore). */
  state: 'pending' | 'running' | 'done' | 'skipped' | 'failed'
  /** One sentence on what it did or why it failed. */
  detail: string | null
  /** Items done and in all (blobs uploaded), when the step counts. */
  done: number | null
  total: number | null
}

/** A restore's stored state. */
export interface RestoreStatusDto {
  did: string
  targetUrl: string
  handle: string
  state: 'running' | 'failed' | 'done'
  steps: RestoreStepDto[]
  error: ErrorDto | null
  startedAt: string
  updatedAt: string
}

/** One check of a dry run. */
export interface RestoreCheckDto {
  /** `local-copy`, `rotation-key`, `new-pds`, `invite-code`, `handle`, `email`. */
  name: string
  ok: boolean
  detail: string
}

/** What a dry run found; nothing was changed anywhere. */
export interface RestorePlanDto {
  did: string
  targetUrl: string
  /** The new PDS's DID, when it answered. */
  targetDid: string | null
  handle: string | null
  /** Every check passed: a restore can start. */
  ok: boolean
  checks: RestoreCheckDto[]
  steps: RestoreStepName[]
}

/** Progress of a restore step, pushed as `recovery:progress`. */
export interface RestoreProgressDto extends RestoreStepDto {
  did: string
}

/** Input of `recovery.restorePlan`. */
export interface RestorePlanInput {
  did: string
  /** The new PDS URL. */
  to: string
  /** A held key's `did:key`, or the key itself (key file hex or 24-word phrase). */
  rotationKey: string
  /** @default the handle of the local copy */
  handle?: string
  email?: string
  inviteCode?: string
}

/** A recovery kit written to a folder. */
export interface RecoveryKitDto {
  did: string
  path: string
  /** Files written, relative to `path`. */
  files: string[]
  bytes: number
  /** Whether the PLC log came from the mirror, was fetched now, or could not be had (did:web, directory down). */
  plcLog: 'mirror' | 'fetched' | 'none'
}

/** An account logged in on this node (it acts as this account: publishes offers, its peer record, consent). */
export interface LoginDto {
  did: string
  /** Verified handle, or null. */
  handle: string | null
  pdsUrl: string
  method: 'oauth' | 'app-password'
  /** ISO time of the login. */
  loggedInAt: string
}

/** Login state of the node, returned by `auth.status`. */
export interface AuthStatusDto {
  /** OAuth login is on (OAUTH_ENABLED) and ready (the local listener is up). */
  oauth: boolean
  /** Logged-in accounts, first logged in first; the first is the node's identity. */
  accounts: LoginDto[]
}

/** An offer to replicate: published by a logged-in account (outgoing) or to one (incoming, verified in the offerer's repo). */
export interface OfferDto {
  offerer: string
  subject: string
  direction: 'outgoing' | 'incoming'
  /** `at://offerer/org.p2pds.replication.offer/rkey` */
  uri: string
  /** Incoming offers: pending, accepted, or denied (kept; accepting later undoes it). Outgoing: accepted. */
  decision: 'pending' | 'accepted' | 'denied'
  /** ISO time the node learnt of it. */
  createdAt: string
  intervalSec: number | null
  minCopies: number | null
}

/** Why the node holds a DID: an agreement (reciprocal), a one-way archive, or configuration. */
export interface AgreementDto {
  id: string
  type: 'reciprocal' | 'archive' | 'config'
  /** The DID replicated. */
  did: string
  /** The local account of a reciprocal agreement, else null. */
  localDid: string | null
  state: 'proposed' | 'active' | 'suspended' | 'terminated' | 'purged'
  /** 'unconsented' is an archive of public data without the account's consent record: shown as such. */
  consent: 'reciprocal' | 'consented' | 'unconsented' | 'revoked'
  intervalSec: number | null
  minCopies: number | null
  retentionDays: number | null
  /** ISO time the replicated data is purged (a dissolved agreement), or null. */
  purgeAt: string | null
  /** ISO time of the last change. */
  updatedAt: string
}

/** Offers and agreements, returned by `offers.list`. */
export interface OffersDto {
  incoming: OfferDto[]
  outgoing: OfferDto[]
  agreements: AgreementDto[]
}

/** A policy with everything it sets (`policies.list`). */
export interface PolicyDto extends AgreementDto {
  /** PeerIDs to fetch blocks from first. */
  preferredPeers: string[]
}

/**
 * Input of `policies.update`: the policy (`PolicyDto.id`) and the fields to set. An absent field
 * stays as it is; null clears a number (the node's default applies again); `preferredPeers`
 * replaces the list (`[]` clears it).
 */
export interface PolicyUpdateDto {
  id: string
  /** Longest time between syncs, 60 s to a year. */
  intervalSec?: number | null
  /** Copies of the data wanted, 1 to 64. */
  minCopies?: number | null
  /** Days of history kept, 1 to 36500. */
  retentionDays?: number | null
  /** PeerIDs to fetch blocks from first, at most 64. */
  preferredPeers?: string[]
}

/** What the active policies of one held DID add up to, as the node applies it. */
export interface EffectivePolicyDto {
  did: string
  /** max over the policies; null when none says. */
  minCopies: number | null
  /** min over the policies: the account's sync period; null means SYNC_INTERVAL_SEC. */
  intervalSec: number | null
  /** max over the policies: kept history older than this is pruned after each sync; null keeps all. */
  retentionDays: number | null
  /** Union over the policies. */
  preferredPeers: string[]
  /** PeerIDs to ask for blocks, in order: the preferred ones, then the other known peers holding the DID. */
  fetchOrder: string[]
  /** Ids of the policies merged. */
  from: string[]
}

/** "Is my data safe?" for one logged-in account. */
export interface DataSafetyDto {
  did: string
  /** Copies wanted: max(minCopies) of the account's agreements, else 1. */
  wanted: number
  /** Copies counted (see `basis`). */
  copies: number
  /** 'challenges': peers whose latest storage challenge of the account passed; 'agreements': no challenge yet, active agreements counted (promised, not verified). */
  basis: 'challenges' | 'agreements'
  safe: boolean
  /** One sentence for people. */
  sentence: string
}

/** One known copy in a group: `holder`'s node holds `subject`. */
export interface GroupHoldingDto {
  holder: string
  subject: string
  /** 'verified': held on this node for a logged-in holder, latest verification passed; 'held': held, not verified yet; 'promised': an active agreement, not verified here. */
  status: 'verified' | 'held' | 'promised'
}

/** A group: a named list of DIDs kept on this node. */
export interface GroupDto {
  name: string
  /** DIDs, in the order given. */
  members: string[]
  /** ISO times. */
  createdAt: string
  updatedAt: string
  /** Who holds a copy of whom, as far as this node can know; pairs it knows nothing of are absent. */
  holdings: GroupHoldingDto[]
}

/** What joining a group did. */
export interface GroupJoinDto {
  name: string
  /** The account that joined (published the offers). */
  as: string
  /** Members offered to now. */
  offered: string[]
  /** Members offered to before. */
  already: string[]
  /** Members whose offer failed, each with why. */
  failed: Array<{ did: string; error: ErrorDto }>
}

/** Policies, what they add up to per DID, and the safety of each logged-in account (`policies.list`). */
export interface PoliciesDto {
  policies: PolicyDto[]
  effective: EffectivePolicyDto[]
  safety: DataSafetyDto[]
}

/** The methods a user interface may call, grouped by area. Every input and output is JSON-safe. */
// --- Peers and storage challenges (issue 6) --------------------------------------------------

/** This node on the peer network. */
export interface NetworkInfoDto {
  /** Helia (IPFS) is on. */
  enabled: boolean
  /** libp2p networking is on. */
  networking: boolean
  /** libp2p PeerID (stable: the key lives in the data dir). */
  peerId: string
  /** Multiaddrs peers can dial, each ending in /p2p/<peerId>. */
  multiaddrs: string[]
  /** Peers connected now. */
  connections: number
}

/** Where a peer stands after its recent challenges. */
export type PeerHealthDto = 'unknown' | 'ok' | 'degraded' | 'failing'

/** A peer this node knows, with its reliability. */
export interface PeerDto {
  id: number
  peerId: string | null
  multiaddrs: string[]
  endpoint: string | null
  source: 'manual' | 'agreement'
  /** DIDs it is known to hold. */
  dids: string[]
  /** ISO times. */
  addedAt: string
  lastSeenAt: string | null
  /** A libp2p connection to it is open now. */
  connected: boolean
  /** Share of its recent challenges passed (0–1), or null before any. */
  score: number | null
  health: PeerHealthDto
  /** What failed, when and how often, in sentences. */
  explanation: string
  /** Challenges counted in the score, and passed. */
  considered: number
  passed: number
}

/** How likely the configured challenges are to catch a peer that lost data. */
export interface DetectionDto {
  /** Blocks sampled per L2 round (k). */
  blockSamples: number
  /** Record paths per L3 round. */
  pathSamples: number
  /** Loss fraction and rounds the figure is for (5 %, 10 rounds). */
  lossFraction: number
  rounds: number
  /** 1 − (1 − f)^(k·rounds). */
  probability: number
  /** Period of scheduled rounds, seconds (0 = off). */
  intervalSec: number
  /** Time a peer has to answer, ms. */
  deadlineMs: number
}

/** The peer page: this node, its peers, and the detection figure. */
export interface PeersDto {
  self: NetworkInfoDto
  peers: PeerDto[]
  detection: DetectionDto
}

/** One storage challenge and its result. */
export interface ChallengeResultDto {
  id: number
  /** Local peer id, and its PeerID when known. */
  peer: number
  peerId: string | null
  did: string
  level: 'L2' | 'L3'
  transport: 'libp2p' | 'http' | 'none'
  ok: boolean
  /** Why it failed (e.g. `missing-block`, `wrong-challenge`, `late`), or null. */
  reason: string | null
  /** One sentence. */
  message: string
  samples: number
  commit: string | null
  rev: string | null
  durationMs: number
  /** ISO time. */
  at: string
}

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
  settings: {
    /** Every setting with its effective value and where it comes from, the data folder, and storage usage. */
    get(): Promise<SettingsDto>
    /**
     * Saves some settings (and forgets the saved value of those in `reset`) in one transaction;
     * those that apply at once do so before it resolves. Refused, saving nothing, when any value
     * is invalid or set by a flag, the environment or `.env` (`ERR_SETTING_LOCKED`).
     */
    update(input: SettingsUpdateDto): Promise<SettingsDto>
  }
  auth: {
    /**
     * Starts an OAuth login: returns the authorization URL for the host to open (a new tab, or the
     * system browser). The login completes when the browser comes back to the node: `auth:changed`.
     */
    login(input: { handle: string }): Promise<{ url: string }>
    /** Logs in with an app password (for servers and scripts); the password is kept sealed. */
    loginAppPassword(input: { identifier: string; password: string }): Promise<LoginDto>
    /** Logged-in accounts and whether OAuth is available. */
    status(): Promise<AuthStatusDto>
    /** Logged-in accounts, first logged in first. */
    list(): Promise<LoginDto[]>
    /** Logs out: revokes the session at the PDS and forgets it. */
    logout(input: { did: string }): Promise<void>
  }
  offers: {
    /** Incoming and outgoing offers and every policy (agreements, archives, configuration). */
    list(): Promise<OffersDto>
    /**
     * Publishes an offer to `target` in the repo of the account `as` (the only one logged in when
     * absent) and notifies the target's node. Mutual offers become an agreement on both nodes.
     */
    offer(input: { target: string; as?: string; intervalSec?: number; minCopies?: number; retentionDays?: number }): Promise<OfferDto>
    /** Accepts an incoming offer: publishes the reciprocal offer and notifies back. Also undoes a denial. */
    accept(input: { did: string; as?: string }): Promise<OfferDto>
    /** Denies an incoming offer (remembered; `accept` later undoes it). Publishes nothing. */
    deny(input: { did: string; as?: string }): Promise<OfferDto>
    /** Deletes the offer to `did`: the agreement dissolves on both nodes and `did`'s data is purged after PURGE_GRACE_SEC. */
    revoke(input: { did: string; as?: string }): Promise<void>
    /** Reads the repos of every account offered to now (what the periodic check does). */
    check(): Promise<OffersDto>
    /** Purges now the data of a dissolved agreement, instead of at the end of its grace period. */
    purgeNow(input: { did: string }): Promise<void>
    /** Publishes (on) or deletes (off) `org.p2pds.replication.consent/self` of the account `as`. */
    consent(input: { on: boolean; as?: string }): Promise<{ did: string; consent: boolean }>
    /** Archives an account one-way: consented when it has a consent record, else labelled unconsented. */
    archive(input: { handleOrDid: string }): Promise<AgreementDto>
  }
  policies: {
    /** Every policy, the merged policy of each held DID, and "is my data safe?" for each logged-in account. */
    list(): Promise<PoliciesDto>
    /**
     * Sets fields of an archive or reciprocal policy and returns it. It takes effect at once: the
     * account's next sync is re-planned from its merged interval (`offers:changed` is emitted),
     * and retention applies after its next sync. Refused, changing nothing, for a value out of
     * range (`ERR_INVALID_INPUT`), an unknown or purged policy, or a config policy, which comes
     * from REPLICATE_DIDS or POLICY_FILE (`ERR_POLICY`).
     */
    update(input: PolicyUpdateDto): Promise<PolicyDto>
  }
  groups: {
    /** Every group, by name, with who holds a copy of whom. */
    list(): Promise<GroupDto[]>
    /** Makes a group of handles or DIDs (resolved now). Refused (`ERR_GROUP`) when the name is taken or a member is not an account. */
    create(input: { name: string; members: string[] }): Promise<GroupDto>
    /** Forgets a group; offers made when joining stay. */
    remove(input: { name: string }): Promise<void>
    /** Offers, as the account `as`, to every member not offered to yet. */
    join(input: { name: string; as?: string }): Promise<GroupJoinDto>
  }
  export: {
    /** Writes a CAR of the head (or a kept rev) to an absolute path. */
    car(input: { did: string; path: string; rev?: string }): Promise<ExportResultDto>
    /** Writes every stored blob to a folder, one file each, plus manifest.json. */
    blobs(input: { did: string; dir: string }): Promise<ExportResultDto>
  }
  plc: {
    /** The PLC mirror state of every held did:plc account. */
    list(): Promise<PlcLogStatusDto[]>
    /** The held, validated PLC log of one account, with its status. */
    getLog(input: { did: string }): Promise<PlcLogDto>
    /** Fetches and validates the log now (directory, else peers); failures are in the status returned. */
    refresh(input: { did: string }): Promise<PlcLogStatusDto>
  }
  lexicons: {
    /** NSIDs seen in held records, most records first; `q` keeps those starting with it. */
    list(input?: { q?: string; limit?: number; cursor?: string }): Promise<{ lexicons: LexiconDto[]; cursor: string | null }>
    /** Totals of the lexicon index. */
    stats(): Promise<LexiconStatsDto>
  }
  recovery: {
    /** The DID's rotation keys (validated PLC log), marking those held here. */
    listRotationKeys(input: { did: string }): Promise<RotationKeysDto>
    /** Makes a secp256k1 key, keeps a sealed copy, and returns it once as phrase and key file. */
    newRotationKey(input?: { did?: string }): Promise<NewRotationKeyDto>
    /** Keeps a sealed copy of a key given as key file hex or phrase. */
    importRotationKey(input: { key: string; did?: string }): Promise<{ didKey: string }>
    /**
     * Adds a held key to the DID's PLC document through its PDS: without `token` the PDS emails one
     * (`token-sent`); with it, the PDS signs and submits the operation, then the document is re-read.
     * `password` signs in when no session is held (the account password: PLC changes need full access).
     */
    addRotationKey(input: { did: string; didKey: string; token?: string; password?: string }): Promise<AddRotationKeyResultDto>
    /** Dry run of a restore: checks everything, changes nothing. */
    restorePlan(input: RestorePlanInput): Promise<RestorePlanDto>
    /** Runs or resumes a restore to a new PDS; progress as `recovery:progress`. */
    restoreStart(input: RestorePlanInput & { email: string; password: string }): Promise<RestoreStatusDto>
    /** The stored state of a DID's restore, or null. */
    restoreStatus(input: { did: string }): Promise<RestoreStatusDto | null>
    /** Writes the recovery kit (CAR, blobs, PLC log, README) to a folder. */
    exportKit(input: { did: string; dir: string }): Promise<RecoveryKitDto>
  }
  peers: {
    /** This node on the peer network, every known peer with connection state and score, and the detection figure. */
    list(): Promise<PeersDto>
    /**
     * Adds a peer by libp2p multiaddr (ending in /p2p/<PeerID>) and/or peer-facing endpoint URL,
     * with the DIDs it holds; merges into an existing entry with the same PeerID or endpoint.
     */
    add(input: { multiaddr?: string; endpoint?: string; dids?: string[] }): Promise<PeerDto>
    /** Forgets a peer and its challenge history. */
    remove(input: { id: number }): Promise<void>
    /** Challenges one peer (or every peer known to hold the DID) now, L2 and L3, at this node's head. */
    challenge(input: { did: string; peer?: number }): Promise<ChallengeResultDto[]>
    /** Challenge history, newest first, for a DID or a peer (or all). */
    history(input?: { did?: string; peer?: number; limit?: number }): Promise<ChallengeResultDto[]>
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
  /** An account logged in or out, or its session or peer record could not be refreshed (`error`). */
  'auth:changed': { did: string; loggedIn: boolean; error?: ErrorDto }
  /** Offers or agreements changed (`did`: the other account), or a background step failed (`error`). */
  'offers:changed': { did: string; error?: ErrorDto }
  /** A setting was saved or reset (the new state of every setting). */
  'settings:changed': SettingsDto
  /** Stored data reached 90% of the storage cap (`warning`) or the cap (`full`: new syncs are refused). */
  'storage:warning': StorageUsageDto
  /** A PLC log refresh ended (the held log changed, or the attempt failed: see `validation`). */
  'plc:changed': PlcLogStatusDto
  /** The lexicon index changed (after a sync, a firehose commit or a removal). */
  'lexicons:changed': LexiconStatsDto
  /** A restore step started, progressed, finished or failed. */
  'recovery:progress': RestoreProgressDto
  /** A storage challenge ended (passed or failed). */
  'challenge:completed': ChallengeResultDto
  /** A peer was added, removed or changed health. */
  'peers:changed': { id: number }
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
  'auth.login',
  'auth.loginAppPassword',
  'auth.status',
  'auth.list',
  'auth.logout',
  'offers.list',
  'offers.offer',
  'offers.accept',
  'offers.deny',
  'offers.revoke',
  'offers.check',
  'offers.purgeNow',
  'offers.consent',
  'offers.archive',
  'policies.list',
  'policies.update',
  'groups.list',
  'groups.create',
  'groups.remove',
  'groups.join',
  'settings.get',
  'settings.update',
  'plc.list',
  'plc.getLog',
  'plc.refresh',
  'lexicons.list',
  'lexicons.stats',
  'recovery.listRotationKeys',
  'recovery.newRotationKey',
  'recovery.importRotationKey',
  'recovery.addRotationKey',
  'recovery.restorePlan',
  'recovery.restoreStart',
  'recovery.restoreStatus',
  'recovery.exportKit',
  'peers.list',
  'peers.add',
  'peers.remove',
  'peers.challenge',
  'peers.history',
] as const satisfies readonly ApiMethodName[]

/** Every event name pushed to user interfaces. */
export const API_EVENTS = ['node:status', 'sync:progress', 'sync:completed', 'sync:failed', 'accounts:changed', 'sync:state', 'auth:changed', 'offers:changed', 'settings:changed', 'storage:warning', 'plc:changed', 'lexicons:changed', 'recovery:progress', 'challenge:completed', 'peers:changed'] as const satisfies readonly ApiEventName[]

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
  /** Launch at login and what the host can do for Settings. */
  settings(): Promise<HostSettingsDto>
  /** Turns launch at login on or off (desktop only; refused with `ERR_NOT_SUPPORTED` elsewhere). */
  setLaunchAtLogin(input: { enabled: boolean }): Promise<HostSettingsDto>
  /** Opens the data folder in the file manager (desktop only; refused with `ERR_NOT_SUPPORTED` elsewhere). */
  openDataFolder(): Promise<void>
}

/** The host's methods; in Electron each is an IPC channel (`p2pds:host.saveCar`) handled by main. */
export const HOST_METHODS = ['saveCar', 'saveBlobs', 'settings', 'setLaunchAtLogin', 'openDataFolder'] as const satisfies ReadonlyArray<Exclude<keyof P2pdsHostApi, 'kind'>>

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

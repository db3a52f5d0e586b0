/**
 * Value types of the replication layer. Everything here is JSON-safe (CIDs as strings), so the
 * API can pass summaries and progress straight to a user interface.
 */
import type { AbortOptions } from '../storage/types.js'
import type { FetchLike } from './pds-client.js'

export type { FetchLike }

/** Steps of a sync, in order. */
export type SyncPhase = 'requesting' | 'downloading' | 'verifying' | 'storing' | 'done'

/** Progress of one sync, for a progress bar. */
export interface SyncProgress {
  did: string
  /** The current step. */
  phase: SyncPhase
  /** Blocks received so far. */
  blocks: number
  /** Bytes received so far. */
  bytes: number
  /** Bytes expected, when the PDS announced a length. */
  totalBytes?: number
}

/** How to sync. */
export interface SyncOptions extends AbortOptions {
  /** `fetch` used for every request to the PDS (the node passes its SSRF-safe fetch). @default globalThis.fetch */
  fetch?: FetchLike
  /**
   * `auto`: a diff since the local head when there is one (`getRepo?since=`), falling back to the
   * whole repository when the PDS cannot serve it; `full`: always the whole repository.
   * @default 'auto'
   */
  mode?: 'auto' | 'full'
  /** Called as the sync advances (throttled to every few hundred blocks while downloading). */
  onProgress?(progress: SyncProgress): void
  /** Clock. @default Date.now */
  now?: () => number
}

/** What a sync did. */
export interface SyncSummary {
  did: string
  /** `full`: whole repository; `diff`: changes since the local head; `unchanged`: the PDS had nothing newer. */
  mode: 'full' | 'diff' | 'unchanged'
  /** A diff was asked for, the PDS could not serve it, and the whole repository was fetched. */
  fellBackToFull: boolean
  /** The head after the sync: revision, commit CID and MST root CID. */
  rev: string
  cid: string
  dataCid: string
  /** Record changes applied to the head (a first sync counts every record as created). */
  creates: number
  updates: number
  deletes: number
  /** Bytes of HTTP response bodies read (all requests of this sync, after content decoding). */
  bytesReceived: number
  /** Blocks received (all requests of this sync). */
  blocksReceived: number
  /** Blocks newly written to the block store (others were already stored), and their bytes. */
  blocksStored: number
  bytesStored: number
  /** Blob CIDs this account newly references (now tracked for the blob sync). */
  newBlobs: string[]
  /** Wall time of the whole sync. */
  durationMs: number
}

/** A record listed from the head or a kept revision. */
export interface RecordListItem {
  /** `at://did/collection/rkey` */
  uri: string
  /** Collection NSID. */
  collection: string
  /** Record key. */
  rkey: string
  /** CID of the record block. */
  cid: string
}

/** One page of records. */
export interface RecordPage {
  records: RecordListItem[]
  /** Pass as `cursor` for the next page; null at the end. */
  cursor: string | null
}

/** A record read from the backup, decoded to JSON-safe form. */
export interface RecordValue extends RecordListItem {
  /** The revision read from. */
  rev: string
  /** The record in atproto JSON: CIDs as `{$link}`, bytes as `{$bytes}` (base64). */
  value: unknown
}

/**
 * Blob sync: every blob the account's PDS lists (`com.atproto.sync.listBlobs`, paged) and every
 * blob its records reference is fetched with `com.atproto.sync.getBlob`, streamed, checked against
 * its CID and stored in the block store, with bounded concurrency.
 *
 * - Resumable: state lives in the repo store (`pending` → `stored` | `failed`), so an interrupted
 *   run leaves the blobs it had stored and the next run fetches only the rest.
 * - Nothing is skipped silently: a blob that cannot be fetched is `failed` with the reason.
 * - Transient failures (network, a download broken off mid-body, HTTP 5xx/429) are retried with
 *   exponential backoff and jitter; a refusal (4xx such as BlobNotFound, a CID mismatch, a blob
 *   over the size limit) is not retried within the run.
 * - Memory: a blob is held whole once (SQLite needs it in one piece): when the PDS announces the
 *   (unencoded) length, the body is copied into one buffer of that length as it arrives and hashed
 *   chunk by chunk. Without a length, chunks are joined once at the end (briefly twice in memory).
 * - Cancellation: when the signal fires, `syncBlobs` rejects with `AbortError` only once every
 *   fetch in flight has stopped, so nothing is written after it settles; no blob is marked
 *   `failed` because of an abort.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { AbortError, P2pdsError, PdsRequestError, throwIfAborted } from '../errors.js'
import type { AbortOptions, BlobInfo, RepoStore } from '../storage/types.js'
import { isPdsUnreachable, responseBody, xrpcGet, type FetchLike } from './pds-client.js'
import { sleep } from '../timers.js'

/** Progress of a blob sync. */
export interface BlobSyncProgress {
  did: string
  /** Blobs stored in this run plus those already stored. */
  done: number
  /** Blobs the account references (known once listing is finished). */
  total: number
  /** Bytes received in this run. */
  bytes: number
}

export interface BlobSyncOptions extends AbortOptions {
  did: string
  pdsUrl: string
  repos: RepoStore
  /** @default globalThis.fetch */
  fetch?: FetchLike
  /** Blobs fetched at once. @default 4 */
  concurrency?: number
  /** Attempts per blob in this run for transient failures. @default 3 */
  attempts?: number
  /** First retry delay in ms, doubled each time (with jitter). @default 500 */
  backoffMs?: number
  /** Largest blob accepted. @default 512 MiB */
  maxBlobBytes?: number
  /** Also retry blobs that failed in earlier runs. @default true */
  retryFailed?: boolean
  /**
   * Fetch only these blobs (CIDs the account already tracks, e.g. those new records of a firehose
   * commit reference), without listing the PDS's blobs or the account's: the cost is the new
   * blobs', not the account's. `total` and `alreadyStored` then count only these.
   * @default every blob of the account
   */
  only?: Iterable<string>
  onProgress?(progress: BlobSyncProgress): void
  /**
   * Another source of a blob's bytes (peers holding the account, over bitswap), asked once when the
   * PDS could not serve it. When set, a PDS that cannot be reached to list blobs does not fail the
   * run: the blobs the records reference are fetched from here. The bytes are checked against the
   * CID as any others. @default none
   */
  fromPeers?(cid: string, options: AbortOptions): Promise<Uint8Array>
  /** @default Math.random */
  random?: () => number
}

export interface BlobSyncSummary {
  did: string
  /** Blobs stored in this run. */
  fetched: number
  /** Blobs that could not be fetched (state `failed`, with the reason). */
  failed: number
  /** Blobs already stored before this run. */
  alreadyStored: number
  /** Bytes received in this run. */
  bytesReceived: number
  /** Blobs the PDS lists that no record references (kept too: restoring needs nothing less). */
  listed: number
}

/** A blob fetch that must not be retried (the answer will not change). */
class PermanentBlobError extends P2pdsError {
  override name = 'PermanentBlobError'
  override readonly code = 'ERR_BLOB_REFUSED'
}

/** Lists every blob CID of the account from its PDS, following cursors. */
export async function listPdsBlobs(target: { did: string; pdsUrl: string; fetch?: FetchLike; signal?: AbortSignal }): Promise<string[]> {
  const method = 'com.atproto.sync.listBlobs'
  const cids: string[] = []
  let cursor: string | undefined
  for (let page = 0; page < 100_000; page++) {
    const params: Record<string, string> = { did: target.did, limit: '1000' }
    if (cursor !== undefined) params.cursor = cursor
    const res = await xrpcGet(target, method, params, 'application/json')
    const body = (await res.json().catch(() => null)) as { cids?: unknown; cursor?: unknown } | null
    if (body === null || !Array.isArray(body.cids)) {
      throw new PdsRequestError(target.did, method, new URL(target.pdsUrl).origin, res.status, null, 'the answer has no list of blobs')
    }
    for (const c of body.cids) if (typeof c === 'string' && isRawCid(c)) cids.push(c)
    if (typeof body.cursor !== 'string' || body.cursor === '' || body.cids.length === 0) break
    cursor = body.cursor
  }
  return cids
}

function isRawCid(s: string): boolean {
  try {
    return CID.parse(s).code === 0x55
  } catch {
    return false
  }
}

/** Fetches every blob the account is missing. Never rejects for a single blob; see the summary. */
export async function syncBlobs(options: BlobSyncOptions): Promise<BlobSyncSummary> {
  const { did, repos, signal } = options
  const concurrency = Math.max(1, options.concurrency ?? 4)
  throwIfAborted(signal)

  const todo: BlobInfo[] = []
  /** The PDS could not list blobs: blobs go straight to the peers. */
  let pdsGone = false
  let alreadyStored = 0
  let newlyTracked = 0
  if (options.only !== undefined) {
    for (const cid of new Set(options.only)) {
      const b = await repos.getBlob(did, cid, { signal })
      if (b === null) continue
      if (b.state === 'stored') alreadyStored++
      else if (b.state === 'pending' || options.retryFailed !== false) todo.push(b)
    }
  } else {
    let listed: string[] = []
    try {
      listed = await listPdsBlobs(options)
    } catch (err) {
      // With peers to ask, a PDS that is gone still leaves the blobs the records reference.
      if (options.fromPeers === undefined || !isPdsUnreachable(err)) throw err
      pdsGone = true
    }
    newlyTracked = await repos.trackBlobs(did, listed.map((cid) => ({ cid })), { signal })
    for (let after: string | undefined; ; ) {
      const page = await repos.listBlobs(did, { limit: 1000, after, signal })
      for (const b of page) {
        if (b.state === 'stored') alreadyStored++
        else if (b.state === 'pending' || options.retryFailed !== false) todo.push(b)
      }
      if (page.length < 1000) break
      after = page.at(-1)!.cid
    }
  }

  const total = alreadyStored + todo.length
  let done = alreadyStored
  let bytes = 0
  let fetched = 0
  let failed = 0
  options.onProgress?.({ did, done, total, bytes })

  let next = 0
  // After the first error (an abort, or a storage failure) no worker takes another blob.
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped && next < todo.length) {
      throwIfAborted(signal)
      const blob = todo[next++]!
      const stored = await fetchOne(options, blob, pdsGone, (n) => {
        bytes += n
      })
      if (stored) {
        fetched++
        done++
      } else {
        failed++
      }
      options.onProgress?.({ did, done, total, bytes })
    }
  }
  // allSettled, not all: rejecting while other workers still run would let them write after the
  // caller was told the sync ended.
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(concurrency, todo.length) }, () =>
      worker().catch((err: unknown) => {
        stopped = true
        throw err
      }),
    ),
  )
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown)
  if (rejected.length > 0) throw rejected.find((e) => !(e instanceof AbortError)) ?? rejected[0]
  return { did, fetched, failed, alreadyStored, bytesReceived: bytes, listed: newlyTracked }
}

/** Fetches and stores one blob, retrying transient failures. Resolves false when it failed. */
async function fetchOne(options: BlobSyncOptions, blob: BlobInfo, pdsGone: boolean, onBytes: (n: number) => void): Promise<boolean> {
  const attempts = pdsGone ? 0 : Math.max(1, options.attempts ?? 3)
  const backoff = options.backoffMs ?? 500
  const random = options.random ?? Math.random
  let lastError: unknown = new PdsRequestError(options.did, 'com.atproto.sync.listBlobs', new URL(options.pdsUrl).origin, null, null, 'the PDS could not be reached')
  for (let attempt = 1; attempt <= attempts; attempt++) {
    throwIfAborted(options.signal)
    try {
      const downloaded = await downloadBlob(options, blob.cid, onBytes)
      // The type the records declare wins; the PDS's Content-Type only fills a gap.
      const mimeType = blob.mimeType ?? downloaded.mimeType
      await options.repos.storeBlob(options.did, blob.cid, downloaded.bytes, { signal: options.signal, ...(mimeType === null ? {} : { mimeType }) })
      return true
    } catch (err) {
      if (err instanceof AbortError || options.signal?.aborted === true) throw new AbortError()
      lastError = err
      if (!isTransient(err) || attempt === attempts) break
      const delay = backoff * 2 ** (attempt - 1) * (0.5 + random())
      await sleep(delay, options.signal)
    }
  }
  if (options.fromPeers !== undefined) {
    try {
      const bytes = await options.fromPeers(blob.cid, { signal: options.signal })
      if (bytes.byteLength > (options.maxBlobBytes ?? 512 * 1024 * 1024)) throw new PermanentBlobError(`Blob ${blob.cid} from a peer is over the size limit.`)
      // storeBlob checks the bytes against the CID: a peer cannot substitute anything.
      await options.repos.storeBlob(options.did, blob.cid, bytes, { signal: options.signal, ...(blob.mimeType === null ? {} : { mimeType: blob.mimeType }) })
      onBytes(bytes.byteLength)
      return true
    } catch (err) {
      if (err instanceof AbortError || options.signal?.aborted === true) throw new AbortError()
      // The PDS's reason is the one reported: peers are a second chance, not the source.
    }
  }
  await options.repos.recordBlobFailure(options.did, blob.cid, reasonOf(lastError), { signal: options.signal })
  return false
}

async function downloadBlob(options: BlobSyncOptions, cid: string, onBytes: (n: number) => void): Promise<{ bytes: Uint8Array; mimeType: string | null }> {
  const method = 'com.atproto.sync.getBlob'
  const max = options.maxBlobBytes ?? 512 * 1024 * 1024
  let expected: CID
  try {
    expected = CID.parse(cid)
  } catch (err) {
    throw new PermanentBlobError(`Blob ${cid} has a malformed CID; it cannot be fetched.`, { cause: err })
  }
  if (expected.multihash.code !== 0x12) throw new PermanentBlobError(`Blob ${cid} does not use SHA-256; it cannot be checked.`)
  let res: Response
  try {
    res = await xrpcGet(options, method, { did: options.did, cid }, '*/*')
  } catch (err) {
    if (err instanceof PdsRequestError && err.status !== null && err.status >= 400 && err.status < 500 && err.status !== 429) {
      throw new PermanentBlobError(`The PDS does not have blob ${cid} (HTTP ${err.status}${err.xrpcError === null ? '' : ` ${err.xrpcError}`}).`, { cause: err })
    }
    throw err
  }
  // Content-Length counts the bytes on the wire: with a Content-Encoding, fetch hands us the
  // decoded body, whose length is unknown until the end.
  const encoding = res.headers.get('content-encoding')
  const lengthHeader = encoding === null || encoding === 'identity' ? res.headers.get('content-length') : null
  const declared = lengthHeader !== null && /^\d{1,16}$/.test(lengthHeader.trim()) ? Number(lengthHeader) : NaN
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined)
    throw new PermanentBlobError(`Blob ${cid} is ${declared} bytes, over the ${max}-byte limit.`)
  }
  const hash = createHash('sha256')
  // One buffer of the announced size; without a length, chunks are joined once at the end.
  let buffer: Uint8Array | undefined = Number.isFinite(declared) ? new Uint8Array(declared) : undefined
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of responseBody(options, method, res, onBytes)) {
    if (size + chunk.byteLength > max) throw new PermanentBlobError(`Blob ${cid} is over the ${max}-byte limit.`)
    if (buffer !== undefined && size + chunk.byteLength > buffer.byteLength) {
      throw new PdsRequestError(options.did, method, new URL(options.pdsUrl).origin, res.status, null, 'the blob is longer than the PDS announced')
    }
    hash.update(chunk)
    if (buffer !== undefined) buffer.set(chunk, size)
    else chunks.push(chunk)
    size += chunk.byteLength
  }
  if (buffer !== undefined && size !== buffer.byteLength) {
    throw new PdsRequestError(options.did, method, new URL(options.pdsUrl).origin, res.status, null, `the blob broke off after ${size} of ${buffer.byteLength} bytes`)
  }
  buffer ??= Buffer.concat(chunks, size)
  const digest = hash.digest()
  if (!Buffer.from(expected.multihash.digest).equals(digest)) {
    throw new PermanentBlobError(`The PDS sent bytes for blob ${cid} that do not match its CID.`)
  }
  return { bytes: buffer, mimeType: res.headers.get('content-type') }
}

function isTransient(err: unknown): boolean {
  if (err instanceof PermanentBlobError) return false
  // No answer (null), a server error, rate limiting, or a 2xx whose body broke off or ran short.
  if (err instanceof PdsRequestError) return err.status === null || err.status >= 500 || err.status === 429 || (err.status >= 200 && err.status < 300)
  // Errors the safe fetch classifies (timeouts, refused addresses) and storage errors.
  if (err instanceof P2pdsError) return err.code === 'ERR_FETCH_TIMEOUT' || err.code === 'ERR_FETCH_FAILED'
  return true
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

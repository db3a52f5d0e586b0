/**
 * Verification of a backup, levels L0 and L1 (see the architecture notes):
 *
 * - L0 compares the local head with the source PDS's `com.atproto.sync.getLatestCommit`;
 * - L1 re-reads a random sample of the account's local blocks and re-hashes each against its CID.
 *
 * Every run is stored (`RepoStore.recordVerification`) with its time and details, and returned.
 */
import { randomInt } from 'node:crypto'
import { AbortError, throwIfAborted, toErrorDto, UnknownAccountError } from '../errors.js'
import { checkBlock } from '../storage/cid.js'
import type { AbortOptions, RepoStorage, VerificationResult } from '../storage/types.js'
import { getLatestCommit, type FetchLike } from './pds-client.js'

/** How the local head compares with the PDS's. */
export type HeadStatus = 'match' | 'behind' | 'ahead' | 'diverged' | 'no-backup' | 'unreachable'

/** Options of {@link verifyHead}. */
export interface VerifyHeadOptions extends AbortOptions {
  /** @default globalThis.fetch */
  fetch?: FetchLike
  /** @default Date.now */
  now?: () => number
}

/**
 * L0: asks the account's PDS for its latest commit and compares it with the local head. `ok` only
 * when they are the same commit; details say `behind` (the PDS has newer data: sync),
 * `ahead` (the PDS went back to an older revision), `diverged` (same rev, different commit),
 * `no-backup` or `unreachable` (with the error).
 */
export async function verifyHead(storage: RepoStorage, did: string, options: VerifyHeadOptions = {}): Promise<VerificationResult> {
  const { signal } = options
  throwIfAborted(signal)
  const now = options.now ?? Date.now
  const account = await storage.repos.getAccount(did, { signal })
  if (account === null) throw new UnknownAccountError(did)
  const local = account.head === null ? null : { cid: account.head.cid, rev: account.head.rev }
  let details: Record<string, unknown>
  try {
    const remote = await getLatestCommit({ did, pdsUrl: account.pdsUrl, fetch: options.fetch, signal })
    let status: HeadStatus
    if (local === null) status = 'no-backup'
    else if (remote.cid === local.cid) status = 'match'
    else if (remote.rev > local.rev) status = 'behind'
    else if (remote.rev < local.rev) status = 'ahead'
    else status = 'diverged'
    details = { status, local, remote, pdsUrl: account.pdsUrl }
  } catch (err) {
    if (err instanceof AbortError || signal?.aborted === true) throw new AbortError()
    details = { status: 'unreachable' satisfies HeadStatus, local, remote: null, pdsUrl: account.pdsUrl, error: toErrorDto(err) }
  }
  const result: VerificationResult = { did, level: 'L0', ok: details.status === 'match', details, at: now() }
  await storage.repos.recordVerification(result, { signal })
  return result
}

/** Options of {@link verifyBlocks}. */
export interface VerifyBlocksOptions extends AbortOptions {
  /** Blocks to re-hash (all of them when the account has fewer). @default 64 */
  sampleSize?: number
  /** Seed of the sample, for a reproducible run. @default a random seed (recorded in the details) */
  seed?: number
  /** @default Date.now */
  now?: () => number
}

/**
 * L1: re-hashes a random sample of the account's blocks (repository blocks and stored blobs).
 * `ok` when every sampled block is present and matches its CID; details list the `missing` and
 * `corrupt` CIDs and the `seed` used.
 */
export async function verifyBlocks(storage: RepoStorage, did: string, options: VerifyBlocksOptions = {}): Promise<VerificationResult> {
  const { signal } = options
  throwIfAborted(signal)
  const now = options.now ?? Date.now
  if ((await storage.repos.getAccount(did, { signal })) === null) throw new UnknownAccountError(did)
  const sampleSize = options.sampleSize ?? 64
  const seed = options.seed ?? randomInt(2 ** 31)
  const sample = await storage.repos.sampleBlocks(did, sampleSize, mulberry32(seed), { signal })
  const missing: string[] = []
  const corrupt: string[] = []
  // A few at a time, so a big blob in the sample does not pull many others into memory with it.
  for (let i = 0; i < sample.length; i += 16) {
    throwIfAborted(signal)
    const found = await storage.blocks.getBlocks(sample.slice(i, i + 16), { signal })
    missing.push(...found.missing)
    for (const [cid, bytes] of found.blocks) if (checkBlock(cid, bytes) !== null) corrupt.push(cid)
  }
  const result: VerificationResult = {
    did,
    level: 'L1',
    ok: missing.length === 0 && corrupt.length === 0,
    details: { seed, sampleSize, checked: sample.length, missing, corrupt },
    at: now(),
  }
  await storage.repos.recordVerification(result, { signal })
  return result
}

/** A small seedable PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

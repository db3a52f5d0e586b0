/**
 * Checking one firehose `#commit` of a held account the way sync v1.1 asks a relay to, then
 * deciding what to do with it against the local head:
 *
 * 1. the CAR slice reads with every block matching its CID, and its root is the event's `commit`;
 * 2. the commit is v3, names the event's `repo`, and is signed by the account's key
 *    (as `checkCommit` does, with the signature checked natively: firehose-sig.ts; the caller
 *    re-resolves the key once when the signature fails);
 * 3. the commit's rev is the event's `rev`, and not more than {@link MAX_FUTURE_MS} ahead of now;
 * 4. the rev is newer than the local head (an older or equal one is a duplicate when it is a commit
 *    the account already holds, and stale otherwise);
 * 5. the inductive proof holds: undoing the ops on the carried MST gives `prevData`;
 * 6. it chains: `since` is the local head's rev and `prevData` its MST root. Otherwise the account
 *    missed something, and a resync (`getRepo` since the local head) fetches it instead.
 *
 * An event that passes all six becomes a {@link CommitWrite} for `RepoStore.applyCommit`.
 */
import type { BlockMap } from '@atproto/repo'
import { decode, encode } from '@atproto/lex-cbor'
import { CBOR_DATA_CODEC, isCid, type Cid, type LexMap } from '@atproto/lex-data'
import type { BlobRefInput, BlockKind, CommitWrite, RecordRef, RepoHead } from '../storage/types.js'
import { carriedMstNodes, invertCommitOps, readCommitCar } from './commit-proof.js'
import type { CommitEvent } from './firehose-frame.js'
import { blobRefs } from './repo-sync.js'
import { verifyCommitSignature } from './firehose-sig.js'

/** How far ahead of the local clock a commit's rev may be. @default 5 minutes */
export const MAX_FUTURE_MS = 5 * 60_000

/** What to do with a `#commit` of a held account. */
export type CommitVerdict =
  /** Verified and chains onto the local head: store it. */
  | { kind: 'apply'; write: Omit<CommitWrite, 'at'>; creates: number; updates: number; deletes: number }
  /** The account already holds this commit (a replay after a reconnect or restart). */
  | { kind: 'duplicate' }
  /** Valid, but the local copy cannot take it as is (a gap, no local head, no proof): fetch with `getRepo` instead. */
  | { kind: 'resync'; reason: string }
  /** Valid on its own (checks 1–5), and a resync of the account is under way: keep it for after. */
  | { kind: 'wait'; rev: string }
  /** The event is invalid or forged: nothing of it is stored. */
  | { kind: 'reject'; code: CommitRejection; reason: string }

/** Why a `#commit` was rejected. */
export type CommitRejection = 'malformed' | 'wrong-cid' | 'wrong-did' | 'bad-signature' | 'rev-mismatch' | 'future-rev' | 'stale-rev' | 'bad-proof'

/** What {@link judgeCommit} needs to know about the account. */
export interface CommitContext {
  /** The account's signing key (did:key). */
  signingKey: string
  /** The local head, or null before the first sync. */
  head: RepoHead | null
  /** The newest rev already taken from the stream (kept while a resync runs), when newer than the head's. @default none */
  lastRev?: string | null
  /** A resync of the account is owed or running: a valid commit is kept for after it ({@link CommitVerdict} `wait`). @default false */
  waiting?: boolean
  /** Unix ms now. */
  now: number
  /** The CID of the local commit at `rev`, or null when the account holds none (for replays). */
  commitAt(rev: string): Promise<string | null>
  /** Which of `cids` the account already holds as MST nodes. */
  heldMstNodes(cids: string[]): Promise<Set<string>>
}

/**
 * Checks `evt` and decides what to do with it. Never throws for bad input; a signature that fails
 * is a `reject` with code `bad-signature` (the caller may resolve the key afresh and ask again).
 */
export async function judgeCommit(evt: CommitEvent, ctx: CommitContext): Promise<CommitVerdict> {
  const did = evt.repo
  if (evt.tooBig) return { kind: 'resync', reason: 'the event was too big to carry its changes' }
  let car: { root: Cid; blocks: BlockMap }
  try {
    car = readCommitCar(evt.blocks)
  } catch (err) {
    return reject('malformed', `its blocks are not a valid CAR with matching CIDs (${(err as Error).message})`)
  }
  if (!car.root.equals(evt.commit)) return reject('wrong-cid', `its blocks are rooted at ${car.root.toString()}, not at the commit ${evt.commit.toString()} it names`)
  const commitBytes = car.blocks.get(car.root)
  if (commitBytes === undefined) return reject('wrong-cid', `it does not carry its commit block ${evt.commit.toString()}`)
  const checked = checkCommitBlock(did, ctx.signingKey, commitBytes)
  if ('code' in checked) return reject(checked.code, checked.reason)
  const commit = { ...checked, cid: car.root }
  if (commit.rev !== evt.rev) return reject('rev-mismatch', `the event says rev ${evt.rev} but its commit has rev ${commit.rev}`)
  const revTime = tidTimestampMs(commit.rev)
  if (revTime === null) return reject('malformed', `its rev ${commit.rev} is not a TID`)
  if (revTime > ctx.now + MAX_FUTURE_MS) return reject('future-rev', `its rev ${commit.rev} is dated ${new Date(revTime).toISOString()}, in the future`)

  const head = ctx.head
  const newest = [head?.rev ?? null, ctx.lastRev ?? null].reduce<string | null>((a, b) => (b !== null && (a === null || b > a) ? b : a), null)
  if (newest !== null && !(commit.rev > newest)) {
    if ((await ctx.commitAt(commit.rev)) === commit.cid.toString()) return { kind: 'duplicate' }
    return reject('stale-rev', `its rev ${commit.rev} is not newer than rev ${newest}, already taken`)
  }
  if (evt.prevData === undefined) {
    if (ctx.waiting === true) return { kind: 'wait', rev: commit.rev }
    return { kind: 'resync', reason: 'the event carries no prevData, so it cannot be checked on its own' }
  }
  const proof = await invertCommitOps(commit.data, car.blocks, evt.ops, evt.prevData)
  if (!proof.ok) return reject('bad-proof', `its inductive proof does not hold: ${proof.detail}`)
  if (ctx.waiting === true) return { kind: 'wait', rev: commit.rev }
  if (head === null) return { kind: 'resync', reason: 'there is no local copy to apply it to yet' }
  if (evt.since !== head.rev || evt.prevData.toString() !== head.dataCid) {
    return { kind: 'resync', reason: `it follows rev ${evt.since ?? 'none'}, but the backup is at rev ${head.rev}` }
  }

  // Everything the new tree needs is either carried or already held.
  let carried
  try {
    carried = await carriedMstNodes(commit.data, car.blocks)
  } catch (err) {
    return reject('malformed', `an MST node it carries does not decode (${(err as Error).message})`)
  }
  const external = carried.external.map(String)
  if (external.length > 0) {
    const held = await ctx.heldMstNodes(external)
    const missing = external.find((c) => !held.has(c))
    if (missing !== undefined) return { kind: 'resync', reason: `it points to an MST node ${missing} the backup does not hold` }
  }
  const blocks = new Map<string, { cid: string; bytes: Uint8Array; kind: BlockKind }>()
  blocks.set(commit.cid.toString(), { cid: commit.cid.toString(), bytes: commitBytes, kind: 'commit' })
  for (const n of carried.nodes) blocks.set(n.cid.toString(), { cid: n.cid.toString(), bytes: n.bytes, kind: 'mst' })
  const put: RecordRef[] = []
  const del: Array<{ collection: string; rkey: string }> = []
  const blobs = new Map<string, BlobRefInput>()
  let creates = 0
  let updates = 0
  for (const op of evt.ops) {
    const { collection, rkey } = splitPath(op.path)
    if (op.action === 'delete') {
      del.push({ collection, rkey })
      continue
    }
    const cid = op.cid!
    const bytes = car.blocks.get(cid)
    if (bytes === undefined) return { kind: 'resync', reason: `it does not carry the record ${op.path}` }
    blocks.set(cid.toString(), { cid: cid.toString(), bytes, kind: 'record' })
    for (const b of blobRefs(bytes)) if (!blobs.has(b.cid)) blobs.set(b.cid, b)
    put.push({ collection, rkey, cid: cid.toString() })
    if (op.action === 'create') creates++
    else updates++
  }
  return {
    kind: 'apply',
    creates,
    updates,
    deletes: del.length,
    write: {
      did,
      expectedHead: head.cid,
      commit: { cid: commit.cid.toString(), rev: commit.rev, dataCid: commit.data.toString(), prevCid: commit.prev?.toString() ?? null, source: 'diff' },
      blocks: [...blocks.values()],
      refs: [...blocks.values()],
      records: { put, delete: del },
      blobs: [...blobs.values()],
    },
  }

  function reject(code: CommitRejection, reason: string): CommitVerdict {
    return { kind: 'reject', code, reason }
  }
}

/**
 * The checks of `checkCommit` (commit-check.ts) — a v3 commit naming `did`, signed by the
 * did:key — with the signature checked natively (firehose-sig.ts), for the stream's hot path.
 */
function checkCommitBlock(did: string, signingKey: string, bytes: Uint8Array): { did: string; rev: string; data: Cid; prev: Cid | null } | { code: CommitRejection; reason: string } {
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    return { code: 'malformed', reason: `its commit is not valid DAG-CBOR (${(err as Error).message})` }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || isCid(value)) return { code: 'malformed', reason: 'its commit is not a map' }
  const c = value as LexMap
  if (c.version !== 3) return { code: 'malformed', reason: `its commit has version ${JSON.stringify(c.version)}, not 3` }
  if (typeof c.did !== 'string' || typeof c.rev !== 'string') return { code: 'malformed', reason: 'its commit lacks "did" or "rev"' }
  if (!isCid(c.data) || c.data.code !== CBOR_DATA_CODEC) return { code: 'malformed', reason: 'its commit has no MST root "data"' }
  const prev = c.prev ?? null
  if (prev !== null && !isCid(prev)) return { code: 'malformed', reason: 'its commit\'s "prev" is not a CID or null' }
  if (!(c.sig instanceof Uint8Array)) return { code: 'malformed', reason: 'its commit has no signature' }
  if (c.did !== did) return { code: 'wrong-did', reason: `its commit belongs to another account (${c.did})` }
  // The signature covers every field but `sig`, as encoded (unknown fields included).
  const { sig, ...unsigned } = c
  if (!verifyCommitSignature(signingKey, encode(unsigned), sig as Uint8Array)) {
    return { code: 'bad-signature', reason: `the signature on its commit does not match the account's signing key ${signingKey}` }
  }
  return { did: c.did, rev: c.rev, data: c.data as Cid, prev: prev as Cid | null }
}

const S32 = '234567abcdefghijklmnopqrstuvwxyz'

/** The time a TID encodes, in Unix ms; null when `tid` is not a TID. */
export function tidTimestampMs(tid: string): number | null {
  if (!/^[2-7a-z]{13}$/.test(tid)) return null
  let micros = 0
  for (const ch of tid.slice(0, 11)) micros = micros * 32 + S32.indexOf(ch)
  return Math.floor(micros / 1000)
}

function splitPath(path: string): { collection: string; rkey: string } {
  const slash = path.indexOf('/')
  return slash < 0 ? { collection: path, rkey: '' } : { collection: path.slice(0, slash), rkey: path.slice(slash + 1) }
}

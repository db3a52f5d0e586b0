/**
 * Event stream frames of `com.atproto.sync.subscribeRepos` (atproto "Event Stream" spec): each
 * WebSocket message is two DAG-CBOR objects back to back, a header `{op, t}` and a body.
 *
 * {@link peekFrame} reads only the header and the body's `seq` and `repo`/`did`, skipping every
 * other value without decoding it (a `#commit`'s `blocks` are most of its bytes), so frames of
 * accounts the node does not hold cost almost nothing. {@link decodeFrame} decodes a whole frame
 * (with `@atproto/lex-cbor`) once the account is known to be held.
 */
import { decodeAll } from '@atproto/lex-cbor'
import { isCid, type Cid } from '@atproto/lex-data'
import type { CommitOp } from './commit-proof.js'

/** What {@link peekFrame} reads without decoding the body. */
export interface FramePeek {
  /** 1: a message; -1: an error frame. */
  op: number
  /** The message type, e.g. `#commit`; undefined for error frames. */
  t: string | undefined
  /** The body's `seq`, when it has one. */
  seq: number | undefined
  /** The account the event is about: `repo` (`#commit`) or `did` (the other types). */
  did: string | undefined
  /** The body's `time` (ISO), when it has one. */
  time: string | undefined
}

/** A frame that is not two well-formed DAG-CBOR objects with the fields the spec requires. */
export class FrameFormatError extends Error {
  override name = 'FrameFormatError'
}

const decoder = new TextDecoder()

/** Reads the header and the body's `seq` and `repo`/`did` only. Throws {@link FrameFormatError}. */
export function peekFrame(bytes: Uint8Array): FramePeek {
  const r = new Reader(bytes)
  let op: number | undefined
  let t: string | undefined
  const headerEntries = r.mapHeader()
  for (let i = 0; i < headerEntries; i++) {
    const key = r.text()
    if (key === 'op') op = r.int()
    else if (key === 't') t = r.text()
    else r.skip()
  }
  if (op === undefined) throw new FrameFormatError('the frame header has no op')
  let seq: number | undefined
  let did: string | undefined
  let time: string | undefined
  if (r.pos >= bytes.length) throw new FrameFormatError('the frame has no body')
  if (r.peekMajor() === 5) {
    const bodyEntries = r.mapHeader()
    for (let i = 0; i < bodyEntries; i++) {
      const key = r.text()
      if (key === 'seq') seq = r.int()
      else if ((key === 'repo' || key === 'did') && r.peekMajor() === 3) did = r.text()
      else if (key === 'time' && r.peekMajor() === 3) time = r.text()
      else r.skip()
      // DAG-CBOR sorts keys by length, then bytes: `ops` and `rev` are stepped over, but `blocks`,
      // `commit` and the rest come after these three and are never read.
      if (seq !== undefined && did !== undefined && time !== undefined) break
    }
  }
  return { op, t, seq, did, time }
}

/** A decoded frame. */
export interface DecodedFrame {
  header: { op: number; t?: string }
  body: Record<string, unknown>
}

/** Decodes a whole frame. Throws {@link FrameFormatError}. */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  let items: unknown[]
  try {
    items = [...decodeAll(bytes)] as unknown[]
  } catch (err) {
    throw new FrameFormatError(`the frame is not valid DAG-CBOR (${(err as Error).message})`)
  }
  if (items.length !== 2) throw new FrameFormatError(`the frame holds ${items.length} objects, not 2`)
  const [header, body] = items as [Record<string, unknown>, Record<string, unknown>]
  if (!isMap(header) || typeof header.op !== 'number') throw new FrameFormatError('the frame header is not {op, t}')
  if (!isMap(body)) throw new FrameFormatError('the frame body is not a map')
  if (header.t !== undefined && typeof header.t !== 'string') throw new FrameFormatError('the frame type is not a string')
  return { header: header as DecodedFrame['header'], body }
}

/** A `#commit` body, checked for shape. */
export interface CommitEvent {
  seq: number
  repo: string
  commit: Cid
  rev: string
  /** The rev of the previous commit; null on an account's first commit. */
  since: string | null
  /** CAR slice: the commit, new MST nodes and records, and the proof nodes. */
  blocks: Uint8Array
  ops: CommitOp[]
  /** The MST root of the previous commit (sync v1.1); undefined from older emitters. */
  prevData: Cid | undefined
  /** ISO time the emitter sequenced the event. */
  time: string
  tooBig: boolean
}

/** A `#sync` body: the account's current commit, to compare with ours. */
export interface SyncEvent {
  seq: number
  did: string
  /** CAR holding just the commit block (root = that commit). */
  blocks: Uint8Array
  rev: string
  time: string
}

/** An `#identity` body. */
export interface IdentityEvent {
  seq: number
  did: string
  time: string
  handle: string | undefined
}

/** An `#account` body. */
export interface AccountEvent {
  seq: number
  did: string
  time: string
  active: boolean
  /** Why it is inactive: `takendown`, `suspended`, `deleted`, `deactivated`, `desynchronized`, `throttled`, or another value. */
  status: string | undefined
}

/** Checks and narrows a `#commit` body. Throws {@link FrameFormatError}. */
export function toCommitEvent(body: Record<string, unknown>): CommitEvent {
  const b = body
  if (typeof b.seq !== 'number') throw new FrameFormatError('#commit without seq')
  if (typeof b.repo !== 'string') throw new FrameFormatError('#commit without repo')
  if (!isCid(b.commit)) throw new FrameFormatError('#commit without a commit CID')
  if (typeof b.rev !== 'string') throw new FrameFormatError('#commit without rev')
  if (b.since !== null && b.since !== undefined && typeof b.since !== 'string') throw new FrameFormatError('#commit with a bad since')
  if (!(b.blocks instanceof Uint8Array)) throw new FrameFormatError('#commit without blocks')
  if (!Array.isArray(b.ops)) throw new FrameFormatError('#commit without ops')
  if (b.prevData !== undefined && b.prevData !== null && !isCid(b.prevData)) throw new FrameFormatError('#commit with a bad prevData')
  const ops: CommitOp[] = []
  for (const raw of b.ops as unknown[]) {
    if (!isMap(raw)) throw new FrameFormatError('#commit op is not a map')
    const o = raw
    if (o.action !== 'create' && o.action !== 'update' && o.action !== 'delete') throw new FrameFormatError(`#commit op with action ${String(o.action)}`)
    if (typeof o.path !== 'string') throw new FrameFormatError('#commit op without path')
    const cid = o.cid ?? null
    if (cid !== null && !isCid(cid)) throw new FrameFormatError('#commit op with a bad cid')
    const prev = o.prev ?? null
    if (prev !== null && !isCid(prev)) throw new FrameFormatError('#commit op with a bad prev')
    ops.push({ action: o.action, path: o.path, cid: cid as Cid | null, prev: prev as Cid | null })
  }
  return {
    seq: b.seq,
    repo: b.repo,
    commit: b.commit,
    rev: b.rev,
    since: (b.since as string | null | undefined) ?? null,
    blocks: b.blocks,
    ops,
    prevData: (b.prevData as Cid | null | undefined) ?? undefined,
    time: typeof b.time === 'string' ? b.time : '',
    tooBig: b.tooBig === true,
  }
}

/** Checks and narrows a `#sync` body. Throws {@link FrameFormatError}. */
export function toSyncEvent(body: Record<string, unknown>): SyncEvent {
  if (typeof body.seq !== 'number' || typeof body.did !== 'string') throw new FrameFormatError('#sync without seq or did')
  if (!(body.blocks instanceof Uint8Array)) throw new FrameFormatError('#sync without blocks')
  if (typeof body.rev !== 'string') throw new FrameFormatError('#sync without rev')
  return { seq: body.seq, did: body.did, blocks: body.blocks, rev: body.rev, time: typeof body.time === 'string' ? body.time : '' }
}

/** Checks and narrows an `#identity` body. Throws {@link FrameFormatError}. */
export function toIdentityEvent(body: Record<string, unknown>): IdentityEvent {
  if (typeof body.seq !== 'number' || typeof body.did !== 'string') throw new FrameFormatError('#identity without seq or did')
  return { seq: body.seq, did: body.did, time: typeof body.time === 'string' ? body.time : '', handle: typeof body.handle === 'string' ? body.handle : undefined }
}

/** Checks and narrows an `#account` body. Throws {@link FrameFormatError}. */
export function toAccountEvent(body: Record<string, unknown>): AccountEvent {
  if (typeof body.seq !== 'number' || typeof body.did !== 'string') throw new FrameFormatError('#account without seq or did')
  if (typeof body.active !== 'boolean') throw new FrameFormatError('#account without active')
  return { seq: body.seq, did: body.did, time: typeof body.time === 'string' ? body.time : '', active: body.active, status: typeof body.status === 'string' ? body.status : undefined }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !isCid(v)
}

/** Just enough of a DAG-CBOR reader to find a few keys and skip the rest. */
class Reader {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}

  peekMajor(): number {
    if (this.pos >= this.bytes.length) throw new FrameFormatError('the frame ends early')
    return this.bytes[this.pos]! >> 5
  }

  /** Reads a head; returns [major, argument]. */
  head(): [number, number] {
    const b = this.bytes
    if (this.pos >= b.length) throw new FrameFormatError('the frame ends early')
    const first = b[this.pos++]!
    const major = first >> 5
    const info = first & 0x1f
    if (info < 24) return [major, info]
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0) throw new FrameFormatError('indefinite lengths are not DAG-CBOR')
    if (this.pos + size > b.length) throw new FrameFormatError('the frame ends early')
    let n = 0
    for (let i = 0; i < size; i++) n = n * 256 + b[this.pos++]!
    return [major, n]
  }

  mapHeader(): number {
    const [major, n] = this.head()
    if (major !== 5) throw new FrameFormatError('expected a map')
    return n
  }

  text(): string {
    const [major, n] = this.head()
    if (major !== 3) throw new FrameFormatError('expected a text string')
    if (this.pos + n > this.bytes.length) throw new FrameFormatError('the frame ends early')
    const s = decoder.decode(this.bytes.subarray(this.pos, this.pos + n))
    this.pos += n
    return s
  }

  int(): number {
    const [major, n] = this.head()
    if (major === 0) return n
    if (major === 1) return -1 - n
    throw new FrameFormatError('expected an integer')
  }

  /** Skips one complete value. */
  skip(): void {
    let pending = 1
    while (pending > 0) {
      pending--
      const [major, n] = this.head()
      switch (major) {
        case 0:
        case 1:
        case 7:
          break
        case 2:
        case 3:
          if (this.pos + n > this.bytes.length) throw new FrameFormatError('the frame ends early')
          this.pos += n
          break
        case 4:
          pending += n
          break
        case 5:
          pending += 2 * n
          break
        case 6:
          pending += 1
          break
      }
    }
  }
}

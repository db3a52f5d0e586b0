/**
 * `/p2pds/notify/1.0.0`: "new head for DID X at rev R". The message is small JSON
 * (`{did, rev, cid}`); the receiver checks its syntax here and decides what to do (the node
 * schedules an incremental sync of X when the sender is a known peer holding X).
 */
import { isValidDid, isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { PeerProtocolError } from '../errors.js'
import type { HeadNotice, ProtocolHandler } from './types.js'

/** Largest notice accepted, in bytes. */
export const MAX_NOTICE_BYTES = 1024

/** Encodes a notice for the wire. */
export function encodeHeadNotice(notice: HeadNotice): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ did: notice.did, rev: notice.rev, cid: notice.cid }))
}

/** Decodes and checks a notice; rejects anything malformed with `PeerProtocolError`. */
export function decodeHeadNotice(bytes: Uint8Array, from: string): HeadNotice {
  if (bytes.length > MAX_NOTICE_BYTES) throw new PeerProtocolError(from, 'head notice too large')
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(bytes))
  } catch (err) {
    throw new PeerProtocolError(from, 'head notice is not JSON', { cause: err })
  }
  const v = value as Partial<Record<keyof HeadNotice, unknown>>
  if (typeof v.did !== 'string' || !isValidDid(v.did)) throw new PeerProtocolError(from, 'head notice without a valid DID')
  if (typeof v.rev !== 'string' || !isValidTid(v.rev)) throw new PeerProtocolError(from, 'head notice without a valid rev')
  if (typeof v.cid !== 'string' || !isCid(v.cid)) throw new PeerProtocolError(from, 'head notice without a valid CID')
  return { did: v.did, rev: v.rev, cid: v.cid }
}

/**
 * The handler of `/p2pds/notify/1.0.0` every transport serves: decodes the notice and hands it to
 * each listener (a listener's failure is its own; the sender still gets its ack).
 */
export function headNoticeHandler(listeners: ReadonlySet<(notice: HeadNotice, from: { peerId: string }) => void>): ProtocolHandler {
  return async (bytes, from) => {
    const notice = decodeHeadNotice(bytes, from.peerId)
    for (const l of listeners) {
      try {
        l(notice, from)
      } catch {
        // A listener's failure is its own; the sender still gets its ack.
      }
    }
    return new Uint8Array(0)
  }
}

function isCid(s: string): boolean {
  try {
    CID.parse(s)
    return true
  } catch {
    return false
  }
}

/**
 * Streamed answers are sent in frames: the small chunks a producer yields (a CAR yields about one
 * per block) are gathered into frames of up to {@link STREAM_FRAME_BYTES}, one write per frame.
 * Both transports frame their streams this way.
 */

import { P2pdsError, PeerProtocolError, RemoteError } from '../errors.js'

/** Largest chunk of a streamed answer per frame. */
export const STREAM_FRAME_BYTES = 256 * 1024

/** The chunks, regathered into frames of exactly `max` bytes (the last one shorter). */
export async function* gatherFrames(chunks: AsyncIterable<Uint8Array>, max = STREAM_FRAME_BYTES): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  const take = () => {
    const body = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes)
    pending = []
    pendingBytes = 0
    return body
  }
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; ) {
      const n = Math.min(chunk.length - i, max - pendingBytes)
      pending.push(chunk.subarray(i, i + n))
      pendingBytes += n
      i += n
      if (pendingBytes >= max) yield take()
    }
  }
  if (pendingBytes > 0) yield take()
}

/** A refusal's payload: JSON `{ code, message }`, what {@link decodeRefusal} reads. */
export function encodeRefusal(code: string, message: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ code, message }))
}

/** The refusal sent to a peer over its request rate. */
export const RATE_LIMITED = { code: 'ERR_RATE_LIMITED', message: 'too many requests; slow down and retry later' } as const

/** The refusal sent for a handler's failure: its code and sentence, or a generic one for anything but a P2pdsError. */
export function refusalOf(err: unknown): Uint8Array {
  return err instanceof P2pdsError ? encodeRefusal(err.code, err.message) : encodeRefusal('ERR_INTERNAL', 'the request could not be handled')
}

/**
 * The error a peer's refusal stands for: its payload is JSON `{ code, message }` (both transports
 * send it so); a payload that does not decode is the peer breaking the protocol.
 */
export function decodeRefusal(who: string, payload: Uint8Array): RemoteError | PeerProtocolError {
  let parsed: { code?: unknown; message?: unknown }
  try {
    parsed = JSON.parse(new TextDecoder().decode(payload)) as { code?: unknown; message?: unknown }
  } catch (err) {
    return new PeerProtocolError(who, 'undecodable error answer', { cause: err })
  }
  return new RemoteError(String(parsed.code ?? 'ERR_PEER'), `Peer ${who} refused: ${String(parsed.message ?? 'no reason given')}`)
}

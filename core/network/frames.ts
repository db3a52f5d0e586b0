/**
 * Streamed answers are sent in frames: the small chunks a producer yields (a CAR yields about one
 * per block) are gathered into frames of up to {@link STREAM_FRAME_BYTES}, one write per frame.
 * Both transports frame their streams this way.
 */

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

import { describe, expect, it } from 'vitest'
import { gatherFrames } from './frames.js'

async function* from(chunks: Uint8Array[]) {
  yield* chunks
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const f of it) out.push(f)
  return out
}

describe('gatherFrames', () => {
  it('regathers small and large chunks into frames of exactly max bytes, the bytes unchanged and in order', async () => {
    const chunks = [1, 3, 7, 2, 20, 0, 5].map((n, i) => new Uint8Array(n).fill(i + 1))
    const frames = await collect(gatherFrames(from(chunks), 8))
    expect(frames.map((f) => f.length)).toEqual([8, 8, 8, 8, 6])
    expect(Buffer.concat(frames).equals(Buffer.concat(chunks))).toBe(true)
  })

  it('yields nothing for nothing, and passes a failure of the source through', async () => {
    expect(await collect(gatherFrames(from([new Uint8Array(0)]), 8))).toEqual([])
    const failing = (async function* () {
      yield new Uint8Array(3)
      throw new Error('source broke')
    })()
    await expect(collect(gatherFrames(failing, 8))).rejects.toThrow('source broke')
  })
})

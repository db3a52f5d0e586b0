import { inflateSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { crc32, isPng, makeTestPng, PNG_SIGNATURE, TEST_PNG_PATTERNS } from './images.js'

interface Chunk {
  type: string
  data: Buffer
  crc: number
  /** CRC computed over type + data, independently of the encoder. */
  expectedCrc: number
}

/** Splits a PNG into chunks (a reader written apart from the encoder). */
function readChunks(png: Uint8Array): Chunk[] {
  const buf = Buffer.from(png)
  expect(buf.subarray(0, 8).equals(Buffer.from(PNG_SIGNATURE))).toBe(true)
  const chunks: Chunk[] = []
  let o = 8
  while (o < buf.length) {
    const length = buf.readUInt32BE(o)
    const type = buf.toString('latin1', o + 4, o + 8)
    const data = buf.subarray(o + 8, o + 8 + length)
    const crc = buf.readUInt32BE(o + 8 + length)
    chunks.push({ type, data, crc, expectedCrc: referenceCrc(buf.subarray(o + 4, o + 8 + length)) })
    o += 12 + length
  }
  expect(o).toBe(buf.length)
  return chunks
}

/** Bit-by-bit CRC-32 (no table), to check the encoder's table-driven one. */
function referenceCrc(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

describe('makeTestPng', () => {
  it('computes the standard CRC-32', () => {
    // The check value of CRC-32/ISO-HDLC.
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    // A real IEND chunk's CRC.
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082)
  })

  it('writes signature, IHDR, IDAT, IEND with valid CRCs', () => {
    const png = makeTestPng({ width: 30, height: 20, seed: 7 })
    expect(isPng(png)).toBe(true)
    const chunks = readChunks(png)
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND'])
    for (const c of chunks) expect(c.crc, c.type).toBe(c.expectedCrc)

    const ihdr = chunks[0]!.data
    expect(ihdr.length).toBe(13)
    expect(ihdr.readUInt32BE(0)).toBe(30)
    expect(ihdr.readUInt32BE(4)).toBe(20)
    expect([...ihdr.subarray(8)]).toEqual([8, 2, 0, 0, 0]) // 8-bit RGB, deflate, filter 0, no interlace
    expect(chunks[2]!.data.length).toBe(0)
  })

  it('deflates to one filter byte plus width × 3 bytes per row', () => {
    for (const [width, height] of [
      [1, 1],
      [64, 64],
      [300, 100],
    ] as const) {
      const raw = inflateSync(readChunks(makeTestPng({ width, height }))[1]!.data)
      expect(raw.length).toBe(height * (1 + width * 3))
      for (let y = 0; y < height; y++) expect(raw[y * (1 + width * 3)]).toBe(0)
    }
  })

  it('gives the same bytes for the same seed and different bytes for different seeds or patterns', () => {
    const a = Buffer.from(makeTestPng({ seed: 1 }))
    expect(a.equals(Buffer.from(makeTestPng({ seed: 1 })))).toBe(true)
    const seen = new Set<string>()
    for (let seed = 0; seed < 50; seed++) seen.add(Buffer.from(makeTestPng({ seed })).toString('base64'))
    for (const pattern of TEST_PNG_PATTERNS) seen.add(Buffer.from(makeTestPng({ seed: 1, pattern })).toString('base64'))
    expect(seen.size).toBe(50 + TEST_PNG_PATTERNS.length - 1) // seed 1's own pattern repeats once
  })

  it('draws two colours, not a flat image', () => {
    const raw = inflateSync(readChunks(makeTestPng({ width: 32, height: 32, seed: 3, pattern: 'checker' }))[1]!.data)
    const pixels = new Set<string>()
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) pixels.add(raw.subarray(y * 97 + 1 + x * 3, y * 97 + 4 + x * 3).toString('hex'))
    expect(pixels.size).toBe(2)
  })

  it('refuses sizes outside 1–4096', () => {
    expect(() => makeTestPng({ width: 0 })).toThrow(RangeError)
    expect(() => makeTestPng({ height: 5000 })).toThrow(RangeError)
    expect(() => makeTestPng({ width: 1.5 })).toThrow(RangeError)
  })
})

/**
 * A tiny PNG encoder for test images: 8-bit RGB, no interlace, one IDAT chunk, deflated with
 * `node:zlib`. Each seed gives different colours and a different pattern, so every generated
 * image is a distinct blob (distinct CID) while staying a few hundred bytes.
 */
import { deflateSync } from 'node:zlib'

/** How to draw a test PNG. Every field is optional. */
export interface TestPngInit {
  /** Width in pixels, 1 to 4096. @default 64 */
  width?: number
  /** Height in pixels, 1 to 4096. @default 64 */
  height?: number
  /**
   * Chooses colours and pattern; equal seeds (and sizes) give byte-identical images, different
   * seeds give different ones. @default 0
   */
  seed?: number
  /** Overrides the pattern the seed would choose. @default chosen by `seed` */
  pattern?: TestPngPattern
}

/** The drawings {@link makeTestPng} knows. */
export type TestPngPattern = 'checker' | 'stripes' | 'gradient' | 'rings'

/** Patterns in the order a seed picks them. */
export const TEST_PNG_PATTERNS: readonly TestPngPattern[] = ['checker', 'stripes', 'gradient', 'rings']

/** The 8 bytes every PNG file starts with. */
export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)

/** Encodes a small RGB PNG drawn from `init`. */
export function makeTestPng(init: TestPngInit = {}): Uint8Array {
  const width = init.width ?? 64
  const height = init.height ?? 64
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 4096) throw new RangeError(`${name} must be a whole number from 1 to 4096, got ${v}`)
  }
  const seed = init.seed ?? 0
  const pattern = init.pattern ?? TEST_PNG_PATTERNS[Math.abs(seed) % TEST_PNG_PATTERNS.length] ?? 'checker'
  const [a, b] = seedColours(seed)
  // Pattern scale varies with the seed too, so two seeds with the same pattern still differ.
  const cell = 4 + (hash32(seed ^ 0x5bd1e995) % 12)

  // Raw scanlines: one filter byte (0 = None) then width × RGB.
  const stride = 1 + width * 3
  const raw = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    const row = y * stride
    raw[row] = 0
    for (let x = 0; x < width; x++) {
      const t = mix(pattern, x, y, width, height, cell)
      const o = row + 1 + x * 3
      raw[o] = Math.round(a[0] + (b[0] - a[0]) * t)
      raw[o + 1] = Math.round(a[1] + (b[1] - a[1]) * t)
      raw[o + 2] = Math.round(a[2] + (b[2] - a[2]) * t)
    }
  }

  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type: truecolour (RGB)
  ihdr[10] = 0 // compression: deflate
  ihdr[11] = 0 // filter method 0
  ihdr[12] = 0 // no interlace

  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/** CRC-32 (ISO 3309 / ITU-T V.42, as PNG chunks use) of `bytes`. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff
  for (let i = start; i < end; i++) c = (CRC_TABLE[(c ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** True when `bytes` starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((v, i) => bytes[i] === v)
}

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** length (4, big-endian) + type (4) + data + CRC over type and data (4). */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'latin1')
  out.set(data, 8)
  out.writeUInt32BE(crc32(out, 4, 8 + data.length), 8 + data.length)
  return out
}

/** Where between colour a (0) and colour b (1) pixel (x, y) falls. */
function mix(pattern: TestPngPattern, x: number, y: number, w: number, h: number, cell: number): number {
  switch (pattern) {
    case 'checker':
      return (Math.floor(x / cell) + Math.floor(y / cell)) % 2
    case 'stripes':
      return Math.floor((x + y) / cell) % 2
    case 'gradient':
      return (x / Math.max(1, w - 1) + y / Math.max(1, h - 1)) / 2
    case 'rings': {
      const d = Math.hypot(x - w / 2, y - h / 2)
      return Math.floor(d / cell) % 2
    }
  }
}

type Rgb = [number, number, number]

/** Two clearly different colours for a seed: hues half a turn apart. */
function seedColours(seed: number): [Rgb, Rgb] {
  const h = hash32(seed)
  const hue = h % 360
  const sat = 0.55 + ((h >>> 9) % 40) / 100
  return [hsv(hue, sat, 0.95), hsv((hue + 180) % 360, sat, 0.45)]
}

function hsv(hue: number, s: number, v: number): Rgb {
  const f = (n: number): number => {
    const k = (n + hue / 60) % 6
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))))
  }
  return [f(5), f(3), f(1)]
}

/** A small integer hash (Murmur3 finaliser) so nearby seeds look unrelated. */
function hash32(n: number): number {
  let h = n | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

// scripts/build-assets.mjs: every raster at its size, template icons black-on-transparent, the
// .ico readable, and reruns that write nothing unless a source changed. Each test builds from its
// own copy of assets/*.svg into its own folder, so nothing here touches assets/build/.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { inflateSync } from 'node:zlib'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

interface BuildAssets {
  buildAssets(init?: { assetsDir?: string; outDir?: string; force?: boolean }): { built: string[]; skipped: string[] }
  outputs(): { out: string; sources: string[] }[]
  TRAY_STATES: string[]
  LINUX_ICON_SIZES: number[]
  ICO_SIZES: number[]
}
// A .mjs module without type declarations: import it by URL and describe what the test uses.
let assets: BuildAssets
beforeAll(async () => {
  assets = (await import(pathToFileURL(join(root, 'scripts', 'build-assets.mjs')).href)) as BuildAssets
})

const scratchDirs: string[] = []
afterEach(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A private copy of the SVG sources and an empty output folder. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-assets-'))
  scratchDirs.push(dir)
  const assetsDir = join(dir, 'assets')
  cpSync(join(root, 'assets'), assetsDir, { recursive: true, filter: (src) => !src.includes(`${join(root, 'assets', 'build')}`) })
  return { assetsDir, outDir: join(dir, 'out') }
}

/** Decodes the PNGs resvg writes: 8-bit RGBA, not interlaced. Returns straight-alpha RGBA. */
function decodePng(buf: Buffer) {
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
  let pos = 8
  let width = 0
  let height = 0
  const idat: Buffer[] = []
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos)
    const type = buf.subarray(pos + 4, pos + 8).toString('latin1')
    const data = buf.subarray(pos + 8, pos + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      expect({ bitDepth: data[8], colourType: data[9], interlace: data[12] }).toEqual({ bitDepth: 8, colourType: 6, interlace: 0 })
    } else if (type === 'IDAT') idat.push(data)
    pos += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * 4
  const px = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!
      const a = x >= 4 ? px[y * stride + x - 4]! : 0
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0
      const c = x >= 4 && y > 0 ? px[(y - 1) * stride + x - 4]! : 0
      const paeth = () => {
        const p = a + b - c
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)]
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
      }
      const predictor = [0, a, b, (a + b) >> 1, paeth()][filter!]!
      px[y * stride + x] = (v + predictor) & 0xff
    }
  }
  return { width, height, px }
}

const alphas = (px: Buffer) => Array.from({ length: px.length / 4 }, (_, i) => px[i * 4 + 3]!)

describe('build-assets', () => {
  it('writes every output at the size its name promises', () => {
    const { assetsDir, outDir } = workspace()
    const { built, skipped } = assets.buildAssets({ assetsDir, outDir })
    expect(skipped).toEqual([])
    expect(built.sort()).toEqual(assets.outputs().map((o) => o.out).sort())

    expect(decodePng(readFileSync(join(outDir, 'icon.png')))).toMatchObject({ width: 1024, height: 1024 })
    expect(readdirSync(join(outDir, 'icons')).sort()).toEqual(assets.LINUX_ICON_SIZES.map((n) => `${n}x${n}.png`).sort())
    for (const n of assets.LINUX_ICON_SIZES) {
      expect(decodePng(readFileSync(join(outDir, 'icons', `${n}x${n}.png`)))).toMatchObject({ width: n, height: n })
    }
    for (const file of readdirSync(join(outDir, 'tray'))) {
      const size = file.includes('@2x') ? 32 : 16
      expect(decodePng(readFileSync(join(outDir, 'tray', file))), file).toMatchObject({ width: size, height: size })
    }
  })

  it('macOS template icons are black on transparent, with both fully clear and solid pixels', () => {
    const { assetsDir, outDir } = workspace()
    assets.buildAssets({ assetsDir, outDir })
    const templates = readdirSync(join(outDir, 'tray')).filter((f) => /^tray[A-Z]\w*Template(@2x)?\.png$/.test(f))
    expect(templates).toHaveLength(assets.TRAY_STATES.length * 2)
    for (const file of templates) {
      const { px } = decodePng(readFileSync(join(outDir, 'tray', file)))
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3]! > 0) expect([px[i], px[i + 1], px[i + 2]], `${file} pixel ${i / 4}`).toEqual([0, 0, 0])
      }
      const a = alphas(px)
      expect(a.filter((v) => v === 0).length, `${file} transparent pixels`).toBeGreaterThan(a.length / 3)
      expect(a.filter((v) => v === 255).length, `${file} solid pixels`).toBeGreaterThan(a.length / 10)
    }
  })

  it('colour tray and app icons have transparent rounded corners and colour', () => {
    const { assetsDir, outDir } = workspace()
    assets.buildAssets({ assetsDir, outDir })
    for (const file of ['icon.png', 'icons/16x16.png', ...assets.TRAY_STATES.map((s) => `tray/tray-${s}.png`)]) {
      const { width, px } = decodePng(readFileSync(join(outDir, file)))
      expect(px[3], `${file} top-left corner`).toBe(0)
      expect(px[(width * width - 1) * 4 + 3], `${file} bottom-right corner`).toBe(0)
      const centre = ((width / 2) * width + width / 2) * 4
      expect(px[centre + 3], `${file} centre is opaque`).toBe(255)
      expect(px[centre + 2]! > px[centre]!, `${file} centre is blue`).toBe(true)
    }
  })

  it('draws each tray state differently, in both styles', () => {
    const { assetsDir, outDir } = workspace()
    assets.buildAssets({ assetsDir, outDir })
    for (const name of [(s: string) => `tray-${s}@2x.png`, (s: string) => `tray${s[0]!.toUpperCase()}${s.slice(1)}Template@2x.png`]) {
      const images = assets.TRAY_STATES.map((s) => readFileSync(join(outDir, 'tray', name(s))).toString('base64'))
      expect(new Set(images).size).toBe(assets.TRAY_STATES.length)
    }
  })

  it('writes an .ico whose directory lists each size and points at a valid image', () => {
    const { assetsDir, outDir } = workspace()
    assets.buildAssets({ assetsDir, outDir })
    const ico = readFileSync(join(outDir, 'icon.ico'))
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2)]).toEqual([0, 1])
    const count = ico.readUInt16LE(4)
    expect(count).toBe(assets.ICO_SIZES.length)
    let end = 6 + 16 * count
    for (let i = 0; i < count; i++) {
      const entry = 6 + 16 * i
      const size = ico[entry] || 256
      expect(size).toBe(assets.ICO_SIZES[i])
      const length = ico.readUInt32LE(entry + 8)
      const offset = ico.readUInt32LE(entry + 12)
      expect(offset).toBe(end)
      end = offset + length
      const image = ico.subarray(offset, offset + length)
      if (size === 256) {
        expect(decodePng(image)).toMatchObject({ width: 256, height: 256 })
      } else {
        // BITMAPINFOHEADER: width, doubled height (colour rows + mask rows), 32 bits per pixel.
        expect([image.readUInt32LE(0), image.readInt32LE(4), image.readInt32LE(8), image.readUInt16LE(14)]).toEqual([40, size, size * 2, 32])
        expect(length).toBe(40 + size * size * 4 + Math.ceil(size / 32) * 4 * size)
        // Bottom-up rows: the first stored pixel is the bottom-left corner, transparent on the rounded tile.
        expect(image[40 + 3]).toBe(0)
      }
    }
    expect(end).toBe(ico.length)
  })

  it('rerunning writes nothing; touching a source rewrites only what is made from it', () => {
    const { assetsDir, outDir } = workspace()
    assets.buildAssets({ assetsDir, outDir })
    const before = new Map(assets.outputs().map(({ out }) => [out, statSync(join(outDir, out)).mtimeMs]))

    const again = assets.buildAssets({ assetsDir, outDir })
    expect(again.built).toEqual([])
    for (const [out, mtime] of before) expect(statSync(join(outDir, out)).mtimeMs, out).toBe(mtime)

    const later = new Date(Date.now() + 10_000)
    utimesSync(join(assetsDir, 'tray-syncing-template.svg'), later, later)
    const touched = assets.buildAssets({ assetsDir, outDir })
    expect(touched.built.sort()).toEqual(['tray/traySyncingTemplate.png', 'tray/traySyncingTemplate@2x.png'])
  })

  it('renders the same bytes every time (forced rebuild)', () => {
    const { assetsDir, outDir } = workspace()
    assets.buildAssets({ assetsDir, outDir })
    const first = new Map(assets.outputs().map(({ out }) => [out, readFileSync(join(outDir, out))]))
    const forced = assets.buildAssets({ assetsDir, outDir, force: true })
    expect(forced.skipped).toEqual([])
    for (const [out, bytes] of first) expect(readFileSync(join(outDir, out)).equals(bytes), out).toBe(true)
    expect(readdirSync(join(outDir, 'tray')).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('fails with the path when a source SVG is missing', () => {
    const { assetsDir, outDir } = workspace()
    rmSync(join(assetsDir, 'tray-attention.svg'))
    expect(() => assets.buildAssets({ assetsDir, outDir })).toThrow(/missing source .*tray-attention\.svg/)
  })
})

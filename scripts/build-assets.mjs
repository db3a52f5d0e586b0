#!/usr/bin/env node
// Rasterizes the SVG sources in assets/ into assets/build/: the app icon for electron-builder
// (its buildResources folder) and the tray icons main/ loads. An output is skipped while it is
// newer than its sources and this script, so `npm run build` pays for it once.
//
//   node scripts/build-assets.mjs [--force]
//
// Output (assets/build/):
//   icon.png              1024 px, macOS icon source (electron-builder makes the .icns)
//   icon.ico              16–256 px, Windows; 16–32 from icon-small.svg so they stay sharp
//   icons/NxN.png         16–512 px, Linux icon set (.desktop, AppImage, deb)
//   tray/tray-<state>.png, tray-<state>@2x.png          Windows and Linux, colour
//   tray/tray<State>Template.png, ...Template@2x.png    macOS template images (black + alpha)
// Electron picks the @2x file itself on HiDPI screens, and treats a name ending in
// "Template" as a template image on macOS.
import { Resvg } from '@resvg/resvg-js'
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const scriptPath = fileURLToPath(import.meta.url)
const root = join(dirname(scriptPath), '..')

/** Tray states; each has a colour SVG and a macOS template SVG in assets/. */
export const TRAY_STATES = ['idle', 'syncing', 'attention']

/** Sizes of the Linux icon set, assets/build/icons/NxN.png. */
export const LINUX_ICON_SIZES = [16, 32, 48, 64, 128, 256, 512]

/** Sizes inside icon.ico. Windows picks 16/24/32 for title bars and the taskbar, 256 for Explorer. */
export const ICO_SIZES = [16, 24, 32, 48, 64, 128, 256]

/** The detailed icon.svg turns to mush at or below this size; icon-small.svg is drawn for it. */
const SMALL_ICON_MAX = 32

const appIconSource = (size) => (size <= SMALL_ICON_MAX ? 'icon-small.svg' : 'icon.svg')

/**
 * Every file this script writes: its path under the output folder, the SVG files (in assets/)
 * it is made from, and how to make it from those files' text.
 * @returns {{ out: string, sources: string[], make: (svg: (name: string) => string) => Buffer }[]}
 */
export function outputs() {
  const png = (out, source, size) => ({ out, sources: [source], make: (svg) => rasterize(svg(source), size).png })
  const list = [png('icon.png', 'icon.svg', 1024)]
  for (const size of LINUX_ICON_SIZES) list.push(png(`icons/${size}x${size}.png`, appIconSource(size), size))
  list.push({
    out: 'icon.ico',
    sources: [...new Set(ICO_SIZES.map(appIconSource))],
    make: (svg) => encodeIco(ICO_SIZES.map((size) => ({ size, ...rasterize(svg(appIconSource(size)), size) }))),
  })
  for (const state of TRAY_STATES) {
    // The idle tray icon is the small app icon itself; the other states are drawn on top of it.
    const colour = state === 'idle' ? 'icon-small.svg' : `tray-${state}.svg`
    const template = `tray-${state}-template.svg`
    const Template = `tray${state[0].toUpperCase()}${state.slice(1)}Template`
    list.push(png(`tray/tray-${state}.png`, colour, 16), png(`tray/tray-${state}@2x.png`, colour, 32))
    list.push(png(`tray/${Template}.png`, template, 16), png(`tray/${Template}@2x.png`, template, 32))
  }
  return list
}

/**
 * Renders SVG text to a square image `size` pixels wide.
 * @returns {{ png: Buffer, rgba: Buffer }} rgba is premultiplied, as resvg renders it.
 */
export function rasterize(svgText, size) {
  const image = new Resvg(svgText, {
    fitTo: { mode: 'width', value: size },
    // The icons hold no text; skipping the font scan is most of the speed-up.
    font: { loadSystemFonts: false },
  }).render()
  if (image.width !== size || image.height !== size) {
    throw new Error(`build-assets: SVG is not square: rendered ${image.width}x${image.height} for ${size}`)
  }
  return { png: image.asPng(), rgba: image.pixels }
}

/**
 * Packs square images into an .ico file. 256 px goes in as PNG (Vista and later); smaller sizes as
 * 32-bit BMP, which every consumer of .ico files reads (NSIS, rcedit, old shell code).
 * @param {{ size: number, png: Buffer, rgba: Buffer }[]} images
 */
export function encodeIco(images) {
  const blobs = images.map((image) => (image.size >= 256 ? image.png : icoBitmap(image.size, image.rgba)))
  const header = Buffer.alloc(6 + 16 * images.length)
  header.writeUInt16LE(0, 0) // reserved
  header.writeUInt16LE(1, 2) // 1 = icon
  header.writeUInt16LE(images.length, 4)
  let offset = header.length
  images.forEach((image, i) => {
    const entry = 6 + 16 * i
    header.writeUInt8(image.size >= 256 ? 0 : image.size, entry) // 0 means 256
    header.writeUInt8(image.size >= 256 ? 0 : image.size, entry + 1)
    header.writeUInt16LE(1, entry + 4) // colour planes
    header.writeUInt16LE(32, entry + 6) // bits per pixel
    header.writeUInt32LE(blobs[i].length, entry + 8)
    header.writeUInt32LE(offset, entry + 12)
    offset += blobs[i].length
  })
  return Buffer.concat([header, ...blobs])
}

/** One .ico image as a BITMAPINFOHEADER + bottom-up BGRA rows + 1-bit AND mask. */
function icoBitmap(size, premultipliedRgba) {
  const maskRow = Math.ceil(size / 32) * 4
  const out = Buffer.alloc(40 + size * size * 4 + maskRow * size)
  out.writeUInt32LE(40, 0) // header size
  out.writeInt32LE(size, 4)
  out.writeInt32LE(size * 2, 8) // height counts the colour rows and the mask rows
  out.writeUInt16LE(1, 12) // planes
  out.writeUInt16LE(32, 14) // bits per pixel
  out.writeUInt32LE(size * size * 4 + maskRow * size, 20) // image size (no compression)
  for (let y = 0; y < size; y++) {
    const row = size - 1 - y // BMP rows run bottom-up
    for (let x = 0; x < size; x++) {
      const src = (y * size + x) * 4
      const dst = 40 + (row * size + x) * 4
      const a = premultipliedRgba[src + 3]
      // BMP wants straight alpha; resvg hands out premultiplied.
      const straight = (c) => (a === 0 ? 0 : Math.min(255, Math.round((c * 255) / a)))
      out[dst] = straight(premultipliedRgba[src + 2])
      out[dst + 1] = straight(premultipliedRgba[src + 1])
      out[dst + 2] = straight(premultipliedRgba[src])
      out[dst + 3] = a
      // AND mask bit set = transparent, for readers that ignore the alpha channel.
      if (a === 0) out[40 + size * size * 4 + row * maskRow + (x >> 3)] |= 0x80 >> (x & 7)
    }
  }
  return out
}

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return -1
  }
}

/**
 * Writes every output that is missing or older than its sources (or this script).
 * @param {{ assetsDir?: string, outDir?: string, force?: boolean }} [init]
 *   assetsDir: folder holding the SVG sources. @default <repo>/assets
 *   outDir: where the rasters go. @default <assetsDir>/build
 *   force: rewrite everything, whatever the mtimes say. @default false
 * @returns {{ built: string[], skipped: string[] }} output paths relative to outDir
 */
export function buildAssets(init = {}) {
  const assetsDir = init.assetsDir ?? join(root, 'assets')
  const outDir = init.outDir ?? join(assetsDir, 'build')
  const scriptTime = mtime(scriptPath)
  const svgCache = new Map()
  const svg = (name) => {
    if (!svgCache.has(name)) svgCache.set(name, readFileSync(join(assetsDir, name), 'utf8'))
    return svgCache.get(name)
  }
  const built = []
  const skipped = []
  for (const { out, sources, make } of outputs()) {
    const target = join(outDir, out)
    const sourceTimes = sources.map((s) => mtime(join(assetsDir, s)))
    const missing = sources.filter((_, i) => sourceTimes[i] < 0)
    if (missing.length > 0) throw new Error(`build-assets: missing source ${missing.map((s) => join(assetsDir, s)).join(', ')}`)
    if (!init.force && mtime(target) >= Math.max(scriptTime, ...sourceTimes)) {
      skipped.push(out)
      continue
    }
    mkdirSync(dirname(target), { recursive: true })
    // Write then rename: a concurrent build (two test files, an editor watcher) never sees half a PNG.
    const temp = `${target}.${process.pid}.tmp`
    writeFileSync(temp, make(svg))
    renameSync(temp, target)
    built.push(out)
  }
  return { built, skipped }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now()
  const { built, skipped } = buildAssets({ force: process.argv.includes('--force') })
  if (built.length > 0 || process.env.BUILD_VERBOSE) {
    const outDir = relative(process.cwd(), join(root, 'assets', 'build')) || '.'
    console.error(`build-assets: wrote ${built.length}, kept ${skipped.length} in ${outDir} (${Date.now() - started} ms)`)
  }
}

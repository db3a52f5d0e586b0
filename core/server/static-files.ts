import { readFile } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

/** A file read from a folder, or undefined when the path is outside it or missing. */
export async function readStaticFile(root: string, urlPath: string): Promise<{ body: Buffer; type: string } | undefined> {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath)
  } catch {
    return undefined
  }
  if (decoded.includes('\0')) return undefined
  const base = resolve(root)
  const file = resolve(join(base, decoded))
  if (file !== base && !file.startsWith(base + sep)) return undefined
  try {
    const body = await readFile(file)
    return { body, type: TYPES[extname(file)] ?? 'application/octet-stream' }
  } catch {
    return undefined
  }
}

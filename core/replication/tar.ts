/**
 * A minimal POSIX ustar writer, for exporting blobs as one download in browser mode. Files are
 * regular files with mode 0644; names must fit the 100-byte name field.
 */

/** One file of the archive. */
export interface TarEntry {
  name: string
  bytes: Uint8Array
  /** Unix seconds. @default 0 */
  mtime?: number
}

const BLOCK = 512

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

/** The 512-byte header of one entry. */
export function tarHeader(name: string, size: number, mtime = 0): Uint8Array {
  const nameBytes = new TextEncoder().encode(name)
  if (nameBytes.length > 100) throw new RangeError(`tar entry name longer than 100 bytes: ${name}`)
  const h = new Uint8Array(BLOCK)
  const put = (offset: number, text: string) => h.set(new TextEncoder().encode(text), offset)
  h.set(nameBytes, 0)
  put(100, octal(0o644, 8))
  put(108, octal(0, 8))
  put(116, octal(0, 8))
  put(124, octal(size, 12))
  put(136, octal(mtime, 12))
  put(148, '        ') // checksum is computed with this field as spaces
  put(156, '0')
  put(257, 'ustar\0')
  put(263, '00')
  let sum = 0
  for (const b of h) sum += b
  put(148, sum.toString(8).padStart(6, '0') + '\0 ')
  return h
}

/** The archive, entry by entry (each file is held once, as given). */
export async function* writeTar(entries: AsyncIterable<TarEntry> | Iterable<TarEntry>): AsyncGenerator<Uint8Array> {
  for await (const e of entries) {
    yield tarHeader(e.name, e.bytes.byteLength, e.mtime ?? 0)
    yield e.bytes
    const pad = (BLOCK - (e.bytes.byteLength % BLOCK)) % BLOCK
    if (pad > 0) yield new Uint8Array(pad)
  }
  yield new Uint8Array(BLOCK * 2)
}

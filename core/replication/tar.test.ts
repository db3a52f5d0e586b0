import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tarHeader, writeTar } from './tar.js'

describe('writeTar', () => {
  it('writes an archive the system tar extracts byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-tar-'))
    try {
      const a = new Uint8Array(1000).map((_, i) => i % 251)
      const b = new TextEncoder().encode('{"hello":"world"}')
      const chunks: Uint8Array[] = []
      for await (const c of writeTar([
        { name: 'blobs/bafkreiaaa', bytes: a, mtime: 1_700_000_000 },
        { name: 'manifest.json', bytes: b },
        { name: 'empty', bytes: new Uint8Array(0) },
      ])) {
        chunks.push(c)
      }
      const tar = Buffer.concat(chunks)
      expect(tar.length % 512).toBe(0)
      writeFileSync(join(dir, 'x.tar'), tar)
      const r = spawnSync('tar', ['-xf', 'x.tar'], { cwd: dir, encoding: 'utf8' })
      expect(r.status, r.stderr).toBe(0)
      expect(new Uint8Array(readFileSync(join(dir, 'blobs', 'bafkreiaaa')))).toEqual(a)
      expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe('{"hello":"world"}')
      expect(readFileSync(join(dir, 'empty')).length).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a name that does not fit', () => {
    expect(() => tarHeader('x'.repeat(101), 1)).toThrow(RangeError)
  })
})

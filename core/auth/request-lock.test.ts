import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createRequestLock } from './request-lock.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pds-lock-'))
  dirs.push(d)
  return d
}

describe('request lock over lock files in the data dir', () => {
  it('lets one holder at a time run, across two independent lock instances (as two processes would)', async () => {
    const dir = tempDir()
    const a = createRequestLock({ dir, pollMs: 5 })
    const b = createRequestLock({ dir, pollMs: 5 })
    let inside = 0
    let maxInside = 0
    const work = (lock: typeof a) =>
      lock('refresh:did:plc:x', async () => {
        inside++
        maxInside = Math.max(maxInside, inside)
        await new Promise((r) => setTimeout(r, 20))
        inside--
      })
    await Promise.all([work(a), work(b), work(a), work(b)])
    expect(maxInside).toBe(1)
    expect(readdirSync(dir)).toEqual([]) // released
  })

  it('does not hold other names, releases after a failure, and takes over a file left by a dead process', async () => {
    const dir = tempDir()
    const lock = createRequestLock({ dir, pollMs: 5, timeoutMs: 500 })
    await expect(lock('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await lock('a', () => 1)).toBe(1)
    // A lock file whose owner is gone (pid 2^22 + 1 is beyond Linux's pid_max default).
    const file = join(dir, `${createHash('sha256').update('b').digest('hex').slice(0, 32)}.lock`)
    writeFileSync(file, String(4194305))
    expect(await lock('b', () => 'taken over')).toBe('taken over')
  })

  it('gives up with a sentence when another holder keeps the lock', async () => {
    const dir = tempDir()
    const a = createRequestLock({ dir, pollMs: 5 })
    const b = createRequestLock({ dir, pollMs: 5, timeoutMs: 100 })
    let release: () => void = () => undefined
    const held = a('x', () => new Promise<void>((r) => (release = r)))
    await new Promise((r) => setTimeout(r, 20))
    await expect(b('x', () => 1)).rejects.toThrow(/Timed out waiting for the lock/)
    release()
    await held
  })
})

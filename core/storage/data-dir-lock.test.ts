import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirLockedError } from '../errors.js'
import { acquireDataDirLock, isProcessAlive } from './data-dir-lock.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-lock-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('data-dir lock', () => {
  it('refuses a second holder in the same process and frees on release', () => {
    const lock = acquireDataDirLock(dir)
    expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError)
    lock.release()
    lock.release()
    expect(existsSync(join(dir, 'node.lock'))).toBe(false)
    acquireDataDirLock(dir).release()
  })

  it('refuses a lock held by another live process, naming its pid', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
    try {
      writeFileSync(join(dir, 'node.lock'), JSON.stringify({ pid: child.pid }))
      let error: unknown
      try {
        acquireDataDirLock(dir)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(DataDirLockedError)
      expect((error as DataDirLockedError).pid).toBe(child.pid)
      expect((error as Error).message).toContain(`pid ${child.pid}`)
      expect((error as Error).message).not.toContain('\n')
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('takes over a lock left by a killed process', () => {
    const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' })
    const deadPid = Number(r.stdout.trim())
    expect(isProcessAlive(deadPid)).toBe(false)
    writeFileSync(join(dir, 'node.lock'), JSON.stringify({ pid: deadPid }))
    const lock = acquireDataDirLock(dir)
    expect(JSON.parse(readFileSync(join(dir, 'node.lock'), 'utf8')).pid).toBe(process.pid)
    lock.release()
  })
})

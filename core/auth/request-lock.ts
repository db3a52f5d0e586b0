/**
 * A lock that holds across every process using the data dir (the desktop app, `p2pds serve`, a
 * CLI command): OAuth refresh tokens rotate, so two processes refreshing one session at once
 * would get the user logged out ("Refresh token replayed"). The OAuth client takes it as its
 * `requestLock`.
 *
 * One lock file per name (`DATA_DIR/locks/<sha256(name)>.lock`, created with `O_EXCL`, holding
 * the owner's pid). A file left by a process that died, or older than `staleMs`, is taken over.
 * Inside one process, callers of the same name also queue in memory, so the file is tried by one
 * of them at a time.
 */
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { P2pdsError } from '../errors.js'

export interface RequestLockInit {
  /** Folder holding the lock files (created when missing). */
  dir: string
  /** A lock file older than this is taken to be abandoned, in ms. @default 30000 */
  staleMs?: number
  /** Longest wait for a lock, in ms. @default 30000 */
  timeoutMs?: number
  /** Pause between two tries, in ms. @default 25 */
  pollMs?: number
}

/** `(name, fn)`: runs `fn` while holding the lock `name`. */
export type RequestLock = <T>(name: string, fn: () => T | PromiseLike<T>) => Promise<T>

/** Makes a {@link RequestLock} over lock files in `init.dir`. */
export function createRequestLock(init: RequestLockInit): RequestLock {
  const staleMs = init.staleMs ?? 30_000
  const timeoutMs = init.timeoutMs ?? 30_000
  const pollMs = init.pollMs ?? 25
  const queues = new Map<string, Promise<unknown>>()
  mkdirSync(init.dir, { recursive: true, mode: 0o700 })

  const acquire = async (file: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        const fd = openSync(file, 'wx', 0o600)
        writeSync(fd, String(process.pid))
        closeSync(fd)
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      if (abandoned(file, staleMs)) {
        rmSync(file, { force: true })
        continue
      }
      if (Date.now() > deadline) throw new P2pdsError(`Timed out waiting for the lock ${file}; another P2PDS process holds it. Try again.`)
      await sleep(pollMs)
    }
  }

  return async <T>(name: string, fn: () => T | PromiseLike<T>): Promise<T> => {
    const file = join(init.dir, `${createHash('sha256').update(name).digest('hex').slice(0, 32)}.lock`)
    const previous = queues.get(name) ?? Promise.resolve()
    const run = previous.catch(() => undefined).then(async () => {
      await acquire(file)
      try {
        return await fn()
      } finally {
        rmSync(file, { force: true })
      }
    })
    const tail = run.catch(() => undefined)
    queues.set(name, tail)
    void tail.then(() => {
      if (queues.get(name) === tail) queues.delete(name)
    })
    return run
  }
}

function abandoned(file: string, staleMs: number): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8'))
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) return true
    return Date.now() - statSync(file).mtimeMs > staleMs
  } catch {
    return false // gone already (or being written): try again
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

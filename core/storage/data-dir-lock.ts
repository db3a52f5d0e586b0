/**
 * One node per data dir. The lock is a file created with O_EXCL that holds the owner's pid; a
 * lock whose pid is no longer alive (a killed node) is taken over, so a crash never needs a
 * manual clean-up.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DATA_DIR_FILES } from '../data-dir.js'
import { DataDirLockedError } from '../errors.js'

/** A held data-dir lock. */
export interface DataDirLock {
  readonly dataDir: string
  /** Releases the lock; safe to call twice. */
  release(): void
}

// Locks held by this process: a second node in the same process must be refused too, and the
// pid check alone cannot tell this process's live lock from a stale one left by a dead process
// that happened to have the same pid.
const heldHere = new Set<string>()

/** Whether a process with this pid exists (EPERM means it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readOwner(file: string): number | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }
    return typeof parsed.pid === 'number' ? parsed.pid : undefined
  } catch {
    return undefined
  }
}

/** Takes the data-dir lock or throws {@link DataDirLockedError} naming the process that holds it. */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const dir = resolve(dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, DATA_DIR_FILES.lock)
  if (heldHere.has(dir)) throw new DataDirLockedError(dir, process.pid)

  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }))
      } finally {
        closeSync(fd)
      }
      heldHere.add(dir)
      let released = false
      return {
        dataDir: dir,
        release() {
          if (released) return
          released = true
          heldHere.delete(dir)
          try {
            if (readOwner(file) === process.pid) unlinkSync(file)
          } catch {
            // Already gone: nothing to release.
          }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const owner = readOwner(file)
      // A lock file being written right now has no pid yet: treat it as held.
      if (owner === undefined && attempt === 0) continue
      if (owner !== undefined && owner !== process.pid && isProcessAlive(owner)) throw new DataDirLockedError(dir, owner)
      // Stale: its process is gone (or it is ours from a previous life of this pid).
      try {
        unlinkSync(file)
      } catch {
        // Someone else removed it first; retry.
      }
    }
  }
  throw new DataDirLockedError(dir, readOwner(file) ?? 0)
}

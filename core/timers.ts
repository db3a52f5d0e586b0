import { AbortError } from './errors.js'

/** Waits `ms`; rejects with {@link AbortError} at once when `signal` fires (or already has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // An abort listener added to an already-aborted signal never fires.
    if (signal?.aborted === true) {
      reject(new AbortError())
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(new AbortError())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

import { useEffect, useState } from 'react'
import { actionSentence } from './problem.js'

/** Where an asynchronous read is. */
export type Load<T> = { state: 'loading' } | { state: 'ok'; value: T } | { state: 'error'; sentence: string }

const LOADING = { state: 'loading' } as const

/**
 * Reads something from the node for a view. `key` names what is read: a new key starts over
 * (shows loading), while a new `version` of the same key reads again and keeps showing the old
 * value until the new one arrives. A null key reads nothing. Answers for an old key are dropped.
 */
export function useLoad<T>(key: string | null, load: () => Promise<T>, version = 0): Load<T> {
  const [held, setHeld] = useState<{ key: string | null; load: Load<T> }>({ key, load: LOADING })
  useEffect(() => {
    if (key === null) return
    let cancelled = false
    load().then(
      (value) => {
        if (!cancelled) setHeld({ key, load: { state: 'ok', value } })
      },
      (err: unknown) => {
        if (!cancelled) setHeld({ key, load: { state: 'error', sentence: actionSentence(err) } })
      },
    )
    return () => {
      cancelled = true
    }
    // `load` is a new closure on every render; what it reads is named by `key`.
  }, [key, version])
  return held.key === key ? held.load : LOADING
}

/**
 * Runs an async task on demand without piling up: never two runs at once, and calls made while
 * it runs fold into one more run after it (so the last call always sees a fresh run). Used for
 * refreshing the account list on `accounts:changed`, which fires at every sync start and end.
 */
export function coalescedTask(task: () => Promise<void>, onError: (err: unknown) => void): () => Promise<void> {
  let running: Promise<void> | undefined
  let again = false

  const loop = async (): Promise<void> => {
    do {
      again = false
      try {
        await task()
      } catch (err) {
        onError(err)
      }
    } while (again)
  }

  return () => {
    if (running !== undefined) {
      again = true
      return running
    }
    running = loop().finally(() => {
      running = undefined
    })
    return running
  }
}

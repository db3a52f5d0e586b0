import { describe, expect, it, vi } from 'vitest'
import { coalescedTask } from './coalesced-task.js'

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

describe('coalescedTask', () => {
  it('runs at once when idle', async () => {
    const task = vi.fn(async () => undefined)
    await coalescedTask(task, () => undefined)()
    expect(task).toHaveBeenCalledTimes(1)
  })

  it('folds calls made during a run into one more run, never two at once', async () => {
    const gates: Array<ReturnType<typeof deferred>> = []
    let active = 0
    let maxActive = 0
    const task = vi.fn(async () => {
      active++
      maxActive = Math.max(maxActive, active)
      const gate = deferred()
      gates.push(gate)
      await gate.promise
      active--
    })
    const run = coalescedTask(task, () => undefined)
    const first = run()
    const during = [run(), run(), run()]
    expect(task).toHaveBeenCalledTimes(1)
    gates[0]!.resolve()
    await vi.waitFor(() => expect(gates).toHaveLength(2))
    gates[1]!.resolve()
    await Promise.all([first, ...during])
    expect(task).toHaveBeenCalledTimes(2)
    expect(maxActive).toBe(1)
  })

  it('reports a failing run and keeps working', async () => {
    const onError = vi.fn()
    let fail = true
    const run = coalescedTask(async () => {
      if (fail) throw new Error('node stopping')
    }, onError)
    await run()
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'node stopping' }))
    fail = false
    await expect(run()).resolves.toBeUndefined()
    expect(onError).toHaveBeenCalledTimes(1)
  })
})

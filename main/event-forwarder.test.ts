import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ApiEventName } from '../core/api.js'
import { coalesceKey, createEventForwarder } from './event-forwarder.js'

// Event names beyond the contract's are fine here: the forwarder does not interpret them.
const ev = (n: string): ApiEventName => n as ApiEventName

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

function setup(intervalMs = 100) {
  const sent: Array<[string, unknown]> = []
  let visible = true
  const f = createEventForwarder({
    send: (name, data) => sent.push([name, data]),
    isVisible: () => visible,
    intervalMs,
    now: () => Date.now(),
  })
  return { f, sent, setVisible: (v: boolean) => (visible = v) }
}

describe('createEventForwarder', () => {
  it('delivers promptly, then at most once per interval with the newest data', () => {
    const { f, sent } = setup()
    f.push(ev('node:status'), { n: 1 })
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([['node:status', { n: 1 }]])
    for (let n = 2; n <= 50; n++) f.push(ev('node:status'), { n })
    vi.advanceTimersByTime(50)
    expect(sent).toHaveLength(1)
    vi.advanceTimersByTime(50)
    expect(sent).toEqual([
      ['node:status', { n: 1 }],
      ['node:status', { n: 50 }],
    ])
  })

  it('coalesces per name and per DID, never across accounts', () => {
    const { f, sent } = setup()
    f.push(ev('sync:progress'), { did: 'did:plc:a', blocks: 1 })
    f.push(ev('sync:progress'), { did: 'did:plc:b', blocks: 1 })
    f.push(ev('sync:progress'), { did: 'did:plc:a', blocks: 2 })
    f.push(ev('node:status'), { state: 'started' })
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([
      ['sync:progress', { did: 'did:plc:b', blocks: 1 }],
      ['sync:progress', { did: 'did:plc:a', blocks: 2 }],
      ['node:status', { state: 'started' }],
    ])
    expect(coalesceKey('x', { did: 'did:plc:a' })).not.toBe(coalesceKey('x', { did: 'did:plc:b' }))
    expect(coalesceKey('x', null)).toBe('x')
  })

  it('holds events while hidden and sends only the newest state on show', () => {
    const { f, sent, setVisible } = setup()
    setVisible(false)
    for (let n = 1; n <= 1000; n++) f.push(ev('node:status'), { n })
    vi.advanceTimersByTime(10_000)
    expect(sent).toEqual([])
    setVisible(true)
    f.shown()
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([['node:status', { n: 1000 }]])
  })

  it('does no work while the window is closed to the tray, and a new window gets the newest state', () => {
    // The window was closed (Windows, Linux) or hidden (macOS): isVisible() is false.
    const { f, sent, setVisible } = setup()
    f.push(ev('node:status'), { n: 0 })
    vi.advanceTimersByTime(0)
    setVisible(false)
    for (let n = 1; n <= 500; n++) {
      f.push(ev('node:status'), { n })
      f.push(ev('sync:progress'), { did: 'did:plc:a', blocks: n })
    }
    // Nothing sent and no timer armed: no wake-ups at all while closed.
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(sent).toEqual([['node:status', { n: 0 }]])
    // A new window loads the page (replay), then shows.
    sent.length = 0
    f.replay()
    expect(vi.getTimerCount()).toBe(0)
    setVisible(true)
    f.shown()
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([
      ['node:status', { n: 500 }],
      ['sync:progress', { did: 'did:plc:a', blocks: 500 }],
    ])
  })

  it('replays the newest of every event to a reloaded page', () => {
    const { f, sent } = setup()
    f.push(ev('node:status'), { n: 1 })
    f.push(ev('other:event'), { x: 1 })
    vi.advanceTimersByTime(0)
    sent.length = 0
    f.replay()
    vi.advanceTimersByTime(100)
    expect(sent).toEqual([
      ['node:status', { n: 1 }],
      ['other:event', { x: 1 }],
    ])
  })

  it('bounds what it holds, survives a failing send, and stops on close', () => {
    const sent: string[] = []
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    let visible = false
    const f = createEventForwarder({
      send: (name, data) => {
        if ((data as { did: string }).did === 'did:plc:bad') throw new Error('Object has been destroyed')
        sent.push(`${name} ${(data as { did: string }).did}`)
      },
      isVisible: () => visible,
      maxPending: 3,
    })
    for (const d of ['a', 'b', 'bad', 'c']) f.push(ev('sync:progress'), { did: `did:plc:${d}` })
    visible = true
    f.shown()
    vi.advanceTimersByTime(0)
    expect(sent).toEqual(['sync:progress did:plc:b', 'sync:progress did:plc:c'])
    expect(error).toHaveBeenCalledTimes(1)
    f.close()
    f.push(ev('node:status'), { did: 'did:plc:z' })
    f.replay()
    vi.advanceTimersByTime(1000)
    expect(sent).toHaveLength(2)
    error.mockRestore()
  })
})

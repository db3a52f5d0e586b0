import { describe, expect, it, vi } from 'vitest'
import { challengeFailedNotice, closeHintNotice, createNotificationThrottle, createNotifier, exportFailedNotice, exportFinishedNotice, formatBytes, storageWarningNotice, syncAllFailedNotice, syncFailedNotice, type Notice } from './notifications.js'

function clock(start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('createNotificationThrottle', () => {
  it('lets through at most one notice per kind and DID per 10 minutes', () => {
    const c = clock()
    const throttle = createNotificationThrottle({ now: c.now })
    expect(throttle.allow('sync-failed', 'did:plc:a')).toBe(true)
    expect(throttle.allow('sync-failed', 'did:plc:a')).toBe(false)
    // Other DIDs and other kinds are counted apart.
    expect(throttle.allow('sync-failed', 'did:plc:b')).toBe(true)
    expect(throttle.allow('challenge-failed', 'did:plc:a')).toBe(true)
    c.advance(10 * 60_000 - 1)
    expect(throttle.allow('sync-failed', 'did:plc:a')).toBe(false)
    c.advance(1)
    expect(throttle.allow('sync-failed', 'did:plc:a')).toBe(true)
  })

  it('caps every kind together at N per minute, and recovers as the window slides', () => {
    const c = clock()
    const throttle = createNotificationThrottle({ now: c.now, maxPerWindow: 3 })
    const shown = Array.from({ length: 10 }, (_, i) => throttle.allow('sync-failed', `did:plc:${i}`))
    expect(shown).toEqual([true, true, true, false, false, false, false, false, false, false])
    // An export the user asked for is not throttled per key, but still counts in the overall cap.
    expect(throttle.allow('export-finished', 'x')).toBe(false)
    c.advance(60_000)
    expect(throttle.allow('export-finished', 'x')).toBe(true)
    expect(throttle.allow('export-finished', 'x')).toBe(true)
    // A notice refused by the overall cap was not counted as shown for its key.
    expect(throttle.allow('sync-failed', 'did:plc:3')).toBe(true)
  })

  it('takes per-kind intervals from its init', () => {
    const c = clock()
    const throttle = createNotificationThrottle({ now: c.now, perKeyMs: { 'offer-received': 1000 } })
    expect(throttle.allow('offer-received', 'did:plc:a')).toBe(true)
    c.advance(1000)
    expect(throttle.allow('offer-received', 'did:plc:a')).toBe(true)
  })
})

describe('createNotifier', () => {
  const notice: Notice = { kind: 'sync-failed', key: 'did:plc:a', title: 't', body: 'b' }

  it('shows what the throttle allows and swallows a failing show', () => {
    const shown: Notice[] = []
    const n = createNotifier({ show: (x) => shown.push(x) })
    expect(n.notify(notice)).toBe(true)
    expect(n.notify(notice)).toBe(false)
    expect(shown).toEqual([notice])
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const broken = createNotifier({
      show: () => {
        throw new Error('no notification daemon')
      },
    })
    expect(broken.notify(notice)).toBe(false)
    expect(error).toHaveBeenCalledOnce()
    error.mockRestore()
  })
})

describe('notice texts', () => {
  it('names the account by handle (else DID) and keeps error text to one line', () => {
    const error = { name: 'FetchFailedError', code: 'ERR_FETCH_FAILED', message: 'The PDS did not answer.\n    at fetch' }
    expect(syncFailedNotice('did:plc:a', error, { handle: 'alice.test' })).toEqual({
      kind: 'sync-failed',
      key: 'did:plc:a',
      title: 'Backup of alice.test failed',
      body: 'The PDS did not answer.',
    })
    expect(syncFailedNotice('did:plc:a', error)?.title).toBe('Backup of did:plc:a failed')
    expect(syncAllFailedNotice(new Error('The node is stopping.\nstack'))).toEqual({ kind: 'sync-failed', key: '', title: 'Could not start the backups', body: 'The node is stopping.' })
  })

  it('says nothing about an aborted sync (the node stopping, the account removed)', () => {
    const aborted = { name: 'AbortError', code: 'ERR_ABORTED', message: 'The node is stopping.' }
    expect(syncFailedNotice('did:plc:a', aborted)).toBeNull()
    const shown: Notice[] = []
    expect(createNotifier({ show: (x) => shown.push(x) }).notify(syncFailedNotice('did:plc:a', aborted))).toBe(false)
    expect(shown).toEqual([])
    expect(exportFailedNotice('car', 'did:plc:a', new Error('Disk full\nstack'), null).body).toBe('Disk full')
  })

  it('says what an export wrote and where', () => {
    expect(exportFinishedNotice('car', 'did:plc:a', { path: '/home/u/alice.car', bytes: 1_534_000, items: 420 }, { handle: 'alice.test' })).toMatchObject({
      title: 'Exported alice.test (CAR)',
      body: '420 blocks, 1.5 MB, saved to /home/u/alice.car',
    })
    expect(exportFinishedNotice('blobs', 'did:plc:a', { path: '/b', bytes: 10, items: 1 }).body).toBe('1 blob, 10 B, saved to /b')
  })

  it('names where the icon lives on each platform', () => {
    expect(closeHintNotice('darwin').body).toContain('menu bar')
    expect(closeHintNotice('win32').body).toContain('notification area')
    expect(closeHintNotice('linux').body).toContain('tray')
  })

  it('formats sizes', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(999)).toBe('999 B')
    expect(formatBytes(1000)).toBe('1.0 kB')
    expect(formatBytes(250_000_000)).toBe('250 MB')
    expect(formatBytes(3.2e12)).toBe('3.2 TB')
  })
})

describe('storageWarningNotice', () => {
  const MB = 1024 * 1024
  it('says the storage is almost full, then full, each at most once per 6 hours', () => {
    const warning = storageWarningNotice({ usedBytes: 9.5 * MB, blocks: 10, limitBytes: 10 * MB, fraction: 0.95, level: 'warning' })
    expect(warning).toEqual({ kind: 'storage-warning', key: 'warning', title: 'Storage is almost full', body: expect.stringMatching(/^[\d.]+ MB of the [\d.]+ MB storage cap is used \(95%\)\. At the cap, new syncs stop/) })
    const full = storageWarningNotice({ usedBytes: 11 * MB, blocks: 10, limitBytes: 10 * MB, fraction: 1.1, level: 'full' })
    expect(full).toMatchObject({ key: 'full', title: 'Storage is full', body: expect.stringMatching(/no new sync starts\. Raise the cap in Settings/) })
    expect(storageWarningNotice({ usedBytes: 1, blocks: 1, limitBytes: 10 * MB, fraction: 0, level: 'ok' })).toBeNull()
    const c = clock()
    const shown: Notice[] = []
    const notifier = createNotifier({ now: c.now, show: (n) => void shown.push(n) })
    expect(notifier.notify(warning)).toBe(true)
    expect(notifier.notify(warning)).toBe(false)
    // Reaching the cap is said even right after the warning.
    expect(notifier.notify(full)).toBe(true)
    c.advance(6 * 60 * 60_000)
    expect(notifier.notify(warning)).toBe(true)
    expect(shown.map((n) => n.key)).toEqual(['warning', 'full', 'warning'])
  })
})

describe('challengeFailedNotice', () => {
  const base = { id: 1, peer: 3, peerId: '12D3KooWPeer', did: 'did:plc:abc', level: 'L2' as const, transport: 'libp2p' as const, samples: 16, commit: null, rev: null, durationMs: 5, at: '2026-11-29T08:00:00.000Z' }
  it('says which peer failed to prove which account, for lost or faked data only', () => {
    const n = challengeFailedNotice({ ...base, ok: false, reason: 'missing-block', message: '2 of 16 sampled blocks were not produced (first: bafy…).' }, { handle: 'alice.test' })
    expect(n).toEqual({
      kind: 'challenge-failed',
      key: '3\u0000did:plc:abc',
      title: 'A peer failed to prove it holds alice.test',
      body: '12D3KooWPeer: 2 of 16 sampled blocks were not produced (first: bafy…).',
    })
    expect(challengeFailedNotice({ ...base, ok: true, reason: null, message: 'ok' })).toBeNull()
    expect(challengeFailedNotice({ ...base, ok: false, reason: 'unreachable', message: 'offline' })).toBeNull()
    expect(challengeFailedNotice({ ...base, ok: false, reason: 'late', message: 'late' })).toBeNull()
  })
})

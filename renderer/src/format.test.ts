import { describe, expect, it } from 'vitest'
import {
  formatBytes,
  formatDateTime,
  formatDuration,
  formatElapsedMs,
  formatEta,
  formatMb,
  formatRelativeTime,
  formatUptime,
  hostLabel,
  middleEllipsis,
  plural,
  stateLabel,
} from './format.js'

describe('formatUptime', () => {
  it('shows seconds alone under a minute', () => {
    expect(formatUptime(0)).toBe('0 s')
    expect(formatUptime(12)).toBe('12 s')
    expect(formatUptime(59.9)).toBe('59 s')
  })

  it('always shows the two largest units', () => {
    expect(formatUptime(60)).toBe('1 min 00 s')
    expect(formatUptime(4 * 60 + 7)).toBe('4 min 07 s')
    expect(formatUptime(2 * 3600 + 5 * 60 + 59)).toBe('2 h 05 min')
    expect(formatUptime(3 * 86_400 + 4 * 3600 + 120)).toBe('3 d 4 h')
    expect(formatUptime(86_400)).toBe('1 d 0 h')
  })

  it('treats nonsense as zero', () => {
    expect(formatUptime(-5)).toBe('0 s')
    expect(formatUptime(Number.NaN)).toBe('0 s')
  })
})

describe('formatDuration', () => {
  it('drops zero units', () => {
    expect(formatDuration(3600)).toBe('1 h')
    expect(formatDuration(5400)).toBe('1 h 30 min')
    expect(formatDuration(604_800)).toBe('7 d')
    expect(formatDuration(21_600)).toBe('6 h')
    expect(formatDuration(90_061)).toBe('1 d 1 h')
    expect(formatDuration(0)).toBe('0 s')
  })
})

describe('formatMb', () => {
  it('uses MB below a gigabyte and GB above', () => {
    expect(formatMb(123.44)).toBe('123.4 MB')
    expect(formatMb(0)).toBe('0.0 MB')
    expect(formatMb(1536)).toBe('1.5 GB')
    expect(formatMb(-1)).toBe('–')
  })
})

describe('labels', () => {
  it('names a started node Running', () => {
    expect(stateLabel('started')).toBe('Running')
    expect(stateLabel('starting')).toBe('Starting')
    expect(stateLabel('stopping')).toBe('Stopping')
    expect(stateLabel('stopped')).toBe('Stopped')
  })

  it('names the hosts', () => {
    expect(hostLabel('desktop')).toBe('Desktop app')
    expect(hostLabel('serve')).toBe('Headless (p2pds serve)')
  })
})

describe('formatDateTime', () => {
  it('returns a dash for missing or invalid times', () => {
    expect(formatDateTime(null)).toBe('–')
    expect(formatDateTime('not a date')).toBe('–')
    expect(formatDateTime('2025-01-02T03:04:05Z', 'en-GB')).toMatch(/2025/)
  })
})

describe('formatBytes', () => {
  it('uses binary units with one decimal below 100', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1024)).toBe('1.0 KB')
    expect(formatBytes(12_600)).toBe('12.3 KB')
    expect(formatBytes(150 * 1024)).toBe('150 KB')
    expect(formatBytes(1.5 * 1024 ** 2)).toBe('1.5 MB')
    expect(formatBytes(640 * 1024 ** 2)).toBe('640 MB')
    expect(formatBytes(3.25 * 1024 ** 3)).toBe('3.3 GB')
  })

  it('does not print 1024 of a unit', () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe('1.0 MB')
  })

  it('returns a dash for nonsense', () => {
    expect(formatBytes(-1)).toBe('–')
    expect(formatBytes(Number.NaN)).toBe('–')
  })
})

describe('formatEta', () => {
  it('rounds more coarsely the longer it is', () => {
    expect(formatEta(0.4)).toBe('a moment')
    expect(formatEta(7.2)).toBe('8 s')
    expect(formatEta(154)).toBe('2 min 30 s')
    expect(formatEta(14 * 60 + 20)).toBe('14 min')
    expect(formatEta(3900)).toBe('1 h 5 min')
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe('a moment')
  })
})

describe('formatElapsedMs', () => {
  it('uses ms, then seconds with a decimal, then minutes', () => {
    expect(formatElapsedMs(850)).toBe('850 ms')
    expect(formatElapsedMs(2_440)).toBe('2.4 s')
    expect(formatElapsedMs(65_000)).toBe('1 min 5 s')
    expect(formatElapsedMs(-1)).toBe('–')
  })
})

describe('formatRelativeTime', () => {
  const now = Date.parse('2025-03-10T12:00:00Z')
  it('counts back from now', () => {
    expect(formatRelativeTime('2025-03-10T11:59:30Z', now)).toBe('just now')
    expect(formatRelativeTime('2025-03-10T12:00:05Z', now)).toBe('just now')
    expect(formatRelativeTime('2025-03-10T11:55:00Z', now)).toBe('5 min ago')
    expect(formatRelativeTime('2025-03-10T09:00:00Z', now)).toBe('3 h ago')
    expect(formatRelativeTime('2025-03-08T12:00:00Z', now)).toBe('2 d ago')
  })

  it('gives the date for old times, and words for missing ones', () => {
    expect(formatRelativeTime('2024-12-01T12:00:00Z', now, 'en-US')).toBe('Dec 1, 2024')
    expect(formatRelativeTime(null, now)).toBe('never')
    expect(formatRelativeTime('nope', now)).toBe('–')
  })
})

describe('plural', () => {
  it('counts with the right noun', () => {
    expect(plural(1, 'record')).toBe('1 record')
    expect(plural(1500, 'record', undefined, 'en-US')).toBe('1,500 records')
    expect(plural(0, 'entry', 'entries')).toBe('0 entries')
  })
})

describe('middleEllipsis', () => {
  it('keeps both ends of long identifiers', () => {
    expect(middleEllipsis('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', 8, 4)).toBe('bafyreig…52zy')
    expect(middleEllipsis('short')).toBe('short')
  })
})

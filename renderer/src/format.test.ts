import { describe, expect, it } from 'vitest'
import { formatDateTime, formatDuration, formatMb, formatUptime, hostLabel, stateLabel } from './format.js'

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

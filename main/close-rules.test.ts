import { describe, expect, it } from 'vitest'
import { decideWindowClose, HIDDEN_FLAG, quitWhenAllWindowsClosed, startHidden } from './close-rules.js'

describe('decideWindowClose', () => {
  it('lets the window close and the app exit while quitting, on every platform', () => {
    for (const platform of ['darwin', 'linux', 'win32'] as const) {
      expect(decideWindowClose({ platform, quitting: true, hasTray: true, hintShown: false })).toEqual({ window: 'close', keepRunning: false, showHint: false })
    }
  })

  it('hides the window on macOS and keeps the node running', () => {
    expect(decideWindowClose({ platform: 'darwin', quitting: false, hasTray: true, hintShown: false })).toEqual({ window: 'hide', keepRunning: true, showHint: true })
    expect(decideWindowClose({ platform: 'darwin', quitting: false, hasTray: false, hintShown: true })).toEqual({ window: 'hide', keepRunning: true, showHint: false })
  })

  it('closes the window but keeps the node in the tray on Windows and Linux, hinting once', () => {
    for (const platform of ['linux', 'win32'] as const) {
      expect(decideWindowClose({ platform, quitting: false, hasTray: true, hintShown: false })).toEqual({ window: 'close', keepRunning: true, showHint: true })
      expect(decideWindowClose({ platform, quitting: false, hasTray: true, hintShown: true }).showHint).toBe(false)
    }
  })

  it('quits on Windows and Linux when there is no tray to come back from', () => {
    expect(decideWindowClose({ platform: 'linux', quitting: false, hasTray: false, hintShown: false })).toEqual({ window: 'close', keepRunning: false, showHint: false })
  })
})

describe('quitWhenAllWindowsClosed', () => {
  it('quits only without a way back (not macOS, no tray) or when quitting', () => {
    expect(quitWhenAllWindowsClosed({ platform: 'darwin', quitting: false, hasTray: false })).toBe(false)
    expect(quitWhenAllWindowsClosed({ platform: 'linux', quitting: false, hasTray: true })).toBe(false)
    expect(quitWhenAllWindowsClosed({ platform: 'win32', quitting: false, hasTray: false })).toBe(true)
    expect(quitWhenAllWindowsClosed({ platform: 'linux', quitting: true, hasTray: true })).toBe(true)
  })
})

describe('startHidden', () => {
  it('starts hidden when launched at login and there is an icon to open it from', () => {
    expect(startHidden({ argv: ['p2pds', HIDDEN_FLAG], platform: 'linux', openedAtLogin: false, hasTray: true })).toBe(true)
    expect(startHidden({ argv: ['p2pds'], platform: 'darwin', openedAtLogin: true, hasTray: false })).toBe(true)
  })

  it('shows the window on an ordinary launch, or when no tray exists', () => {
    expect(startHidden({ argv: ['p2pds'], platform: 'win32', openedAtLogin: false, hasTray: true })).toBe(false)
    expect(startHidden({ argv: ['p2pds', HIDDEN_FLAG], platform: 'linux', openedAtLogin: false, hasTray: false })).toBe(false)
  })
})

/**
 * The tray class against STAND-INS for Electron's Tray and Menu (Electron cannot run here): they
 * record what the class asks of them. The icon files are the real ones from assets/build/tray.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Menu, MenuItemConstructorOptions } from 'electron'
import { describe, expect, it, vi } from 'vitest'
import type { AccountDto, P2pdsApi, SyncResultDto } from '../core/api.js'
import { PACKAGE_ROOT } from '../core/package-info.js'
import { SystemTray, syncAllAccounts, trayIconDir, trayIconFile, trayMenuTemplate, type TrayActions, type TrayHandle } from './tray.js'
import type { TrayState } from './tray-state.js'

const idle: TrayState = { icon: 'idle', statusLine: '2 accounts backed up', tooltip: 'P2PDS: 2 accounts backed up', canSync: true, paused: false }
const syncing: TrayState = { icon: 'syncing', statusLine: 'Syncing 1 of 2 accounts…', tooltip: 'P2PDS: Syncing 1 of 2 accounts…', canSync: true, paused: false }

/** A stand-in for Electron's Tray: records calls. */
function trayStandIn() {
  const calls: Array<[string, unknown]> = []
  const listeners = new Map<string, () => void>()
  let destroyed = false
  const handle = {
    setImage: (image: unknown) => calls.push(['setImage', image]),
    setToolTip: (text: string) => calls.push(['setToolTip', text]),
    setContextMenu: (menu: unknown) => calls.push(['setContextMenu', menu]),
    on: (event: string, fn: () => void) => listeners.set(event, fn),
    destroy: () => {
      destroyed = true
    },
    isDestroyed: () => destroyed,
  }
  return { handle: handle as unknown as TrayHandle, calls, listeners }
}

function actionsStandIn(): TrayActions & { log: string[] } {
  const log: string[] = []
  return {
    log,
    open: () => log.push('open'),
    syncAll: () => log.push('syncAll'),
    pauseAll: () => log.push('pauseAll'),
    resumeAll: () => log.push('resumeAll'),
    quit: () => log.push('quit'),
  }
}

function setup(platform: NodeJS.Platform, initial: TrayState = idle) {
  const tray = trayStandIn()
  const created: string[] = []
  const actions = actionsStandIn()
  // Menu.buildFromTemplate stand-in: the "menu" is the template itself.
  const buildMenu = (template: MenuItemConstructorOptions[]) => template as unknown as Menu
  const systemTray = new SystemTray(
    {
      iconDir: '/icons',
      platform,
      createTray: (path) => {
        created.push(path)
        return tray.handle
      },
      buildMenu,
      actions,
    },
    initial,
  )
  return { systemTray, tray, created, actions }
}

const menus = (calls: Array<[string, unknown]>) => calls.filter(([c]) => c === 'setContextMenu').map(([, m]) => m as MenuItemConstructorOptions[])

describe('tray icons', () => {
  it('uses template images on macOS and colour images elsewhere, all built by build-assets', () => {
    expect(trayIconFile('idle', 'darwin')).toBe('trayIdleTemplate.png')
    expect(trayIconFile('attention', 'darwin')).toBe('trayAttentionTemplate.png')
    expect(trayIconFile('syncing', 'linux')).toBe('tray-syncing.png')
    expect(trayIconFile('idle', 'win32')).toBe('tray-idle.png')
    const dir = trayIconDir({ isPackaged: false, resourcesPath: '/nowhere', appPath: PACKAGE_ROOT })
    for (const platform of ['darwin', 'linux', 'win32'] as const) {
      for (const icon of ['idle', 'syncing', 'attention'] as const) {
        const file = join(dir, trayIconFile(icon, platform))
        expect(existsSync(file), `${file} (run npm run build)`).toBe(true)
        expect(existsSync(file.replace(/\.png$/, '@2x.png'))).toBe(true)
      }
    }
  })

  it('comes from resources/tray when packaged (electron-builder extraResources)', () => {
    expect(trayIconDir({ isPackaged: true, resourcesPath: '/opt/P2PDS/resources', appPath: '/x' })).toBe(join('/opt/P2PDS/resources', 'tray'))
  })
})

describe('trayMenuTemplate', () => {
  it('has open, a disabled status line, sync all now, pause syncing and quit, each wired to its action', () => {
    const actions = actionsStandIn()
    const t = trayMenuTemplate(idle, actions)
    expect(t.map((i) => i.type ?? i.label)).toEqual(['Open P2PDS', 'separator', '2 accounts backed up', 'Sync all now', 'Pause syncing', 'separator', 'Quit P2PDS'])
    expect(t.find((i) => i.id === 'status')).toMatchObject({ enabled: false })
    expect(t.find((i) => i.id === 'status')?.click).toBeUndefined()
    for (const id of ['open', 'sync-all', 'sync-pause', 'quit']) t.find((i) => i.id === id)!.click!(undefined as never, undefined, undefined as never)
    expect(actions.log).toEqual(['open', 'syncAll', 'pauseAll', 'quit'])
  })

  it('offers resume syncing instead of pause while paused', () => {
    const actions = actionsStandIn()
    const t = trayMenuTemplate({ ...idle, paused: true }, actions)
    expect(t.find((i) => i.id === 'sync-pause')).toBeUndefined()
    const resume = t.find((i) => i.id === 'sync-resume')
    expect(resume).toMatchObject({ label: 'Resume syncing', enabled: true })
    resume!.click!(undefined as never, undefined, undefined as never)
    expect(actions.log).toEqual(['resumeAll'])
  })

  it('disables sync all now and pause when there is nothing to sync', () => {
    const t = trayMenuTemplate({ ...idle, canSync: false }, actionsStandIn())
    expect(t.find((i) => i.id === 'sync-all')).toMatchObject({ enabled: false })
    expect(t.find((i) => i.id === 'sync-pause')).toMatchObject({ enabled: false })
  })
})

describe('SystemTray (Tray and Menu stand-ins)', () => {
  it('starts with the icon, tooltip and menu of the initial state', () => {
    const { created, tray } = setup('linux')
    expect(created).toEqual([join('/icons', 'tray-idle.png')])
    expect(tray.calls.map(([c]) => c)).toEqual(['setToolTip', 'setContextMenu'])
    expect(menus(tray.calls)[0]?.[2]?.label).toBe('2 accounts backed up')
  })

  it('redraws only what changed, and nothing when the state draws the same', () => {
    const { systemTray, tray } = setup('darwin')
    tray.calls.length = 0
    expect(systemTray.update({ ...idle })).toBe(false)
    expect(tray.calls).toEqual([])
    expect(systemTray.update(syncing)).toBe(true)
    expect(tray.calls.map(([c]) => c)).toEqual(['setImage', 'setToolTip', 'setContextMenu'])
    expect(tray.calls[0]).toEqual(['setImage', join('/icons', 'traySyncingTemplate.png')])
    expect(systemTray.state).toBe(syncing)
    tray.calls.length = 0
    // Same icon, new line: no new image.
    systemTray.update({ ...syncing, statusLine: 'Syncing 2 of 2 accounts…', tooltip: 'P2PDS: Syncing 2 of 2 accounts…' })
    expect(tray.calls.map(([c]) => c)).toEqual(['setToolTip', 'setContextMenu'])
    tray.calls.length = 0
    // Pausing changes only the menu.
    const paused = { ...syncing, paused: true, statusLine: 'Syncing 2 of 2 accounts…', tooltip: 'P2PDS: Syncing 2 of 2 accounts…' }
    expect(systemTray.update(paused)).toBe(true)
    expect(tray.calls.map(([c]) => c)).toEqual(['setContextMenu'])
    expect(menus(tray.calls)[0]?.find((i) => i.id === 'sync-resume')).toBeDefined()
  })

  it('opens the window on a click on Windows only, and stops drawing once destroyed', () => {
    const win = setup('win32')
    win.tray.listeners.get('click')!()
    expect(win.actions.log).toEqual(['open'])
    expect(setup('linux').tray.listeners.has('click')).toBe(false)
    win.systemTray.destroy()
    win.tray.calls.length = 0
    expect(win.systemTray.update(syncing)).toBe(false)
    expect(win.tray.calls).toEqual([])
  })
})

describe('syncAllAccounts', () => {
  const acc = (did: string) => ({ did, handle: `${did.slice(8)}.test` }) as AccountDto

  it('starts every sync at once and reports each failure with its account', async () => {
    const started: string[] = []
    const pending: Array<() => void> = []
    const api = {
      accounts: {
        list: async () => [acc('did:plc:a'), acc('did:plc:b'), acc('did:plc:c')],
        sync: ({ did }: { did: string }) => {
          started.push(did)
          if (did === 'did:plc:b') return Promise.reject(new Error('PDS unreachable'))
          return new Promise<SyncResultDto>((resolve) => pending.push(() => resolve({ did } as SyncResultDto)))
        },
      },
    } as unknown as Pick<P2pdsApi, 'accounts'>
    const onError = vi.fn()
    const done = syncAllAccounts(api, onError)
    await vi.waitFor(() => expect(started).toEqual(['did:plc:a', 'did:plc:b', 'did:plc:c']))
    // All three started before any finished: not one after another.
    expect(pending).toHaveLength(2)
    for (const resolve of pending) resolve()
    await done
    expect(onError).toHaveBeenCalledTimes(1)
    expect(onError.mock.calls[0]?.[1]).toMatchObject({ did: 'did:plc:b' })
  })

  it('skips paused accounts', async () => {
    const started: string[] = []
    const api = {
      accounts: {
        list: async () => [acc('did:plc:a'), { ...acc('did:plc:b'), paused: true }],
        sync: async ({ did }: { did: string }) => {
          started.push(did)
          return { did } as SyncResultDto
        },
      },
    } as unknown as Pick<P2pdsApi, 'accounts'>
    const onError = vi.fn()
    await syncAllAccounts(api, onError)
    expect(started).toEqual(['did:plc:a'])
    expect(onError).not.toHaveBeenCalled()
  })

  it('reports a failed listing without an account and never rejects', async () => {
    const api = { accounts: { list: () => Promise.reject(new Error('The node is stopping.')), sync: vi.fn() } } as unknown as Pick<P2pdsApi, 'accounts'>
    const onError = vi.fn()
    await expect(syncAllAccounts(api, onError)).resolves.toBeUndefined()
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'The node is stopping.' }))
    expect(onError.mock.calls[0]).toHaveLength(1)
  })
})

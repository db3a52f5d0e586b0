import type { MenuItemConstructorOptions } from 'electron'
import { describe, expect, it, vi } from 'vitest'
import type { ExportResultDto } from '../core/api.js'
import { appMenuTemplate, exportFromMenu, LEARN_MORE_URL, MENU_ACCOUNTS_MAX, menuAccountsKey, openCheckedUrl, type AppMenuActions, type MenuAccount } from './menu.js'
import type { Notice } from './notifications.js'

const alice: MenuAccount = { did: 'did:plc:alice', handle: 'alice.test' }
const bob: MenuAccount = { did: 'did:plc:bob', handle: null }

function actions() {
  const log: string[] = []
  const a: AppMenuActions = {
    exportCar: (did) => log.push(`car ${did}`),
    exportBlobs: (did) => log.push(`blobs ${did}`),
    openDataFolder: () => log.push('data folder'),
    openExternal: (url) => log.push(`open ${url}`),
  }
  return { a, log }
}

const submenu = (item: MenuItemConstructorOptions | undefined) => (item?.submenu ?? []) as MenuItemConstructorOptions[]
const byLabel = (items: MenuItemConstructorOptions[], label: string) => items.find((i) => i.label === label)
const click = (item: MenuItemConstructorOptions | undefined) => item!.click!(undefined as never, undefined, undefined as never)
/** Top-level menus by what they show: the label, else the role. */
const tops = (t: MenuItemConstructorOptions[]) => t.map((i) => (i.label ?? i.role)!.replace('&', ''))

describe('appMenuTemplate on macOS', () => {
  const t = appMenuTemplate({ platform: 'darwin', accounts: [alice], actions: actions().a })

  it('starts with the app menu, then File, Edit, View, Window, Help', () => {
    expect(tops(t)).toEqual(['P2PDS', 'File', 'editMenu', 'View', 'windowMenu', 'Help'])
  })

  it('follows the app menu conventions: About, Services, Hide (Cmd+H), Quit (Cmd+Q)', () => {
    const app = submenu(t[0]).filter((i) => i.type !== 'separator')
    expect(app.map((i) => [i.role, i.label, i.accelerator])).toEqual([
      ['about', 'About P2PDS', undefined],
      ['services', undefined, undefined],
      ['hide', 'Hide P2PDS', 'Command+H'],
      ['hideOthers', undefined, 'Command+Alt+H'],
      ['unhide', undefined, undefined],
      ['quit', 'Quit P2PDS', 'Command+Q'],
    ])
  })

  it('ends File with Close (Cmd+W), not Quit, and keeps About out of Help', () => {
    const file = submenu(t[1])
    expect(file.at(-1)).toEqual({ role: 'close', accelerator: 'Command+W' })
    expect(file.some((i) => i.role === 'quit')).toBe(false)
    expect(submenu(t.at(-1)).some((i) => i.role === 'about')).toBe(false)
  })
})

describe('appMenuTemplate on Windows and Linux', () => {
  it('has no app menu; File ends with Exit (Windows) or Quit (Ctrl+Q, Linux); About goes in Help', () => {
    const win = appMenuTemplate({ platform: 'win32', accounts: [], actions: actions().a })
    expect(tops(win)).toEqual(['File', 'editMenu', 'View', 'windowMenu', 'Help'])
    expect(submenu(win[0]).at(-1)).toMatchObject({ role: 'quit', label: 'E&xit', accelerator: 'Alt+F4' })
    const linux = appMenuTemplate({ platform: 'linux', accounts: [], actions: actions().a })
    expect(submenu(linux[0]).at(-1)).toMatchObject({ role: 'quit', label: '&Quit', accelerator: 'Ctrl+Q' })
    expect(submenu(linux.at(-1))).toContainEqual({ role: 'about', label: 'About P2PDS' })
    expect(linux.at(-1)?.role).toBe('help')
  })
})

describe('File menu', () => {
  it('lists one export item per account (handle, else DID), each exporting that account', () => {
    const { a, log } = actions()
    const file = submenu(appMenuTemplate({ platform: 'linux', accounts: [alice, bob], actions: a })[0])
    expect(file.filter((i) => i.type !== 'separator').map((i) => i.label)).toEqual(['Export CAR…', 'Export blobs…', 'Open data folder', '&Quit'])
    const car = submenu(byLabel(file, 'Export CAR…'))
    expect(car.map((i) => i.label)).toEqual(['alice.test', 'did:plc:bob'])
    click(car[1])
    click(submenu(byLabel(file, 'Export blobs…'))[0])
    click(byLabel(file, 'Open data folder'))
    expect(log).toEqual(['car did:plc:bob', 'blobs did:plc:alice', 'data folder'])
  })

  it('says there is nothing to export before the first account', () => {
    const file = submenu(appMenuTemplate({ platform: 'darwin', accounts: [], actions: actions().a })[1])
    expect(submenu(byLabel(file, 'Export CAR…'))).toEqual([{ id: 'export-car-none', label: 'No accounts yet', enabled: false }])
  })

  it('keeps a long account list to a menu that fits a screen', () => {
    const many = Array.from({ length: MENU_ACCOUNTS_MAX + 5 }, (_, i) => ({ did: `did:plc:${i}`, handle: `u${i}.test` }))
    const car = submenu(byLabel(submenu(appMenuTemplate({ platform: 'linux', accounts: many, actions: actions().a })[0]), 'Export CAR…'))
    expect(car.filter((i) => i.click !== undefined)).toHaveLength(MENU_ACCOUNTS_MAX)
    expect(car.at(-1)).toMatchObject({ label: '5 more: export from the account’s page', enabled: false })
  })

  it('changes its key only when the submenus would change', () => {
    expect(menuAccountsKey([alice, bob])).toBe(menuAccountsKey([{ ...alice }, { ...bob }]))
    expect(menuAccountsKey([alice])).not.toBe(menuAccountsKey([{ ...alice, handle: 'alice2.test' }]))
    expect(menuAccountsKey([alice, bob])).not.toBe(menuAccountsKey([bob, alice]))
  })
})

describe('View and Help', () => {
  it('offers developer tools only when asked (a checkout, not a packaged app)', () => {
    const roles = (devTools: boolean) => submenu(appMenuTemplate({ platform: 'linux', accounts: [], devTools, actions: actions().a })[2]).map((i) => i.role)
    expect(roles(false)).not.toContain('toggleDevTools')
    expect(roles(true)).toContain('toggleDevTools')
    expect(roles(false)).toEqual(['reload', 'forceReload', undefined, 'resetZoom', 'zoomIn', 'zoomOut', undefined, 'togglefullscreen'])
  })

  it('Learn more opens the checked https URL, and openCheckedUrl refuses anything else', () => {
    const { a, log } = actions()
    click(byLabel(submenu(appMenuTemplate({ platform: 'darwin', accounts: [], actions: a }).at(-1)), 'Learn more'))
    expect(log).toEqual([`open ${LEARN_MORE_URL}`])
    expect(LEARN_MORE_URL.startsWith('https://')).toBe(true)
    const open = vi.fn()
    for (const url of ['http://p2pds.org', 'file:///etc/passwd', 'javascript:alert(1)', 'smb://host/share']) expect(openCheckedUrl(url, open)).toBe(false)
    expect(open).not.toHaveBeenCalled()
  })
})

describe('exportFromMenu', () => {
  const result: ExportResultDto = { path: '/tmp/alice.car', bytes: 2048, items: 12 }

  it('runs the host save flow and says where the file went', async () => {
    const notices: Notice[] = []
    const busy: boolean[] = []
    const save = vi.fn(async () => result)
    await expect(exportFromMenu('car', alice, { save, notify: (n) => notices.push(n), onBusy: (b) => busy.push(b) })).resolves.toEqual(result)
    expect(save).toHaveBeenCalledWith({ did: 'did:plc:alice' })
    expect(notices).toEqual([expect.objectContaining({ kind: 'export-finished', title: 'Exported alice.test (CAR)', body: '12 blocks, 2.0 kB, saved to /tmp/alice.car' })])
    expect(busy).toEqual([true, false])
  })

  it('says nothing when the user cancels the dialog', async () => {
    const notify = vi.fn()
    await expect(exportFromMenu('blobs', alice, { save: async () => null, notify })).resolves.toBeNull()
    expect(notify).not.toHaveBeenCalled()
  })

  it('turns a failure into a notification and never rejects', async () => {
    const notices: Notice[] = []
    const busy: boolean[] = []
    const save = async () => {
      throw new Error('No space left on device')
    }
    await expect(exportFromMenu('car', bob, { save, notify: (n) => notices.push(n), onBusy: (b) => busy.push(b) })).resolves.toBeNull()
    expect(notices).toEqual([expect.objectContaining({ kind: 'export-failed', title: 'Could not export did:plc:bob', body: 'No space left on device' })])
    expect(busy).toEqual([true, false])
  })
})

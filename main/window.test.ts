import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { WebContents } from 'electron'
import ts from 'typescript'
import { describe, expect, it, vi } from 'vitest'
import { UI_CSP } from '../core/server/ui-server.js'
import { hardenWebContents, isAllowedPermission, isSafeExternalUrl, withCsp, windowOptions } from './window.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

describe('windowOptions', () => {
  it('keeps the security baseline: isolated, sandboxed, no Node, web security on', () => {
    const o = windowOptions('/app/dist/preload/index.cjs')
    expect(o.webPreferences).toMatchObject({
      preload: '/app/dist/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    })
    expect(o.webPreferences).not.toHaveProperty('experimentalFeatures')
    expect(o.webPreferences).not.toHaveProperty('enableBlinkFeatures')
    expect(o.webPreferences).not.toHaveProperty('additionalArguments')
    // No rendering work while hidden: Chromium throttles a hidden window's timers and frames.
    expect(o.webPreferences?.backgroundThrottling).toBe(true)
    expect(o.show).toBe(false)
  })
})

/** Source files of the Electron host and the preloads (not tests). */
function hostSources(): string[] {
  const out: string[] = []
  for (const dir of ['main', 'preload']) {
    for (const name of readdirSync(join(root, dir))) {
      if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(join(root, dir, name))
    }
  }
  return out
}

/** Every `new BrowserWindow(…)` / `new BrowserView(…)` / `new WebContentsView(…)` in a file, parsed with TypeScript. */
function windowConstructions(file: string) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const found: Array<{ where: string; callee: string; argument: string; enclosing: string }> = []
  const visit = (node: ts.Node): void => {
    if (ts.isNewExpression(node) && ['BrowserWindow', 'BrowserView', 'WebContentsView'].includes(node.expression.getText(source))) {
      let fn: ts.Node | undefined = node.parent
      while (fn !== undefined && !ts.isFunctionLike(fn)) fn = fn.parent
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source))
      found.push({
        where: `${relative(root, file)}:${line + 1}`,
        callee: node.expression.getText(source),
        argument: node.arguments?.[0]?.getText(source) ?? '',
        enclosing: fn?.getText(source) ?? source.getText(),
      })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe('every window the code creates keeps the baseline', () => {
  const constructions = hostSources().flatMap(windowConstructions)

  it('finds the main window (the scan works)', () => {
    expect(constructions.map((c) => c.where)).toContainEqual(expect.stringMatching(/^main\/index\.ts:\d+$/))
  })

  it('builds every BrowserWindow from windowOptions and hardens its web contents; no BrowserView or WebContentsView', () => {
    for (const c of constructions) {
      expect(c.callee, c.where).toBe('BrowserWindow')
      expect(c.argument, c.where).toMatch(/^windowOptions\(/)
      expect(c.enclosing, `${c.where}: hardenWebContents on the new window`).toMatch(/hardenWebContents\(\s*\w+\.webContents\b/)
    }
  })

  it('sets webPreferences nowhere but windowOptions', () => {
    for (const file of hostSources()) {
      if (file.endsWith(join('main', 'window.ts'))) continue
      expect(readFileSync(file, 'utf8'), relative(root, file)).not.toMatch(/webPreferences|nodeIntegration|contextIsolation|webviewTag/)
    }
  })
})


describe('isSafeExternalUrl', () => {
  it('accepts https links with a host', () => {
    expect(isSafeExternalUrl('https://bsky.app/profile/alice.test')).toBe(true)
    expect(isSafeExternalUrl('https://github.com/p2pds/p2pds?tab=readme#install')).toBe(true)
  })

  it('rejects every other scheme, credentials, and non-URLs', () => {
    for (const url of [
      'http://example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'JAVASCRIPT:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'ftp://example.com/',
      'smb://server/share',
      'ms-msdt:/id',
      'vscode://file/x',
      'https://user:pass@example.com/',
      'https://user@example.com/',
      'https://',
      '//example.com/',
      '/relative',
      '',
      'not a url',
    ]) {
      expect(isSafeExternalUrl(url), url).toBe(false)
    }
  })
})

describe('permissions and CSP', () => {
  it('allows only clipboard writes, nothing that prompts', () => {
    expect(isAllowedPermission('clipboard-sanitized-write')).toBe(true)
    for (const p of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read', 'fullscreen', 'unknown']) expect(isAllowedPermission(p), p).toBe(false)
  })

  it('sets the UI CSP, replacing any other policy the response had', () => {
    const h = withCsp({ 'content-security-policy': ["default-src *"], 'Content-Type': ['text/html'] })
    expect(h).toEqual({ 'Content-Security-Policy': [UI_CSP], 'Content-Type': ['text/html'] })
    expect(withCsp(undefined)).toEqual({ 'Content-Security-Policy': [UI_CSP] })
  })
})

/** A stand-in for Electron's WebContents and its session (Electron cannot run here): records the guards. */
function webContentsStandIn() {
  const listeners = new Map<string, (event: { url: string; preventDefault(): void }) => void>()
  const wc = {
    openHandler: undefined as undefined | ((d: { url: string }) => { action: string }),
    permissionRequest: undefined as undefined | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
    permissionCheck: undefined as undefined | ((wc: unknown, permission: string) => boolean),
    headers: undefined as undefined | ((d: { responseHeaders?: Record<string, string[]> }, cb: (r: { responseHeaders: Record<string, string[]> }) => void) => void),
  }
  const standIn = {
    setWindowOpenHandler: (fn: typeof wc.openHandler) => (wc.openHandler = fn),
    on: (event: string, fn: (event: { url: string; preventDefault(): void }) => void) => listeners.set(event, fn),
    session: {
      setPermissionRequestHandler: (fn: typeof wc.permissionRequest) => (wc.permissionRequest = fn),
      setPermissionCheckHandler: (fn: typeof wc.permissionCheck) => (wc.permissionCheck = fn),
      webRequest: { onHeadersReceived: (fn: typeof wc.headers) => (wc.headers = fn) },
    },
  }
  /** Emits a navigation-like event; returns whether it was prevented. */
  const emit = (name: string, url: string): boolean => {
    let prevented = false
    listeners.get(name)!({ url, preventDefault: () => (prevented = true) })
    return prevented
  }
  return { webContents: standIn as unknown as WebContents, wc, emit }
}

describe('hardenWebContents (WebContents stand-in)', () => {
  const appUrl = 'file:///opt/P2PDS/resources/app.asar/dist/renderer/index.html'

  function harden() {
    const s = webContentsStandIn()
    const opened: string[] = []
    hardenWebContents(s.webContents, appUrl, async (url) => {
      opened.push(url)
    })
    return { ...s, opened }
  }

  it('denies every new window; only https links go to the system browser', () => {
    const { wc, opened } = harden()
    for (const url of ['https://bsky.app/', 'http://evil.test/', 'file:///etc/passwd', 'javascript:alert(1)']) {
      expect(wc.openHandler!({ url })).toEqual({ action: 'deny' })
    }
    expect(opened).toEqual(['https://bsky.app/'])
  })

  it('keeps the page on the app: navigation and redirects elsewhere are stopped', () => {
    const { emit, opened } = harden()
    expect(emit('will-navigate', `${appUrl}#/accounts`)).toBe(false)
    expect(emit('will-navigate', 'https://example.com/')).toBe(true)
    expect(emit('will-navigate', 'file:///etc/passwd')).toBe(true)
    expect(emit('will-redirect', 'https://example.com/')).toBe(true)
    expect(emit('will-attach-webview', 'about:blank')).toBe(true)
    expect(opened).toEqual(['https://example.com/'])
  })

  it('refuses permission requests, allows only clipboard writes on checks, and sets the CSP', () => {
    const { wc } = harden()
    const cb = vi.fn()
    wc.permissionRequest!(undefined, 'media', cb)
    expect(cb).toHaveBeenCalledWith(false)
    expect(wc.permissionCheck!(undefined, 'clipboard-sanitized-write')).toBe(true)
    expect(wc.permissionCheck!(undefined, 'notifications')).toBe(false)
    const headers = vi.fn()
    wc.headers!({ responseHeaders: { 'Content-Security-Policy': ['default-src *'] } }, headers)
    expect(headers).toHaveBeenCalledWith({ responseHeaders: { 'Content-Security-Policy': [UI_CSP] } })
  })
})

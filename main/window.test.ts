import { describe, expect, it } from 'vitest'
import { UI_CSP } from '../core/server/ui-server.js'
import { isAllowedPermission, isSafeExternalUrl, withCsp, windowOptions } from './window.js'

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
    expect(o.show).toBe(false)
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

/**
 * Login against the real local atproto network (dev-env PLC + PDS on loopback): OAuth through the
 * PDS's own sign-in and consent pages in headless Chromium, app passwords, sessions sealed at rest,
 * refresh, logout, and the peer record published with the session.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeSavedSession } from '@atproto/oauth-client-node'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../cli.js'
import { loadConfig } from '../config.js'
import { createIdentityResolver, identityResolverInit } from '../identity/index.js'
import { NSID, validateRecord } from '../lexicons.js'
import { createSafeFetch } from '../network/safe-fetch.js'
import { createNode, type P2pdsNode } from '../node.js'
import { openDatabase } from '../storage/database.js'
import { createAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { launchTestBrowser, signInThroughPds } from '../testing/oauth-browser.js'
import { createSecretBox } from './secret-box.js'
import { AuthService } from './sessions.js'
import { AuthStore } from './store.js'

let net: TestNetwork
let browser: Browser
let alice: TestAccount
let bob: TestAccount
const dirs: string[] = []

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: 'alice' })
  bob = await createAccount(net, { handle: 'bob' })
  browser = await launchTestBrowser()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await net?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pds-auth-'))
  dirs.push(d)
  return d
}

function nodeConfig(dir: string) {
  return loadConfig({ env: { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'config', 'secret.key') }, cwd: dir })
}

async function startNode(dir: string): Promise<P2pdsNode> {
  const node = await createNode({ config: nodeConfig(dir), host: 'test', schedule: { enabled: false } })
  await node.start()
  return node
}

/** The record as anyone reads it from the PDS, or null. */
async function publicRecord(did: string, collection: string, rkey: string): Promise<Record<string, unknown> | null> {
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=${collection}&rkey=${rkey}`)
  return res.ok ? ((await res.json()) as { value: Record<string, unknown> }).value : null
}

async function eventually<T>(fn: () => Promise<T | null>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== null) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** An AuthService on a stopped node's data dir (what a restarted node would have). */
function authOn(dir: string): { auth: AuthService; store: AuthStore; close: () => void } {
  const config = nodeConfig(dir)
  const db = openDatabase(join(config.dataDir, 'pds.db'))
  const box = createSecretBox({ keyFile: config.secretKeyFile })
  const auth = new AuthService({
    db,
    secrets: () => box,
    lockDir: join(config.dataDir, 'locks'),
    resolver: createIdentityResolver(identityResolverInit(config)),
    fetch: createSafeFetch({ allowPrivateNetwork: true, timeoutMs: 10_000, maxBytes: 10 * 1024 * 1024 }),
    plcUrl: config.plcUrl,
    allowHttp: true,
    emit: () => undefined,
    // Every token "expires soon", so the background check refreshes it.
    refreshAheadMs: 24 * 60 * 60 * 1000,
  })
  // Restoring and refreshing need no callback listener; any port will do.
  auth.enableOAuth(1)
  return { auth, store: new AuthStore(db, () => box), close: () => db.close() }
}

describe('OAuth login (loopback client, real PDS sign-in in Chromium)', () => {
  it('logs in, publishes the peer record, keeps tokens sealed, refreshes, survives a restart, and logs out', async () => {
    const dir = tempDir()
    let node = await startNode(dir)
    try {
      expect((await node.api.auth.status()).oauth).toBe(true)
      expect((await node.api.node.info()).identity).toBeNull()
      const changed: Array<{ did: string; loggedIn: boolean }> = []
      node.on('auth:changed', (e) => changed.push(e))

      const { url } = await node.api.auth.login({ handle: alice.handle })
      expect(url.startsWith(`${net.pdsUrl}/oauth/authorize`)).toBe(true)
      const page = await browser.newPage()
      const text = await signInThroughPds(page, url, alice, `${node.uiUrl}/oauth/callback`)
      await page.close()
      expect(text).toContain(`Logged in to P2PDS as ${alice.handle}`)

      const logins = await node.api.auth.list()
      expect(logins).toEqual([expect.objectContaining({ did: alice.did, handle: alice.handle, method: 'oauth', pdsUrl: net.pdsUrl })])
      expect(changed).toContainEqual({ did: alice.did, loggedIn: true })
      expect((await node.api.node.info()).identity).toEqual({ did: alice.did, handle: alice.handle })

      // The session wrote the peer record to alice's repo: valid, with this node's endpoint.
      const peer = await eventually(() => publicRecord(alice.did, NSID.peer, 'self'), 'the peer record')
      expect(validateRecord(NSID.peer, peer).endpoint).toBe(node.publicUrl)
    } finally {
      await node.stop()
    }

    // Secrets at rest: the tokens and the DPoP key are in the database only sealed.
    let { auth, store, close } = authOn(dir)
    try {
      const saved = (await store.secrets<NodeSavedSession>('oauth-session').get(alice.did))!
      const access = saved.tokenSet.access_token
      const refresh = saved.tokenSet.refresh_token!
      const dpopD = (saved.dpopJwk as { d?: string }).d!
      const dataDir = nodeConfig(dir).dataDir
      const bytes = Buffer.concat([readFileSync(join(dataDir, 'pds.db')), ...(existsSync(join(dataDir, 'pds.db-wal')) ? [readFileSync(join(dataDir, 'pds.db-wal'))] : [])]).toString('latin1')
      for (const secret of [access, refresh, dpopD]) expect(bytes.includes(secret)).toBe(false)

      // After a restart the session still writes; a refresh rotates the tokens and it still writes.
      const agent = await auth.agent(alice.did)
      const post = await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'from p2pds', createdAt: new Date().toISOString() } })
      expect((await publicRecord(alice.did, 'app.bsky.feed.post', post.data.uri.split('/').pop()!))?.text).toBe('from p2pds')
      expect(await auth.tokenExpiresAt(alice.did)).toBeGreaterThan(Date.now())
      await auth.refresh(alice.did)
      const after = (await store.secrets<NodeSavedSession>('oauth-session').get(alice.did))!
      expect(after.tokenSet.refresh_token).not.toBe(refresh)
      expect(after.tokenSet.access_token).not.toBe(access)
      const again = await (await auth.agent(alice.did)).com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'after refresh', createdAt: new Date().toISOString() } })
      expect(again.success).toBe(true)
      // The background check refreshes a session expiring within refreshAheadMs.
      await auth.refreshDue()
      const checked = (await store.secrets<NodeSavedSession>('oauth-session').get(alice.did))!
      expect(checked.tokenSet.refresh_token).not.toBe(after.tokenSet.refresh_token)
    } finally {
      await auth.stop()
      close()
    }

    // A restarted node (another UI port) logs out: the session is revoked and forgotten.
    node = await startNode(dir)
    try {
      expect((await node.api.auth.list()).map((l) => l.did)).toEqual([alice.did])
      await node.api.auth.logout({ did: alice.did })
      expect(await node.api.auth.list()).toEqual([])
      expect((await node.api.node.info()).identity).toBeNull()
      await expect(node.api.auth.logout({ did: alice.did })).rejects.toMatchObject({ code: 'ERR_NOT_LOGGED_IN' })
    } finally {
      await node.stop()
    }
    ;({ auth, store, close } = authOn(dir))
    try {
      expect(await store.secrets('oauth-session').get(alice.did)).toBeUndefined()
      await expect(auth.agent(alice.did)).rejects.toMatchObject({ code: 'ERR_NOT_LOGGED_IN' })
    } finally {
      close()
    }
  }, 90_000)

  it('refuses a callback whose state this node did not issue, and stores nothing', async () => {
    const node = await startNode(tempDir())
    try {
      const res = await fetch(`${node.uiUrl}/oauth/callback?code=abc&state=forged&iss=${encodeURIComponent(net.pdsUrl)}`)
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('Login failed')
      expect(await node.api.auth.list()).toEqual([])
    } finally {
      await node.stop()
    }
  }, 30_000)
})

describe('app-password login', () => {
  it('logs in, publishes the peer record, keeps the password sealed, and logs out', async () => {
    const dir = tempDir()
    const appPassword = (await bob.agent.com.atproto.server.createAppPassword({ name: 'p2pds' })).data.password
    const node = await startNode(dir)
    try {
      await expect(node.api.auth.loginAppPassword({ identifier: bob.handle, password: 'wrong-password' })).rejects.toMatchObject({ code: 'ERR_LOGIN_FAILED' })
      expect(await node.api.auth.list()).toEqual([])

      const login = await node.api.auth.loginAppPassword({ identifier: bob.handle, password: appPassword })
      expect(login).toMatchObject({ did: bob.did, handle: bob.handle, method: 'app-password' })
      const peer = await eventually(() => publicRecord(bob.did, NSID.peer, 'self'), 'the peer record')
      expect(peer.endpoint).toBe(node.publicUrl)
      const dataDir = nodeConfig(dir).dataDir
      expect(readFileSync(join(dataDir, 'pds.db')).toString('latin1').includes(appPassword)).toBe(false)
      if (existsSync(join(dataDir, 'pds.db-wal'))) expect(readFileSync(join(dataDir, 'pds.db-wal')).toString('latin1').includes(appPassword)).toBe(false)

      await node.api.auth.logout({ did: bob.did })
      expect(await node.api.auth.list()).toEqual([])
    } finally {
      await node.stop()
    }
  }, 60_000)

  it('p2pds login --app-password and p2pds logout work on a data dir with no node running', async () => {
    const dir = tempDir()
    const appPassword = (await alice.agent.com.atproto.server.createAppPassword({ name: 'p2pds-cli' })).data.password
    const flags = ['--data-dir', join(dir, 'data'), '--plc-url', net.plcUrl, '--handle-resolver-url', net.pdsUrl, '--allow-private-network', 'true', '--secret-key-file', join(dir, 'secret.key'), '--port', '0']
    const out: string[] = []
    const err: string[] = []
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }
    process.env.P2PDS_APP_PASSWORD = appPassword
    try {
      expect(await main(['login', alice.handle, '--app-password', '--json', ...flags], io)).toBe(0)
    } finally {
      delete process.env.P2PDS_APP_PASSWORD
    }
    expect(JSON.parse(out.join(''))).toMatchObject({ did: alice.did, method: 'app-password' })
    out.length = 0
    // OAuth from the CLI needs the running node; none runs on this data dir.
    expect(await main(['login', alice.handle, ...flags], io)).toBe(1)
    expect(err.join('')).toContain('needs the running node')
    expect(await main(['logout', '--as', alice.handle, ...flags], io)).toBe(0)
    expect(out.join('')).toContain(`Logged out ${alice.handle}`)
    expect(await main(['logout', ...flags], io)).toBe(1)
    expect(err.join('')).toContain('No account is logged in')
  }, 60_000)

  it('OAuth needs the local listener: a node opened without one says so', async () => {
    const node = await createNode({ config: nodeConfig(tempDir()), host: 'test', listen: false, schedule: { enabled: false } })
    await node.start()
    try {
      expect((await node.api.auth.status()).oauth).toBe(false)
      await expect(node.api.auth.login({ handle: alice.handle })).rejects.toThrow(/--app-password/)
    } finally {
      await node.stop()
    }
  }, 30_000)
})

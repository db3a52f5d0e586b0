// Periodic sync, pause/resume and the bandwidth cap of a real node against the real local atproto
// network (PLC + PDS); the CLI's pause/resume verbs against a running node, in process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeStatusDto, SyncResultDto, SyncStateDto } from './api.js'
import { main } from './cli.js'
import { loadConfig } from './config.js'
import { BYTES_PER_KB } from './network/bandwidth.js'
import { createNode, type NodeScheduleInit, type P2pdsNode } from './node.js'
import { createAccount, populateAccount, type TestAccount } from './testing/builders.js'
import { startTestNetwork, type TestNetwork } from './testing/network.js'
import { tempNodes } from './testing/temp-nodes.js'

let net: TestNetwork
let alice: TestAccount
const temp = tempNodes('p2pds-node-sync-')
const newDir = temp.newDir

/** A short interval for tests: SYNC_INTERVAL_SEC's minimum is 10 s. */
const FAST: NodeScheduleInit = { intervalMs: 300, retryBaseMs: 200 }

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  await populateAccount(alice, { posts: 3 })
}, 120_000)

afterAll(async () => {
  await net?.close()
})

async function startNode(dir: string, opts: { env?: Record<string, string>; schedule?: NodeScheduleInit; listen?: boolean } = {}): Promise<P2pdsNode> {
  const config = loadConfig({ env: { ...net.env, DATA_DIR: dir, PORT: '0', SYNC_INTERVAL_SEC: '10', ...opts.env }, cwd: dir })
  const node = await createNode({ config, host: 'test', listen: opts.listen ?? false, schedule: opts.schedule ?? FAST })
  temp.track(node)
  await node.start()
  return node
}

/** Resolves with the next `sync:completed` of `did`. */
function nextSync(node: P2pdsNode, did: string): Promise<SyncResultDto> {
  return new Promise((resolve) => {
    const off = node.on('sync:completed', (r) => {
      if (r.did !== did) return
      off()
      resolve(r)
    })
  })
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function post(text: string): Promise<string> {
  const res = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() },
  })
  return res.data.uri.split('/').pop()!
}

async function held(node: P2pdsNode, rkey: string): Promise<boolean> {
  return node.api.records.get({ did: alice.did, collection: 'app.bsky.feed.post', rkey }).then(
    () => true,
    () => false,
  )
}

async function addAlice(node: P2pdsNode): Promise<void> {
  const first = nextSync(node, alice.did)
  await node.api.accounts.add({ handleOrDid: alice.did })
  await first
}

describe('periodic sync (real local network)', () => {
  it('brings a new post in with no manual sync; pause stops it, resume restarts it', async () => {
    const node = await startNode(newDir())
    const states: SyncStateDto[] = []
    node.on('sync:state', (s) => states.push(s))
    await addAlice(node)

    const rkey1 = await post('reaches the backup through the scheduler')
    await until(() => held(node, rkey1), 'the scheduled sync')
    const [account] = await node.api.accounts.list()
    expect(account).toMatchObject({ did: alice.did, paused: false })
    const status = await node.api.node.status()
    expect(status.sync).toMatchObject({ paused: false })

    // Node-wide pause: no sync starts, and a manual one is refused.
    let completed = 0
    node.on('sync:completed', () => completed++)
    const paused = await node.api.sync.pause()
    expect(paused).toMatchObject({ paused: true, accounts: [{ did: alice.did, paused: false, nextSyncAt: null, running: false }] })
    completed = 0
    const rkey2 = await post('written while paused')
    await sleep(1500) // five intervals
    expect(completed).toBe(0)
    expect(await held(node, rkey2)).toBe(false)
    await expect(node.api.accounts.sync({ did: alice.did })).rejects.toMatchObject({ code: 'ERR_ACCOUNT_PAUSED' })
    expect((await node.api.node.status()).sync).toMatchObject({ paused: true, running: 0, nextSyncAt: null })
    expect(states.some((s) => s.paused)).toBe(true)

    const resumed = await node.api.sync.resume()
    expect(resumed.paused).toBe(false)
    await until(() => held(node, rkey2), 'the sync after resume')

    // One account paused on its own.
    const one = await node.api.sync.pause({ did: alice.did })
    expect(one).toMatchObject({ paused: false, accounts: [{ did: alice.did, paused: true, nextSyncAt: null }] })
    expect((await node.api.accounts.list())[0]).toMatchObject({ paused: true, nextSyncAt: null })
    completed = 0
    const rkey3 = await post('written while alice is paused')
    await sleep(1500)
    expect(completed).toBe(0)
    expect(await held(node, rkey3)).toBe(false)
    await expect(node.api.accounts.sync({ did: alice.did })).rejects.toMatchObject({ code: 'ERR_ACCOUNT_PAUSED' })
    await node.api.sync.resume({ did: alice.did })
    await until(() => held(node, rkey3), 'the sync after resuming alice')
    const after = (await node.api.accounts.list())[0]!
    expect(after.paused).toBe(false)
    expect(states.at(-1)?.accounts[0]?.paused).toBe(false)

    // Stopped: nothing is scheduled any more.
    await node.stop()
    completed = 0
    await post('written after the node stopped')
    await sleep(900)
    expect(completed).toBe(0)
  })

  it('a pause aborts a running sync, which stores nothing of itself', async () => {
    // A tight cap keeps the sync running long enough to pause it midway.
    const node = await startNode(newDir(), { env: { BANDWIDTH_LIMIT_KBPS: '2' }, schedule: { enabled: false } })
    await node.api.accounts.add({ handleOrDid: alice.did }).catch(() => undefined)
    await until(async () => (await node.api.sync.state()).accounts[0]?.running === true, 'the first sync to start')
    const running = node.api.accounts.sync({ did: alice.did }) // joins it
    const state = await node.api.sync.pause({ did: alice.did })
    expect(state.accounts[0]).toMatchObject({ paused: true, running: false })
    await expect(running).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    const [account] = await node.api.accounts.list()
    expect(account).toMatchObject({ head: null, records: 0, syncing: false, lastError: null })
  })

  it('keeps the pause across a restart', async () => {
    const dir = newDir()
    const first = await startNode(dir)
    await addAlice(first)
    await first.api.sync.pause({ did: alice.did })
    await first.api.sync.pause()
    await first.stop()

    const node = await startNode(dir)
    expect(await node.api.sync.state()).toMatchObject({ paused: true, accounts: [{ did: alice.did, paused: true, nextSyncAt: null, running: false }] })
    expect((await node.api.node.status()).sync?.paused).toBe(true)
    await expect(node.api.accounts.sync({ did: alice.did })).rejects.toMatchObject({ code: 'ERR_ACCOUNT_PAUSED' })
    const rkey = await post('written while the node was down')
    // Lifting the node-wide pause leaves alice's own pause in place.
    expect((await node.api.sync.resume()).accounts[0]).toMatchObject({ paused: true })
    await sleep(1000)
    expect(await held(node, rkey)).toBe(false)
    await node.api.sync.resume({ did: alice.did })
    await until(() => held(node, rkey), 'the sync after resume')
  })
})

describe('bandwidth cap (real local network)', () => {
  it('a capped sync takes at least bytes / cap', async () => {
    const bob = await createAccount(net, { handle: `bob${net.handleDomain}` })
    await populateAccount(bob, { posts: 2, imagePosts: 2, imageSize: { width: 160, height: 120 } })
    const kbps = 2
    const rate = kbps * BYTES_PER_KB
    const node = await startNode(newDir(), { env: { BANDWIDTH_LIMIT_KBPS: String(kbps) }, schedule: { enabled: false } })
    const done = nextSync(node, bob.did)
    const started = performance.now()
    await node.api.accounts.add({ handleOrDid: bob.did })
    const result = await done
    const elapsedMs = performance.now() - started
    // The bucket lets a quarter second through at once (it starts full); the rest waits.
    const burst = rate / 4
    expect(result.bytesReceived).toBeGreaterThan(2 * rate) // enough to measure: over two seconds' worth
    expect(elapsedMs).toBeGreaterThanOrEqual(((result.bytesReceived - burst) / rate) * 1000)
  })
})

describe('p2pds pause / resume (real local network)', () => {
  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = ''
    let err = ''
    const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) })
    return { code, out, err }
  }

  it('go through the running node, and through the data dir when none runs', async () => {
    const dir = newDir()
    const node = await startNode(dir, { listen: true })
    await addAlice(node)

    const one = await run('pause', alice.handle, '--data-dir', dir)
    expect(one.code).toBe(0)
    expect(one.out).toBe(`Syncing ${alice.handle} is paused; it stays paused across restarts. Resume with: p2pds resume ${alice.handle}\n`)
    expect((await node.api.sync.state()).accounts[0]?.paused).toBe(true)

    const all = await run('pause', '--json', '--data-dir', dir)
    expect(all.code).toBe(0)
    expect(JSON.parse(all.out)).toMatchObject({ paused: true, accounts: [{ did: alice.did, paused: true, nextSyncAt: null, running: false }] })
    const status = JSON.parse((await run('status', '--json', '--data-dir', dir)).out) as NodeStatusDto
    expect(status.host).toBe('test') // the running node answered
    expect(status.sync).toMatchObject({ paused: true, running: 0, nextSyncAt: null })

    const resumeAll = await run('resume', '--data-dir', dir)
    expect(resumeAll.out).toContain(`1 account(s) paused on their own stay paused (p2pds resume <did>): ${alice.did}`)
    const resumeOne = await run('resume', alice.did, '--json', '--data-dir', dir)
    const state = JSON.parse(resumeOne.out) as SyncStateDto
    expect(state.paused).toBe(false)
    expect(state.accounts[0]?.paused).toBe(false)
    expect((await node.api.node.status()).sync?.paused).toBe(false)

    const unknown = await run('pause', 'nobody.test', '--data-dir', dir)
    expect(unknown.code).toBe(1)
    expect(unknown.err).toMatch(/^p2pds: No account with the handle nobody\.test is held here/)
    const tooMany = await run('pause', alice.did, alice.did, '--data-dir', dir)
    expect(tooMany.code).toBe(2)

    // No node running: the CLI opens the data dir itself, and the pause is kept for the next start.
    await node.stop()
    expect((await run('pause', '--data-dir', dir)).code).toBe(0)
    const offline = JSON.parse((await run('status', '--json', '--data-dir', dir)).out) as NodeStatusDto
    expect(offline.host).toBe('cli')
    expect(offline.sync).toMatchObject({ paused: true, running: 0, nextSyncAt: null })
    const restarted = await startNode(dir)
    expect((await restarted.api.sync.state()).paused).toBe(true)
  })
})

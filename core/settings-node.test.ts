// Settings applied by a real node against the real local atproto network (PLC + PDS): the
// bandwidth cap and the sync interval at once, firehose and networking at the next start, and the
// storage cap (warning, then a refusal that leaves every backup intact) with a real 1 MB cap.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { P2pdsEvents, SyncResultDto } from './api.js'
import { dispatchApiCall } from './api-dispatch.js'
import { loadConfig } from './config.js'
import { BYTES_PER_KB } from './network/bandwidth.js'
import { createNode, type NodeScheduleInit, type P2pdsNode } from './node.js'
import { createAccount, populateAccount, type TestAccount } from './testing/builders.js'
import { startTestNetwork, type TestNetwork } from './testing/network.js'
import { tempNodes } from './testing/temp-nodes.js'

let net: TestNetwork
const temp = tempNodes('p2pds-settings-node-')
const newDir = temp.newDir

beforeAll(async () => {
  net = await startTestNetwork()
}, 120_000)

afterAll(async () => {
  await net?.close()
})

async function startNode(dir: string, opts: { env?: Record<string, string | undefined>; schedule?: NodeScheduleInit; listen?: boolean } = {}): Promise<P2pdsNode> {
  const config = loadConfig({ env: { ...net.env, DATA_DIR: dir, PORT: '0', ...opts.env }, cwd: dir })
  const node = await createNode({ config, host: 'test', listen: opts.listen ?? false, schedule: opts.schedule ?? { enabled: false } })
  temp.track(node)
  await node.start()
  return node
}

async function stopNode(node: P2pdsNode): Promise<void> {
  await node.stop()
  temp.release(node)
}

function nextSync(node: P2pdsNode, did: string): Promise<SyncResultDto> {
  return new Promise((resolve, reject) => {
    const offDone = node.on('sync:completed', (r) => {
      if (r.did !== did) return
      offDone()
      offFail()
      resolve(r)
    })
    const offFail = node.on('sync:failed', (f) => {
      if (f.did !== did) return
      offDone()
      offFail()
      reject(new Error(f.error.message))
    })
  })
}

function nextEvent<E extends keyof P2pdsEvents>(node: P2pdsNode, event: E, match: (d: P2pdsEvents[E]) => boolean = () => true): Promise<P2pdsEvents[E]> {
  return new Promise((resolve) => {
    const off = node.on(event, (d) => {
      if (!match(d)) return
      off()
      resolve(d)
    })
  })
}

/** Uploads `bytes` random bytes as a blob and references it from a record (any record's blobs are backed up). */
async function addFile(account: TestAccount, bytes: number): Promise<void> {
  const up = await account.agent.com.atproto.repo.uploadBlob(randomBytes(bytes), { encoding: 'application/octet-stream' })
  await account.agent.com.atproto.repo.createRecord({
    repo: account.did,
    collection: 'org.p2pds.test.file',
    record: { $type: 'org.p2pds.test.file', file: up.data.blob, createdAt: new Date().toISOString() },
    validate: false,
  })
}

describe('settings through the API (real node)', () => {
  it('validates input with one line, saves, announces settings:changed, and reports storage in status', async () => {
    const node = await startNode(newDir(), { env: { BANDWIDTH_LIMIT_KBPS: '500' } })
    const bad = await dispatchApiCall(node.api, 'settings.update', { values: { syncIntervalSec: 1 } })
    expect(bad).toEqual({ ok: false, error: { name: 'InvalidInputError', code: 'ERR_INVALID_INPUT', message: 'Invalid input for settings.update at values.syncIntervalSec: must be at least 10 seconds.' } })
    const locked = await dispatchApiCall(node.api, 'settings.update', { values: { bandwidthLimitKbps: 10 } })
    expect(locked).toMatchObject({ ok: false, error: { code: 'ERR_SETTING_LOCKED' } })
    const changed = nextEvent(node, 'settings:changed')
    const ok = await dispatchApiCall(node.api, 'settings.update', { values: { storageLimitMb: 100 } })
    expect(ok).toMatchObject({ ok: true, value: { settings: { storageLimitMb: { value: 100, source: 'saved' }, bandwidthLimitKbps: { value: 500, lockedBy: 'BANDWIDTH_LIMIT_KBPS' } } } })
    expect((await changed).settings.storageLimitMb.value).toBe(100)
    const status = await node.api.node.status()
    expect(status.storage).toMatchObject({ usedBytes: 0, limitBytes: 100 * 1024 * 1024, level: 'ok' })
    expect((await node.api.settings.get()).dataDir.lockedBy).toBe('DATA_DIR')
  })

  it('firehose and networking settings apply at the next start', async () => {
    const dir = newDir()
    // The test network sets FIREHOSE_URL, which would lock the setting.
    const env = { FIREHOSE_URL: undefined }
    const first = await startNode(dir, { env })
    const dto = await first.api.settings.update({ values: { firehoseEnabled: false, ipfsNetworking: false, firehoseUrl: 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos' } })
    expect(dto.settings.firehoseEnabled).toMatchObject({ value: false, inUse: true, applies: 'restart' })
    expect(first.config.firehoseEnabled).toBe(true)
    await stopNode(first)
    const second = await startNode(dir, { env })
    expect(second.config).toMatchObject({ firehoseEnabled: false, ipfsNetworking: false, firehoseUrl: 'wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos' })
    expect((await second.api.settings.get()).settings.ipfsNetworking).toMatchObject({ value: false, inUse: false })
  })
})

describe('settings that apply at once (real local network)', () => {
  it('a changed sync interval moves the next periodic sync at once, and is kept for the next start', async () => {
    const alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
    await populateAccount(alice, { posts: 2 })
    const dir = newDir()
    const node = await startNode(dir, { schedule: { jitter: 0 } })
    const synced = nextSync(node, alice.did)
    await node.api.accounts.add({ handleOrDid: alice.did })
    await synced
    const at = async () => {
      const state = await node.api.sync.state()
      const next = state.accounts[0]?.nextSyncAt
      return next === null || next === undefined ? null : Date.parse(next)
    }
    let before: number | null = null
    for (let i = 0; i < 100 && before === null; i++) {
      before = await at()
      if (before === null) await new Promise((r) => setTimeout(r, 20))
    }
    const lastSync = Date.parse((await node.api.accounts.list())[0]!.lastSyncAt!)
    expect(before! - lastSync).toBeGreaterThanOrEqual(3600_000 - 1000)
    await node.api.settings.update({ values: { syncIntervalSec: 600 } })
    expect(await at()).toBe(before! - 3000_000)
    await stopNode(node)
    const again = await startNode(dir, { schedule: { jitter: 0 } })
    const next = (await again.api.sync.state()).accounts[0]!.nextSyncAt!
    expect(Date.parse(next)).toBe(lastSync + 600_000)
  })

  it('a bandwidth cap set while running applies to the next transfer, and lifting it frees one under way', async () => {
    const bob = await createAccount(net, { handle: `bob${net.handleDomain}` })
    await populateAccount(bob, { posts: 2, imagePosts: 2, imageSize: { width: 160, height: 120 } })
    const node = await startNode(newDir())
    // Capped from the app: no restart.
    const kbps = 2
    const rate = kbps * BYTES_PER_KB
    await node.api.settings.update({ values: { bandwidthLimitKbps: kbps } })
    let done = nextSync(node, bob.did)
    let started = performance.now()
    await node.api.accounts.add({ handleOrDid: bob.did })
    const capped = await done
    const cappedMs = performance.now() - started
    expect(capped.bytesReceived).toBeGreaterThan(2 * rate)
    // The cap is the lower bound: the bucket lets a quarter second through at once, the rest waits.
    expect(cappedMs).toBeGreaterThanOrEqual(((capped.bytesReceived - rate / 4) / rate) * 1000)

    // A tight cap, lifted once the transfer is under way: it ends long before the cap would allow.
    const carol = await createAccount(net, { handle: `carol${net.handleDomain}` })
    await addFile(carol, 200 * 1024)
    const slow = 1
    await node.api.settings.update({ values: { bandwidthLimitKbps: slow } })
    done = nextSync(node, carol.did)
    const underway = nextEvent(node, 'sync:progress', (p) => p.did === carol.did && p.phase === 'blobs')
    started = performance.now()
    await node.api.accounts.add({ handleOrDid: carol.did })
    await underway
    await node.api.settings.update({ values: { bandwidthLimitKbps: null } })
    const lifted = await done
    const liftedMs = performance.now() - started
    expect(lifted.bytesReceived).toBeGreaterThan(200 * 1024)
    // At 1 KB/s the 200 KiB blob alone needs over 190 s; the test would time out long before.
    expect(liftedMs).toBeLessThan(((lifted.bytesReceived - slow * BYTES_PER_KB) / (slow * BYTES_PER_KB)) * 1000)
    expect((await node.api.settings.get()).settings.bandwidthLimitKbps).toMatchObject({ value: null, source: 'saved' })
  }, 60_000)
})

describe('storage cap (real local network, 1 MB cap)', () => {
  it('warns from 90%, refuses new syncs and adds at the cap leaving every backup intact, and lifts the refusal when raised', async () => {
    const dave = await createAccount(net, { handle: `dave${net.handleDomain}` })
    const erin = await createAccount(net, { handle: `erin${net.handleDomain}` })
    await populateAccount(erin, { posts: 1 })
    const KiB = 1024
    await addFile(dave, 320 * KiB)
    await addFile(dave, 320 * KiB)
    const node = await startNode(newDir())
    const warnings: Array<P2pdsEvents['storage:warning']> = []
    node.on('storage:warning', (w) => warnings.push(w))
    await node.api.settings.update({ values: { storageLimitMb: 1 } })

    let done = nextSync(node, dave.did)
    await node.api.accounts.add({ handleOrDid: dave.did })
    await done
    let usage = (await node.api.settings.get()).storage
    expect(usage.usedBytes).toBeGreaterThanOrEqual(640 * KiB)
    expect(usage.level).toBe('ok')
    expect(warnings).toEqual([])

    // 960 KiB of blobs and the repo: over 90% of 1 MiB.
    await addFile(dave, 320 * KiB)
    const warned = nextEvent(node, 'storage:warning')
    done = nextSync(node, dave.did)
    await node.api.accounts.sync({ did: dave.did })
    await done
    expect(await warned).toMatchObject({ level: 'warning', limitBytes: 1024 * KiB })
    expect((await node.api.node.status()).storage?.level).toBe('warning')

    // Over the cap: the sync under way finishes (stored whole); the next ones are refused.
    await addFile(dave, 320 * KiB)
    const full = nextEvent(node, 'storage:warning', (w) => w.level === 'full')
    await node.api.accounts.sync({ did: dave.did })
    expect(await full).toMatchObject({ level: 'full' })
    const before = (await node.api.accounts.list())[0]!
    await addFile(dave, 10 * KiB)
    await expect(node.api.accounts.sync({ did: dave.did })).rejects.toMatchObject({ code: 'ERR_STORAGE_LIMIT', message: expect.stringMatching(/^Storage is full .* was not synced; its backup is unchanged\./) })
    const refusedAdd = await dispatchApiCall(node.api, 'accounts.add', { handleOrDid: erin.handle })
    expect(refusedAdd).toMatchObject({ ok: false, error: { code: 'ERR_STORAGE_LIMIT', message: expect.stringContaining(`so ${erin.handle} was not added`) } })
    const after = await node.api.accounts.list()
    expect(after).toHaveLength(1)
    expect(after[0]).toMatchObject({ head: before.head, records: before.records, blobs: before.blobs, storageBytes: before.storageBytes })
    // Nothing was corrupted: the stored blocks still hash to their CIDs and match the PDS's head.
    const checks = await node.api.accounts.verify({ did: dave.did })
    expect(checks.find((c) => c.level === 'L1')).toMatchObject({ ok: true })

    // Raised: syncing works again at once.
    const raised = await node.api.settings.update({ values: { storageLimitMb: 4 } })
    expect(raised.storage.level).toBe('ok')
    usage = raised.storage
    const result = await node.api.accounts.sync({ did: dave.did })
    expect(result.blobsFetched).toBe(1)
    expect((await node.api.settings.get()).storage.usedBytes).toBeGreaterThan(usage.usedBytes)
  }, 60_000)
})

describe('storage cap and the firehose (real local network)', () => {
  it('the firehose stores nothing at the cap either, and catches up once the cap is raised', async () => {
    const frank = await createAccount(net, { handle: `frank${net.handleDomain}` })
    const KiB = 1024
    await addFile(frank, 320 * KiB)
    // Listening: the firehose follows the local PDS.
    const node = await startNode(newDir(), { listen: true })
    await node.api.settings.update({ values: { storageLimitMb: 1 } })
    const synced = nextSync(node, frank.did)
    await node.api.accounts.add({ handleOrDid: frank.did })
    await synced
    const failures: Array<P2pdsEvents['sync:failed']> = []
    node.on('sync:failed', (f) => failures.push(f))
    // On a timeout, says what the node was doing: the stream, Frank's live state and failed syncs.
    const until = async (check: () => Promise<boolean>, what: string, timeoutMs = 20_000) => {
      const end = Date.now() + timeoutMs
      while (!(await check())) {
        if (Date.now() > end) {
          const state = await node.api.sync.state()
          const seen = { firehose: state.firehose, live: state.accounts.find((a) => a.did === frank.did)?.live, account: (await node.api.accounts.list())[0], failures }
          throw new Error(`timed out waiting for ${what}: ${JSON.stringify(seen)}`)
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const cursor = async () => (await node.api.sync.state()).firehose?.cursor ?? null
    await until(async () => (await node.api.sync.state()).firehose?.connection === 'connected', 'the firehose to connect')
    // Applied live while under the cap: this one fills it.
    await addFile(frank, 800 * KiB)
    await until(async () => (await node.api.settings.get()).storage.level === 'full', 'the firehose to store the large blob')
    const full = (await node.api.accounts.list())[0]!
    // At the cap: the next commit is seen by the stream (its cursor moves past it) but not stored.
    const seen = (await cursor())!
    expect(seen).not.toBeNull()
    await addFile(frank, 4 * KiB)
    await until(async () => ((await cursor()) ?? 0) > seen, 'the stream to pass the new commit')
    const held = (await node.api.accounts.list())[0]!
    expect(held).toMatchObject({ head: full.head, records: full.records, storageBytes: full.storageBytes })
    // Raised: the resync it owes brings the commit in without waiting for the periodic sync.
    await node.api.settings.update({ values: { storageLimitMb: 8 } })
    await until(async () => {
      const a = (await node.api.accounts.list())[0]!
      return a.records === full.records + 1 && a.blobs.stored === 3
    }, 'the owed resync, repo then blob', 45_000) // room for one retry of a resync that failed on a loaded machine
    expect((await node.api.accounts.list())[0]!.blobs).toEqual({ stored: 3, missing: 0, failed: 0 })
  }, 120_000)
})

/**
 * The PDS restarts (issue 4): a real node follows the real local PDS's firehose directly (no
 * stand-in); the PDS is stopped for real (`PDS.destroy()`: its HTTP server, its event stream and
 * its databases closed) and started again as a new `PDS` over the same configuration, data
 * directory, blob store and port. The node reconnects from its cursor by itself and catches up:
 * posts written after the PDS is back but before the node reconnected are replayed from the
 * cursor (the PDS keeps its sequence on disk), posts written after that come live, and no
 * periodic sync or resync runs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import type { PDS } from '@atproto/pds'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SyncResultDto } from '../api.js'
import { loadConfig } from '../config.js'
import { createNode, type P2pdsNode } from '../node.js'
import { createAccount, type TestAccount } from '../testing/builders.js'
import { LOOPBACK, startTestNetwork, type TestNetwork } from '../testing/network.js'
import { addPosts, heldRecords, pdsRecords, until } from './test-helpers.js'

let net: TestNetwork
let carol: TestAccount
let dir: string
let node: P2pdsNode | undefined

beforeAll(async () => {
  net = await startTestNetwork()
  carol = await createAccount(net, { handle: 'carol' })
  await addPosts(carol, 2, 'before')
  dir = mkdtempSync(join(tmpdir(), 'p2pds-firehose-restart-'))
}, 120_000)
afterAll(async () => {
  await node?.stop()
  await net?.close()
  rmSync(dir, { recursive: true, force: true })
})

/**
 * Stops the network's PDS and starts a new one over the same configuration (port, data
 * directory, blob store, service DID) and the same secrets dev-env gave it, on 127.0.0.1 again.
 */
async function restartPds(): Promise<number> {
  const { PDS: Pds } = await import('@atproto/pds')
  const { ADMIN_PASSWORD, JWT_SECRET } = await import('@atproto/dev-env')
  const holder = net.pds as unknown as { server: PDS }
  const old = holder.server
  const cfg = old.ctx.cfg
  const stoppedAt = Date.now()
  await old.destroy()
  // dev-env's PLC rotation key is not exportable once imported; it signs only PLC operations,
  // which this test does not make, so a fresh one stands in. The JWT secret is dev-env's, so the
  // sessions issued before the restart stay valid.
  const rotation = await Secp256k1Keypair.create({ exportable: true })
  const fresh = await Pds.create(cfg, {
    jwtSecret: JWT_SECRET,
    adminPassword: ADMIN_PASSWORD,
    entrywayAdminToken: ADMIN_PASSWORD,
    plcRotationKey: { provider: 'memory', privateKeyHex: Buffer.from(await rotation.export()).toString('hex') },
  })
  // `PDS.start()` listens on every interface; on loopback only, like the first one.
  const listen = fresh.app.listen.bind(fresh.app) as (port: number, host: string) => ReturnType<typeof fresh.app.listen>
  fresh.app.listen = ((port: number) => listen(port, LOOPBACK)) as typeof fresh.app.listen
  await fresh.start()
  holder.server = fresh
  return Date.now() - stoppedAt
}

async function sameAsPds(n: P2pdsNode): Promise<boolean> {
  const [local, remote] = await Promise.all([heldRecords(n, carol.did), pdsRecords(net.pdsUrl, carol.did)])
  return local.size === remote.size && [...remote].every(([k, v]) => local.get(k) === v)
}

describe('the PDS restarts', () => {
  it('the node reconnects by itself and catches up: what was written before it reconnected is replayed from its cursor, what comes after arrives live, with no sync', async () => {
    const config = loadConfig({ env: { ...net.env, DATA_DIR: dir, PORT: '0' }, cwd: dir })
    // A long first reconnect delay (20 s: the jitter is pinned to its top), so that posts written
    // right after the restart are surely written while the node is still disconnected, even when
    // restarting the PDS takes seconds on a loaded machine.
    const n = (node = await createNode({
      config,
      host: 'test',
      listen: false,
      schedule: { enabled: false },
      firehose: { enabled: true, backoffBaseMs: 20_000, backoffMaxMs: 20_000, random: () => 0.999, pingIntervalMs: 500, stallTimeoutMs: 60_000, changeIntervalMs: 50 },
    }))
    const syncs: SyncResultDto[] = []
    n.on('sync:completed', (r) => syncs.push(r))
    await n.start()
    await n.api.accounts.add({ handleOrDid: carol.did })
    await until('the first sync', async () => syncs.length >= 1)
    await until('a connected stream', async () => (await n.api.sync.state()).firehose?.connection === 'connected')
    await addPosts(carol, 1, 'live before the restart')
    await until('the post before the restart', () => sameAsPds(n))
    const cursorBefore = (await n.api.sync.state()).firehose!.cursor!

    const downMs = await restartPds()
    // The stream closed with the PDS; the node hears of it asynchronously (the socket's close is an
    // event like any other), so it is awaited rather than assumed done when the restart returns.
    const lost = await until('the node to see the stream close', async () => {
      const f = (await n.api.sync.state()).firehose!
      return f.connection !== 'connected' && f
    }, 15_000)
    expect(lost.connection, `restart took ${downMs} ms`).toBe('waiting')
    expect(lost.reconnects).toBe(1)
    const during = await addPosts(carol, 2, 'before the node reconnected')
    const still = (await n.api.sync.state()).firehose!
    // Written while the node was still disconnected (it waits 20 s; the restart took downMs).
    expect(still.connection, `restart took ${downMs} ms`).toBe('waiting')
    expect(still.cursor).toBe(cursorBefore)

    await until('reconnected and caught up', async () => (await n.api.sync.state()).firehose?.connection === 'connected' && (await sameAsPds(n)), 60_000)
    const caughtUp = await n.api.sync.state()
    for (const uri of during) expect((await heldRecords(n, carol.did)).has(uri.split('/').slice(-2).join('/'))).toBe(true)
    expect(caughtUp.firehose!.cursor!).toBeGreaterThan(cursorBefore)

    await addPosts(carol, 1, 'live after the restart')
    await until('the post after the restart', () => sameAsPds(n))
    expect(syncs).toHaveLength(1) // only the first sync: everything else came through the stream
    const live = (await n.api.sync.state()).accounts.find((a) => a.did === carol.did)!.live!
    expect(live.eventsApplied).toBe(4)
    expect(live.state).toBe('live')
  }, 150_000)
})

/**
 * Setting a policy's fields (`policies.update`, `p2pds policy set`) on a real node against the
 * real local atproto network: the scheduler's next sync follows a new interval at once,
 * `policies.list` shows the new effective values, and refused changes (out of range, a bad
 * PeerID, a config policy) change nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AccountDto, PoliciesDto, PolicyDto } from './api.js'
import { dispatchApiCall } from './api-dispatch.js'
import { main } from './cli.js'
import { loadConfig } from './config.js'
import { createNode, type P2pdsNode } from './node.js'
import { createAccount, type TestAccount } from './testing/builders.js'
import { startTestNetwork, type TestNetwork } from './testing/network.js'
import { until } from './replication/test-helpers.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

let net: TestNetwork
let carol: TestAccount
let dave: TestAccount
let dir: string
let node: P2pdsNode

beforeAll(async () => {
  net = await startTestNetwork()
  ;[carol, dave] = (await Promise.all(['carol', 'dave'].map((h) => createAccount(net, { handle: h })))) as [TestAccount, TestAccount]
  dir = mkdtempSync(join(tmpdir(), 'p2pds-policy-update-'))
  // Dave comes from the configuration; Carol is added by hand below (an archive policy).
  const env = { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'secret.key'), IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false', SYNC_INTERVAL_SEC: '3600', REPLICATE_DIDS: dave.did }
  // listen: the CLI verbs below talk to this node through its local API.
  node = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen: true, schedule: { enabled: true, jitter: 0 }, offers: { checkIntervalMs: 0 } })
  await node.start()
}, 120_000)

afterAll(async () => {
  await node?.stop()
  await net?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})


/** The account's planned gap between its last sync and its next one, in ms. */
async function gapOf(did: string): Promise<number | null> {
  const a = (await node.api.accounts.list()).find((x) => x.did === did)
  if (a?.nextSyncAt == null || a.lastSyncAt === null) return null
  return Date.parse(a.nextSyncAt) - Date.parse(a.lastSyncAt)
}

/** Waits until the account's next sync is planned `ms` after its last one (the scheduler re-plans on `offers:changed`). */
function gapBecomes(did: string, ms: number): Promise<number> {
  return until(`the next sync of ${did} to be planned ${ms / 1000} s after the last`, async () => {
    const gap = await gapOf(did)
    return gap !== null && gap >= ms && gap < ms + 10_000 ? gap : undefined
  })
}

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main([...argv, '--data-dir', node.config.dataDir], { out: (t) => (out += t), err: (t) => (err += t) })
  return { code, out, err }
}

describe('setting a policy’s fields', () => {
  let synced: AccountDto
  const id = () => `archive:${carol.did}`
  const policyOf = async (pid: string) => (await node.api.policies.list()).policies.find((p) => p.id === pid)

  beforeAll(async () => {
    await node.api.accounts.add({ handleOrDid: carol.handle })
    synced = await until('Carol to be synced', async () => (await node.api.accounts.list()).find((x) => x.did === carol.did && x.head !== null && !x.syncing && x.nextSyncAt != null))
    await until('Dave (from REPLICATE_DIDS) to be held', async () => (await node.api.accounts.list()).some((x) => x.did === dave.did))
  }, 60_000)

  it('an archive policy’s new interval moves the next sync at once and shows in policies.list; null goes back to the default', async () => {
    expect(synced).toMatchObject({ kind: 'archive', consent: 'unconsented' })
    expect(await gapBecomes(carol.did, 3_600_000)).toBeLessThan(3_610_000)

    const changed = new Promise<string>((resolve) => {
      const off = node.on('offers:changed', ({ did }) => {
        off()
        resolve(did)
      })
    })
    const updated = await node.api.policies.update({ id: id(), intervalSec: 600, minCopies: 2, retentionDays: 30, preferredPeers: [PEER] })
    expect(updated).toMatchObject<Partial<PolicyDto>>({ id: id(), type: 'archive', did: carol.did, state: 'active', intervalSec: 600, minCopies: 2, retentionDays: 30, preferredPeers: [PEER] })
    expect(await changed).toBe(carol.did)
    await gapBecomes(carol.did, 600_000)
    const list = await node.api.policies.list()
    expect(list.policies.find((p) => p.id === id())).toEqual(updated)
    expect(list.effective.find((e) => e.did === carol.did)).toMatchObject({ intervalSec: 600, minCopies: 2, retentionDays: 30, preferredPeers: [PEER], fetchOrder: [PEER], from: [id()] })

    // Through the binding the hosts use (schema, then the node): null clears, absent keeps.
    const cleared = await dispatchApiCall(node.api, 'policies.update', { id: id(), intervalSec: null })
    expect(cleared).toMatchObject({ ok: true, value: { intervalSec: null, minCopies: 2, retentionDays: 30 } })
    await gapBecomes(carol.did, 3_600_000)
    expect((await node.api.policies.list()).effective.find((e) => e.did === carol.did)).toMatchObject({ intervalSec: null, retentionDays: 30 })
  })

  it('refuses values out of range and bad PeerIDs with a sentence, changing nothing', async () => {
    const before = (await node.api.policies.list()) as PoliciesDto
    const gap = await gapOf(carol.did)
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ intervalSec: 59 }, /^Invalid input for policies\.update at intervalSec: a whole number of seconds from 60 to 31536000, or null for the default\.$/],
      [{ intervalSec: '600' }, /at intervalSec: a whole number of seconds/],
      [{ minCopies: 65 }, /at minCopies: a whole number of copies from 1 to 64/],
      [{ retentionDays: 0 }, /at retentionDays: a whole number of days from 1 to 36500/],
      [{ preferredPeers: Array.from({ length: 65 }, () => PEER) }, /at preferredPeers: at most 64 PeerIDs/],
      [{ preferredPeers: [PEER, '12D3KooWPreferred'] }, /^"12D3KooWPreferred" is not a libp2p PeerID \(such as 12D3KooW…\)/],
      [{ colour: 'blue' }, /Invalid input for policies\.update/],
    ]
    for (const [fields, message] of bad) {
      const r = await dispatchApiCall(node.api, 'policies.update', { id: id(), ...fields })
      expect(r, JSON.stringify(fields)).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_INPUT', message: expect.stringMatching(message) } })
    }
    // The node checks again when called directly (no schema in between).
    await expect(node.api.policies.update({ id: id(), minCopies: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', message: 'The number of copies wanted must be a whole number from 1 to 64 copies; 0 is not.' })
    await expect(node.api.policies.update({ id: id(), intervalSec: 30 })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' })
    await expect(node.api.policies.update({ id: 'archive:did:plc:nobody', intervalSec: 600 })).rejects.toMatchObject({ code: 'ERR_POLICY', message: expect.stringMatching(/^There is no policy "archive:did:plc:nobody" on this node/) })
    expect(await node.api.policies.list()).toEqual(before)
    expect(await gapOf(carol.did)).toBe(gap)
  })

  it('refuses a config policy: it comes from the configuration file', async () => {
    const before = await policyOf(`config:${dave.did}`)
    expect(before).toMatchObject({ type: 'config', state: 'active', intervalSec: null })
    await expect(node.api.policies.update({ id: `config:${dave.did}`, intervalSec: 600 })).rejects.toMatchObject({
      code: 'ERR_POLICY',
      message: `The policy for ${dave.did} comes from the node's configuration (REPLICATE_DIDS or POLICY_FILE); change it there and restart the node.`,
    })
    expect(await policyOf(`config:${dave.did}`)).toEqual(before)
  })

  it('p2pds policy set: by handle or id, --json prints the PolicyDto; bad values are usage errors; config is refused', async () => {
    const set = await run('policy', 'set', carol.handle, '--interval', '900', '--preferred-peers', 'none', '--json')
    expect(set.code, set.err).toBe(0)
    const dto = JSON.parse(set.out) as PolicyDto
    expect(dto).toMatchObject({ id: id(), intervalSec: 900, minCopies: 2, retentionDays: 30, preferredPeers: [] })
    await gapBecomes(carol.did, 900_000)

    const human = await run('policy', 'set', id(), '--min-copies', 'default', '--retention-days', '7')
    expect(human.code, human.err).toBe(0)
    expect(human.out).toBe(`Updated the archive policy for ${carol.did}: syncs every 15m 0s, keeps 7 days of history, no number of copies wanted, no preferred peers. It applies from now on.\n`)

    const usage = [
      ['policy', 'set', carol.handle, '--interval', '30'],
      ['policy', 'set', carol.handle, '--min-copies', 'two'],
      ['policy', 'set', carol.handle],
      ['policy', 'set', carol.handle, '--preferred-peers', '12D3KooWPreferred'],
      ['policy', 'frobnicate'],
    ]
    for (const argv of usage) {
      const r = await run(...argv)
      expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(2)
      expect(r.err).toMatch(/^p2pds: .+\n$/)
    }
    expect((await run('policy', 'set', carol.handle, '--interval', '30')).err).toBe('p2pds: --interval takes a whole number of seconds from 60 to 31536000, or default; "30" is not. See p2pds policy --help.\n')
    expect((await run('policy', 'set', carol.handle, '--preferred-peers', '12D3KooWPreferred')).err).toMatch(/"12D3KooWPreferred" is not a libp2p PeerID/)

    const config = await run('policy', 'set', dave.did, '--interval', '600')
    expect(config.code).toBe(1)
    expect(config.err).toBe(`p2pds: The policy for ${dave.did} comes from the node's configuration (REPLICATE_DIDS or POLICY_FILE); change it there and restart the node.\n`)
    expect(await policyOf(id())).toMatchObject({ intervalSec: 900, minCopies: null, retentionDays: 7 })

    const list = await run('policy', 'list')
    expect(list.code).toBe(0)
    expect(list.out).toMatch(new RegExp(`^archive:${carol.did}\\s+active\\s+15m 0s\\s+7 d\\s+-\\s+-$`, 'm'))
    expect(list.out).toContain(`config:${dave.did}`)
  })

  it('p2pds accounts shows why each account is held', async () => {
    const r = await run('accounts')
    expect(r.code).toBe(0)
    expect(r.out.split('\n')[0]).toMatch(/^ACCOUNT\s+HELD AS\s+REV/)
    expect(r.out).toMatch(new RegExp(`^${carol.handle}\\s+Archive · no consent\\s`, 'm'))
    expect(r.out).toMatch(new RegExp(`^${dave.handle}\\s+From config\\s`, 'm'))
  })
})

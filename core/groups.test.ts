/**
 * Groups: the pure view of who holds whom, and, on two real nodes with accounts on the local
 * atproto network, making a group, joining it (offers to every member), refusals that store
 * nothing, and the CLI verb.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from './cli.js'
import { loadConfig } from './config.js'
import { checkGroupName, groupHoldings } from './groups.js'
import { createNode, type P2pdsNode } from './node.js'
import { createAccount, type TestAccount } from './testing/builders.js'
import { startTestNetwork, type TestNetwork } from './testing/network.js'

const A = 'did:plc:alice'
const B = 'did:plc:bob'
const C = 'did:plc:carol'

describe('group view (pure)', () => {
  it('shows what this node holds for its logged-in members, and promised copies from agreements', () => {
    const held = new Map<string, 'verified' | 'held'>([
      [B, 'verified'],
      [C, 'held'],
      ['did:plc:outsider', 'verified'],
    ])
    const holdings = groupHoldings([A, B, C], { logins: [A], held, agreements: [{ localDid: A, did: B }, { localDid: A, did: 'did:plc:outsider' }] })
    expect(holdings).toEqual([
      { holder: A, subject: B, status: 'verified' },
      { holder: A, subject: C, status: 'held' },
      { holder: B, subject: A, status: 'promised' },
    ])
    // Nobody logged in here: only agreements tell anything.
    expect(groupHoldings([A, B], { logins: [], held, agreements: [] })).toEqual([])
  })

  it('refuses bad names with a coded error', () => {
    expect(checkGroupName('  friends ')).toBe('friends')
    for (const bad of ['', '   ', 'x'.repeat(65), 'a\nb']) expect(() => checkGroupName(bad)).toThrow(expect.objectContaining({ code: 'ERR_GROUP' }))
  })
})

describe('groups on two nodes', () => {
  let net: TestNetwork
  const dirs: string[] = []
  const nodes: P2pdsNode[] = []

  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined)
    await net?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  async function nodeFor(account: TestAccount): Promise<P2pdsNode> {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-groups-'))
    dirs.push(dir)
    const env = { ...net.env, DATA_DIR: join(dir, 'data'), PORT: '0', SECRET_KEY_FILE: join(dir, 'secret.key'), IPFS_ENABLED: 'false', FIREHOSE_ENABLED: 'false' }
    const node = await createNode({ config: loadConfig({ env, cwd: dir }), host: 'test', listen: true, schedule: { enabled: false } })
    nodes.push(node)
    await node.start()
    const appPassword = (await account.agent.com.atproto.server.createAppPassword({ name: `p2pds-${dir.slice(-6)}` })).data.password
    await node.api.auth.loginAppPassword({ identifier: account.handle, password: appPassword })
    return node
  }

  it('makes a group, refuses bad ones storing nothing, joins it (offers to each member), shows who holds whom', async () => {
    net = await startTestNetwork()
    const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((h) => createAccount(net, { handle: h })))) as [TestAccount, TestAccount, TestAccount]
    const a = await nodeFor(alice)
    const b = await nodeFor(bob)

    const g = await a.api.groups.create({ name: 'friends', members: [alice.handle, bob.did, `@${carol.handle}`, bob.handle] })
    expect(g).toMatchObject({ name: 'friends', members: [alice.did, bob.did, carol.did], holdings: [] })
    await expect(a.api.groups.create({ name: 'friends', members: [bob.did] })).rejects.toMatchObject({ code: 'ERR_GROUP', message: 'There is already a group named friends.' })
    await expect(a.api.groups.create({ name: 'other', members: ['did:nope'] })).rejects.toMatchObject({ code: 'ERR_GROUP' })
    await expect(a.api.groups.create({ name: 'other', members: ['nobody.invalid'] })).rejects.toMatchObject({ code: 'ERR_GROUP' })
    await expect(a.api.groups.join({ name: 'missing' })).rejects.toMatchObject({ code: 'ERR_GROUP', message: 'There is no group named missing.' })
    expect((await a.api.groups.list()).map((x) => x.name)).toEqual(['friends'])

    const joined = await a.api.groups.join({ name: 'friends' })
    expect(joined).toEqual({ name: 'friends', as: alice.did, offered: [bob.did, carol.did], already: [], failed: [] })
    expect((await a.api.groups.join({ name: 'friends' })).already).toEqual([bob.did, carol.did])

    // Bob's node got the push and accepts: each node holds the other; Alice's group view shows it.
    const deadline = Date.now() + 20_000
    while (!(await b.api.offers.list()).incoming.some((o) => o.offerer === alice.did)) {
      if (Date.now() > deadline) throw new Error('no push on Bob’s node')
      await new Promise((r) => setTimeout(r, 150))
    }
    await b.api.offers.accept({ did: alice.did })
    let holdings: Array<{ holder: string; subject: string; status: string }> = []
    while (Date.now() < deadline + 20_000) {
      holdings = (await a.api.groups.list())[0]!.holdings
      if (holdings.length === 2) break
      await new Promise((r) => setTimeout(r, 150))
    }
    expect(holdings).toEqual(
      [
        { holder: alice.did, subject: bob.did, status: expect.stringMatching(/^(held|verified)$/) },
        { holder: bob.did, subject: alice.did, status: 'promised' },
      ].sort((x, y) => x.holder.localeCompare(y.holder)),
    )

    // The CLI: --json is the DTO; a bad subcommand exits 2; a failing one exits 1 with one line.
    const out: string[] = []
    const err: string[] = []
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }
    expect(await main(['group', 'list', '--json', '--data-dir', a.config.dataDir], io)).toBe(0)
    expect(JSON.parse(out.join(''))).toEqual(await a.api.groups.list())
    expect(await main(['group', 'frob', 'x', '--data-dir', a.config.dataDir], io)).toBe(2)
    expect(await main(['group', 'create', 'x', '--data-dir', a.config.dataDir], io)).toBe(2)
    expect(await main(['group', 'remove', 'missing', '--data-dir', a.config.dataDir], io)).toBe(1)
    expect(err.join('')).toContain('There is no group named missing.')
    expect(await main(['group', 'remove', 'friends', '--data-dir', a.config.dataDir], io)).toBe(0)
    expect(await a.api.groups.list()).toEqual([])
  }, 120_000)
})

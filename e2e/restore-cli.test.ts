// The restore drill as a user runs it: every step is a separate `p2pds` process on one data dir,
// against the real local network with two PDSes on one PLC directory. The product never uses a
// key of the test network's PDSes: the rotation key is made by `p2pds rotation-key new` and added
// through PDS-1's own email-code flow (the test reads the code PDS-1 issued from its database).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import { readCarWithRoot } from '@atproto/repo'
import BetterSqlite3 from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AccountDto, AddRotationKeyResultDto, RecoveryKitDto, RestorePlanDto, RestoreStatusDto, RotationKeysDto } from '../core/api.js'
import { validatePlcLog } from '../core/identity/plc-log.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../core/testing/builders.js'
import { startExtraPds, startTestNetwork, type ExtraPds, type TestNetwork } from '../core/testing/network.js'
import { requireBuild, runCli } from './helpers.js'

let net: TestNetwork
let pds2: ExtraPds
let alice: TestAccount
let content: PopulatedAccount
let dir: string
const NEW_PASSWORD = 'alice-new-home-pw'

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...net.env, P2PDS_SECRET: 'restore-cli-data-key', SECRET_KEY_FILE: join(dir, 'unused.key'), P2PDS_APP_PASSWORD: '', P2PDS_NEW_PASSWORD: '', ...extra }
}

async function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const p = runCli([...args, '--data-dir', dir], env(extra))
  const code = await p.exited
  return { code, out: p.stdout(), err: p.stderr() }
}

async function auditLog(did: string): Promise<unknown[]> {
  return (await (await fetch(`${net.plcUrl}/${did}/log/audit`)).json()) as unknown[]
}

function plcToken(did: string): string {
  const db = new BetterSqlite3(net.pds.ctx.cfg.db.accountDbLoc, { readonly: true })
  try {
    return (db.prepare("SELECT token FROM email_token WHERE did = ? AND purpose = 'plc_operation'").get(did) as { token: string }).token
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  requireBuild()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-restore-'))
  net = await startTestNetwork()
  pds2 = await startExtraPds(net)
  alice = await createAccount(net, { handle: 'alice' })
  const bob = await createAccount(net, { handle: 'bob' })
  content = await populateAccount(alice, { profile: true, posts: 4, imagePosts: 2, imagesPerPost: 2, follows: [bob] })
}, 300_000)

afterAll(async () => {
  await pds2?.close()
  await net?.close().catch(() => undefined) // PDS-1 is closed by the drill
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe('p2pds restore', () => {
  it('backs up, adds a rotation key, writes a kit, and restores to PDS-2 after PDS-1 is gone', async () => {
    const backup = await cli(['backup', alice.did])
    expect(backup.code, backup.err).toBe(0)

    // A rotation key, made and added through the product.
    const keyFile = join(dir, 'alice-rotation.key')
    const made = await cli(['rotation-key', 'new', '--out', keyFile, '--as', alice.did, '--json'])
    expect(made.code, made.err).toBe(0)
    const { didKey, phrase } = JSON.parse(made.out) as { didKey: string; phrase: string }
    expect(phrase.split(' ')).toHaveLength(24)
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/)
    expect((await cli(['rotation-key', 'new', '--out', keyFile])).code).toBe(2) // never over an existing key file

    const asked = await cli(['rotation-key', 'add', keyFile, '--json'], { P2PDS_APP_PASSWORD: alice.password })
    expect(asked.code, asked.err).toBe(0)
    expect((JSON.parse(asked.out) as AddRotationKeyResultDto).status).toBe('token-sent')
    const added = await cli(['rotation-key', 'add', keyFile, '--token', plcToken(alice.did), '--json'], { P2PDS_APP_PASSWORD: alice.password })
    expect(added.code, added.err).toBe(0)
    const addedResult = JSON.parse(added.out) as AddRotationKeyResultDto
    expect(addedResult.status).toBe('added')
    expect(addedResult.rotationKeys[0]).toBe(didKey) // first: the highest priority
    const keys = JSON.parse((await cli(['rotation-keys', alice.did, '--json'])).out) as RotationKeysDto
    expect(keys.keys[0]).toEqual({ didKey, position: 0, heldHere: true })

    // The recovery kit.
    const kitDir = join(dir, 'kit')
    const kitRun = await cli(['export-kit', alice.did, '--out', kitDir, '--json'])
    expect(kitRun.code, kitRun.err).toBe(0)
    const kit = JSON.parse(kitRun.out) as RecoveryKitDto
    expect(kit.plcLog).toBe('fetched')
    expect(kit.files).toEqual(expect.arrayContaining(['README.md', 'repo.car', 'plc-log.json', 'blobs/manifest.json']))
    expect(kit.files.filter((f) => f.startsWith('blobs/') && f !== 'blobs/manifest.json')).toHaveLength(content.blobs.length)
    const account = (JSON.parse((await cli(['accounts', '--json'])).out) as AccountDto[])[0]!
    const car = await readCarWithRoot(new Uint8Array(readFileSync(join(kitDir, 'repo.car'))))
    expect(car.root.toString()).toBe(account.head!.cid)
    const kitLog = await validatePlcLog(alice.did, JSON.parse(readFileSync(join(kitDir, 'plc-log.json'), 'utf8')))
    expect(kitLog.state?.rotationKeys[0]).toBe(didKey)
    const readme = readFileSync(join(kitDir, 'README.md'), 'utf8')
    expect(readme).toContain(alice.did)
    expect(readme).toMatch(/rotation key/)
    expect(readme).toContain('p2pds restore')

    // PDS-1 is gone for good.
    await net.pds.close()
    const logBefore = await auditLog(alice.did)

    const args = ['restore', alice.did, '--to', pds2.url, '--rotation-key', keyFile, '--email', 'alice@new.test']
    const dry = await cli([...args, '--dry-run', '--json'])
    expect(dry.code, dry.err).toBe(0)
    expect((JSON.parse(dry.out) as RestorePlanDto).checks.every((c) => c.ok)).toBe(true)
    expect(await auditLog(alice.did)).toEqual(logBefore)

    // A key file holding a key that is not a rotation key of the DID is refused, changing nothing.
    const stranger = join(dir, 'stranger.key')
    expect((await cli(['rotation-key', 'new', '--out', stranger])).code).toBe(0)
    const refused = await cli([...args.slice(0, 4), '--rotation-key', stranger, '--email', 'alice@new.test'], { P2PDS_NEW_PASSWORD: NEW_PASSWORD })
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/not one of the rotation keys/)
    expect(await auditLog(alice.did)).toEqual(logBefore)

    const run = await cli([...args, '--json'], { P2PDS_NEW_PASSWORD: NEW_PASSWORD })
    expect(run.code, run.err).toBe(0)
    const status = JSON.parse(run.out) as RestoreStatusDto
    expect(status.state).toBe('done')
    expect(run.err).toMatch(/upload-blobs\s+running \d+\/\d+/)

    // The DID resolves to PDS-2; Alice signs in there with the new password and posts.
    const doc = (await (await fetch(`${net.plcUrl}/${alice.did}/data`)).json()) as { services: { atproto_pds: { endpoint: string } } }
    expect(doc.services.atproto_pds.endpoint).toBe(pds2.url)
    const agent = new AtpAgent({ service: pds2.url })
    await agent.login({ identifier: alice.handle, password: NEW_PASSWORD })
    for (const b of content.blobs) {
      const got = await agent.com.atproto.sync.getBlob({ did: alice.did, cid: b.cid })
      expect(Buffer.from(got.data).equals(Buffer.from(b.bytes))).toBe(true)
    }
    const records = await agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post', limit: 100 })
    expect(records.data.records.map((r) => r.cid).sort()).toEqual(content.posts.map((p) => p.cid).sort())
    await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'hello from PDS-2', createdAt: new Date().toISOString() } })
    expect(existsSync(join(dir, 'pds.db'))).toBe(true)
  }, 600_000) // about 15 separate processes, each opening the data dir: slow on a loaded machine
})

// `p2pds backup` and friends as a user runs them (separate processes), against the real local
// network; hostile answers come from a TAMPERING PROXY in front of the real PLC + PDS.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyRepoCar } from '@atproto/repo'
import BetterSqlite3 from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AccountDto, SyncResultDto, VerificationDto } from '../core/api.js'
import { createIdentityResolver, identityResolverInit } from '../core/identity/index.js'
import { mulberry32 } from '../core/replication/verify.js'
import { checkBlock } from '../core/storage/cid.js'
import { createAccount, populateAccount, type PopulatedAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { startTamperingProxy, type TamperingProxy, type TamperMode } from '../core/testing/tampering-proxy.js'
import { requireBuild, runCli } from './helpers.js'

let net: TestNetwork
let proxy: TamperingProxy
let alice: TestAccount
let bob: TestAccount
let aliceContent: PopulatedAccount
let signingKey: string
const dirs: string[] = []

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pds-e2e-backup-'))
  dirs.push(d)
  return d
}

/** The node's environment: PLC through the tampering proxy, so PDS requests go through it too. */
function env(): NodeJS.ProcessEnv {
  return { ...net.env, PLC_URL: proxy.url }
}

async function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = runCli(args, env())
  const code = await p.exited
  return { code, out: p.stdout(), err: p.stderr() }
}

/** Every table that holds backed-up data, as rows, for before/after comparison. */
function dump(dataDir: string): Record<string, unknown[]> {
  const db = new BetterSqlite3(join(dataDir, 'pds.db'), { readonly: true })
  try {
    const out: Record<string, unknown[]> = {}
    for (const table of ['blocks', 'block_refs', 'commits', 'records', 'blobs']) {
      out[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all()
    }
    out.heads = db.prepare('SELECT did, head_cid, head_rev FROM accounts ORDER BY did').all()
    return out
  } finally {
    db.close()
  }
}

/**
 * Opens a database a killed process left (read-only), checks SQLite's integrity, and says how far
 * the backup had come.
 */
function inspectKilled(dataDir: string): string {
  let db: BetterSqlite3.Database
  try {
    db = new BetterSqlite3(join(dataDir, 'pds.db'), { readonly: true, fileMustExist: true })
  } catch {
    return 'no-database'
  }
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(db.pragma('foreign_key_check')).toEqual([])
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'accounts'").all()
    if (tables.length === 0) return 'empty-database'
    const account = db.prepare('SELECT head_cid FROM accounts').get() as { head_cid: string | null } | undefined
    if (account === undefined) return 'no-account'
    if (account.head_cid === null) return 'account-without-head'
    const pending = db.prepare("SELECT count(*) AS n FROM blobs WHERE state != 'stored'").get() as { n: number }
    const all = db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }
    return pending.n > 0 || all.n < aliceContent.blobs.length ? 'repo-without-all-blobs' : 'complete'
  } finally {
    db.close()
  }
}

/** Re-hashes every stored block (repo blocks and blobs) against its CID. */
function checkAllBlocks(dataDir: string): { corrupt: number } {
  const db = new BetterSqlite3(join(dataDir, 'pds.db'), { readonly: true })
  try {
    let corrupt = 0
    for (const row of db.prepare('SELECT cid, bytes FROM blocks').iterate() as Iterable<{ cid: string; bytes: Buffer }>) {
      if (checkBlock(row.cid, new Uint8Array(row.bytes)) !== null) corrupt++
    }
    return { corrupt }
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  requireBuild()
  net = await startTestNetwork()
  proxy = await startTamperingProxy({ pdsUrl: net.pdsUrl, plcUrl: net.plcUrl })
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  bob = await createAccount(net, { handle: `bob${net.handleDomain}` })
  aliceContent = await populateAccount(alice, { profile: true, posts: 40, imagePosts: 6, imagesPerPost: 2, threadReplies: 4, imageSize: { width: 300, height: 200 } })
  await populateAccount(bob, { posts: 60, threadReplies: 10 })
  signingKey = (await createIdentityResolver(identityResolverInit({ plcUrl: net.plcUrl, handleResolverUrl: net.pdsUrl, allowPrivateNetwork: true })).resolve(alice.did)).signingKey
}, 120_000)

afterAll(async () => {
  await proxy?.close()
  await net?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('p2pds backup', () => {
  it('backs up an account by handle; export, ls, accounts and verify work on the copy', async () => {
    const dir = tempDir()
    const r = await cli(['backup', alice.handle, '--data-dir', dir, '--json'])
    expect(r.code, r.err).toBe(0)
    const result = JSON.parse(r.out) as SyncResultDto
    expect(result).toMatchObject({ did: alice.did, kind: 'full', blobsFetched: aliceContent.blobs.length, blobsFailed: 0 })

    const car = join(dir, 'alice.car')
    expect((await cli(['export', alice.handle, '--out', car, '--data-dir', dir])).code).toBe(0)
    const verified = await verifyRepoCar(new Uint8Array(readFileSync(car)), alice.did, signingKey)
    const accounts = JSON.parse((await cli(['accounts', '--json', '--data-dir', dir])).out) as AccountDto[]
    expect(accounts).toHaveLength(1)
    expect(verified.creates).toHaveLength(accounts[0]!.records)
    expect(accounts[0]!.blobs).toEqual({ stored: aliceContent.blobs.length, missing: 0, failed: 0 })

    const posts = JSON.parse((await cli(['ls', alice.did, 'app.bsky.feed.post', '--json', '--data-dir', dir])).out) as unknown[]
    expect(posts).toHaveLength(aliceContent.posts.length + aliceContent.replies.length)
    const human = await cli(['ls', alice.handle, '--data-dir', dir])
    expect(human.out).toMatch(/^COLLECTION\s+RECORDS\n/)

    const blobsDir = join(dir, 'blobs')
    expect((await cli(['export-blobs', alice.did, '--out', blobsDir, '--data-dir', dir])).code).toBe(0)
    const manifest = JSON.parse(readFileSync(join(blobsDir, 'manifest.json'), 'utf8')) as { blobs: Array<{ cid: string; file: string }> }
    for (const b of aliceContent.blobs) {
      const entry = manifest.blobs.find((m) => m.cid === b.cid)!
      expect(readFileSync(join(blobsDir, entry.file)).equals(Buffer.from(b.bytes))).toBe(true)
    }

    const v = await cli(['verify', alice.handle, '--json', '--data-dir', dir])
    expect(v.code).toBe(0)
    expect((JSON.parse(v.out) as VerificationDto[]).map((x) => [x.level, x.ok])).toEqual([['L0', true], ['L1', true]])

    const again = await cli(['backup', alice.did, '--data-dir', dir, '--json'])
    expect((JSON.parse(again.out) as SyncResultDto).kind).toBe('none')
  }, 180_000)

  it('a second backup after new posts transfers only the new blocks (bytes on the wire)', async () => {
    const dir = tempDir()
    proxy.getRepoBytes.clear()
    expect((await cli(['backup', bob.handle, '--data-dir', dir])).code).toBe(0)
    const full = proxy.getRepoBytes.get(bob.did)!
    await populateAccount(bob, { posts: 1, seed: 4242 })
    proxy.getRepoBytes.clear()
    const r = await cli(['backup', bob.handle, '--data-dir', dir, '--json'])
    expect((JSON.parse(r.out) as SyncResultDto).kind).toBe('incremental')
    const incremental = proxy.getRepoBytes.get(bob.did)!
    expect(proxy.getRepoRequests.at(-1)?.since).not.toBeNull()
    // One post adds a commit, a record and a few MST nodes: a small fraction of the whole repo.
    expect(incremental).toBeLessThan(full / 3)
  })

  const cases: Array<[TamperMode, RegExp]> = [
    ['truncate', /truncated|ended|broke off|incomplete/i],
    ['corrupt-block', /hash|does not match/i],
    ['bad-signature', /signature/i],
    ['other-did', /did/i],
    ['replay-old', /rev|older|forward|backward/i],
  ]
  it('survives SIGKILL at 20 random points of a sync and finishes on the next start', { timeout: 600_000 }, async () => {
    // How long a whole backup takes here, start-up included.
    const probe = tempDir()
    const t0 = Date.now()
    expect((await cli(['backup', alice.did, '--data-dir', probe])).code).toBe(0)
    const whole = Date.now() - t0
    const random = mulberry32(20_261_129)
    const states: string[] = []
    for (let i = 0; i < 20; i++) {
      const dir = tempDir()
      const p = runCli(['backup', alice.did, '--data-dir', dir], env())
      // Start-up takes a good part of a run; aim most kills at the sync itself.
      await new Promise((r) => setTimeout(r, whole * (0.25 + 0.75 * random())))
      p.child.kill('SIGKILL')
      await p.exited
      states.push(inspectKilled(dir))
      const next = await cli(['backup', alice.did, '--data-dir', dir, '--json'])
      expect(next.code, next.err).toBe(0)
      const after = dump(dir)
      expect(after.blobs!.every((b) => (b as { state: string }).state === 'stored')).toBe(true)
      expect(after.blobs).toHaveLength(aliceContent.blobs.length)
      expect(checkAllBlocks(dir)).toEqual({ corrupt: 0 })
    }
    // The kills landed at different points: before the database existed, mid-repo, mid-blobs, after.
    expect(new Set(states).size, states.join(', ')).toBeGreaterThanOrEqual(2)
    expect(states.filter((s) => s === 'repo-without-all-blobs' || s === 'account-without-head').length, states.join(', ')).toBeGreaterThanOrEqual(1)
  })

  it.each(cases)('refuses a tampered repo (%s) with a clear error and stores nothing', async (mode, message) => {
    const dir = tempDir()
    expect((await cli(['backup', alice.did, '--data-dir', dir])).code).toBe(0)
    // A newer commit, so that replaying the old full CAR goes backwards.
    await populateAccount(alice, { posts: 1, seed: 7000 + cases.findIndex((c) => c[0] === mode) })
    const before = dump(dir)
    proxy.mode = mode
    proxy.otherDid = bob.did
    try {
      const r = await cli(['backup', alice.did, '--data-dir', dir])
      expect(r.code).toBe(1)
      expect(r.err).toMatch(/^p2pds: /)
      expect(r.err).toMatch(message)
      expect(r.err.trim().split('\n')).toHaveLength(1)
      expect(r.err).not.toMatch(/\n\s+at /) // no stack trace
    } finally {
      proxy.mode = null
    }
    expect(dump(dir)).toEqual(before)
    // The previous good copy is intact and the next honest sync completes.
    const ok = await cli(['backup', alice.did, '--data-dir', dir, '--json'])
    expect(ok.code, ok.err).toBe(0)
  })
})

// `p2pds serve` following the real local PDS's firehose as its own process, killed with SIGKILL
// while commits stream in, then started again: it resumes from the cursor saved with the last
// commit it stored, so every commit is stored once (no gap, no duplicate) and no resync is needed.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peekFrame, decodeFrame } from '../core/replication/firehose-frame.js'
import { pdsRecords } from '../core/replication/test-helpers.js'
import { createAccount, populateAccount, type TestAccount } from '../core/testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../core/testing/network.js'
import { requireBuild, runCli, type CliProcess } from './helpers.js'

let net: TestNetwork
let alice: TestAccount
const dirs: string[] = []

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: 'alice' })
  await populateAccount(alice, { posts: 2, seed: 11 })
}, 120_000)
afterAll(async () => {
  await net?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function env(): NodeJS.ProcessEnv {
  // A day between periodic syncs: only the firehose moves the copy during the test.
  return { ...net.env, SYNC_INTERVAL_SEC: '86400', IPFS_ENABLED: 'false' }
}

function query<T>(dir: string, sql: string, ...params: unknown[]): T[] {
  const db = new BetterSqlite3(join(dir, 'pds.db'), { readonly: true, fileMustExist: true })
  try {
    return db.prepare(sql).all(...params) as T[]
  } finally {
    db.close()
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Alice's commits the PDS sequenced, as {seq, rev}, oldest first. */
async function pdsCommits(): Promise<Array<{ seq: number; rev: string }>> {
  const out: Array<{ seq: number; rev: string }> = []
  const ws = new WebSocket(`${net.env.FIREHOSE_URL}?cursor=0`)
  await new Promise<void>((resolve, reject) => {
    let timer = setTimeout(() => ws.close(), 3000)
    ws.on('message', (d: Buffer) => {
      const f = new Uint8Array(d)
      const p = peekFrame(f)
      if (p.t === '#commit' && p.did === alice.did) out.push({ seq: p.seq!, rev: decodeFrame(f).body.rev as string })
      clearTimeout(timer)
      timer = setTimeout(() => ws.close(), 400)
    })
    ws.on('close', () => resolve())
    ws.on('error', reject)
  })
  return out
}

/** `p2pds serve` as its own process, once it printed its UI link (start-up is slow on a busy machine). */
async function serve(dir: string): Promise<CliProcess> {
  const p = runCli(['serve', '--data-dir', dir, '--port', '0'], env())
  try {
    await p.waitFor(/UI:\s+http:\/\/127\.0\.0\.1:\d+/, 90_000)
    return p
  } catch (err) {
    if (p.child.exitCode === null) p.child.kill('SIGKILL')
    await p.exited
    throw err
  }
}

async function stop(p: CliProcess): Promise<void> {
  p.child.kill('SIGTERM')
  await p.exited
}

describe('the firehose across a SIGKILL', () => {
  it('resumes from the saved cursor: every commit stored once, none missing, no resync', { timeout: 240_000 }, async () => {
    requireBuild()
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-firehose-'))
    dirs.push(dir)
    let ui = await serve(dir)
    const backup = runCli(['backup', alice.did, '--data-dir', dir, '--json'], env())
    expect(await backup.exited, backup.stderr()).toBe(0)
    const baseRev = (JSON.parse(backup.stdout()) as { rev: string }).rev
    const status = runCli(['status', '--json', '--data-dir', dir], env())
    expect(await status.exited).toBe(0)
    const s = JSON.parse(status.stdout()) as { sync: { firehose: { enabled: boolean }; live: Array<{ did: string; state: string }> } }
    expect(s.sync.firehose.enabled).toBe(true)
    expect(s.sync.live.find((l) => l.did === alice.did)).toBeDefined()

    // Commits stream in; the node is killed after it stored a few, while more keep coming.
    const total = 30
    let written = 0
    const writer = (async () => {
      for (let i = 0; i < total; i++) {
        await alice.agent.com.atproto.repo.createRecord({
          repo: alice.did,
          collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text: `streamed ${i}`, createdAt: new Date().toISOString() },
        })
        written++
        await new Promise((r) => setTimeout(r, 60))
      }
    })()
    const applied = () => query<{ n: number }>(dir, 'SELECT events_applied AS n FROM live_state WHERE did = ?', alice.did)[0]?.n ?? 0
    await until('a few commits stored from the stream', () => applied() >= 5)
    ui.child.kill('SIGKILL')
    await ui.exited
    const atKill = applied()
    expect(atKill).toBeLessThan(total)
    expect(query<{ integrity_check: string }>(dir, 'PRAGMA integrity_check')[0]!.integrity_check).toBe('ok')
    await until('more commits written while the node is down', () => written >= Math.min(total, atKill + 5))

    ui = await serve(dir)
    await writer
    const remote = await pdsRecords(net.pdsUrl, alice.did)
    await until('the copy to match the PDS', () => query<{ n: number }>(dir, 'SELECT count(*) AS n FROM records WHERE did = ?', alice.did)[0]!.n === remote.size)
    await stop(ui)

    const commits = (await pdsCommits()).filter((c) => c.rev > baseRev)
    expect(commits).toHaveLength(total)
    const local = query<{ rev: string }>(dir, 'SELECT rev FROM commits WHERE did = ? AND rev > ? ORDER BY rev', alice.did, baseRev).map((r) => r.rev)
    // No gap: every commit the PDS made is kept (a resync would have stored only the last); no duplicate.
    expect(local).toEqual(commits.map((c) => c.rev).sort())
    expect(applied()).toBe(total)
    const live = query<{ resync_reason: string | null; error: string | null }>(dir, 'SELECT resync_reason, error FROM live_state WHERE did = ?', alice.did)[0]!
    expect(live).toEqual({ resync_reason: null, error: null })
    const cursor = query<{ seq: number }>(dir, 'SELECT seq FROM firehose_cursors')[0]!.seq
    expect(cursor).toBeGreaterThanOrEqual(commits.at(-1)!.seq)
    const head = query<{ head_rev: string }>(dir, 'SELECT head_rev FROM accounts WHERE did = ?', alice.did)[0]!.head_rev
    expect(head).toBe(commits.at(-1)!.rev)
  })
})

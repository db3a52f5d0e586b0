// The PLC mirror of real nodes against the real local atproto network (PLC + PDS): a held
// account's audit log is mirrored, validated and served by getLog; a handle change adds an
// operation; invalid or truncated logs are refused and the good copy stays; when the directory is
// down the log comes from a peer node's getLog.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Lexicons } from '@atproto/lexicon'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { PlcLogStatusDto } from '../api.js'
import { main } from '../cli.js'
import { loadConfig } from '../config.js'
import { loadLexicons } from '../lexicons.js'
import { createNode, type P2pdsNode, type P2pdsNodeInit } from '../node.js'
import { createAccount, type TestAccount } from '../testing/builders.js'
import { readJsonFixture } from '../testing/fixtures.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { openDatabase } from '../storage/database.js'
import { migrate } from '../storage/migrations.js'
import type { PlcAuditEntry } from './plc-log.js'
import { PlcMirror } from './plc-mirror.js'

let net: TestNetwork
let alice: TestAccount
let proxy: PlcProxy
const dirs: string[] = []
const nodes: P2pdsNode[] = []

beforeAll(async () => {
  net = await startTestNetwork()
  alice = await createAccount(net, { handle: `alice${net.handleDomain}` })
  proxy = await startPlcProxy(net.plcUrl)
}, 120_000)

afterEach(async () => {
  proxy.mode = 'pass'
  for (const n of nodes.splice(0)) await n.stop()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

afterAll(async () => {
  await proxy?.close()
  await net?.close()
})

/**
 * A PLC PROXY placed in front of the real local PLC directory: a stand-in for a directory that is
 * down or serves a tampered audit log, which the real one cannot be made to do. Everything else
 * (DID documents, operations) passes through unchanged.
 */
interface PlcProxy {
  readonly url: string
  /** 'pass': unchanged; 'down': audit logs answer 503; 'rewrite': audit logs go through `rewrite`. */
  mode: 'pass' | 'down' | 'rewrite'
  rewrite: (log: PlcAuditEntry[]) => unknown
  close(): Promise<void>
}

async function startPlcProxy(plcUrl: string): Promise<PlcProxy> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/'
      if (path.endsWith('/log/audit') && proxy.mode === 'down') {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"down"}')
        return
      }
      const upstream = await fetch(plcUrl + path)
      let body = await upstream.text()
      if (path.endsWith('/log/audit') && proxy.mode === 'rewrite' && upstream.ok) body = JSON.stringify(p.rewrite(JSON.parse(body) as PlcAuditEntry[]))
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body)
    })().catch(() => res.writeHead(502).end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const p: PlcProxy = {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    mode: 'pass',
    rewrite: (log) => log,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return p
}

async function startNode(env: Record<string, string> = {}, init: Partial<P2pdsNodeInit> = {}): Promise<P2pdsNode> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-plc-'))
  dirs.push(dir)
  const config = loadConfig({ env: { ...net.env, DATA_DIR: dir, PORT: '0', ...env }, cwd: dir })
  const node = await createNode({ config, host: 'test', listen: true, schedule: { intervalMs: 3_600_000 }, ...init })
  nodes.push(node)
  await node.start()
  return node
}

/** Resolves with the next `plc:changed` of `did`. */
function nextPlc(node: P2pdsNode, did: string): Promise<PlcLogStatusDto> {
  return new Promise((resolve) => {
    const off = node.on('plc:changed', (s) => {
      if (s.did !== did) return
      off()
      resolve(s)
    })
  })
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function directoryLog(did: string): Promise<PlcAuditEntry[]> {
  return (await (await fetch(`${net.plcUrl}/${did}/log/audit`)).json()) as PlcAuditEntry[]
}

async function addAndMirror(node: P2pdsNode, did: string): Promise<PlcLogStatusDto> {
  const mirrored = nextPlc(node, did)
  await node.api.accounts.add({ handleOrDid: did })
  return mirrored
}

describe('PLC mirror (real local network)', () => {
  it('mirrors a held account’s log when it is added, validates it, and serves it by getLog', async () => {
    const node = await startNode()
    const status = await addAndMirror(node, alice.did)
    const log = await directoryLog(alice.did)
    expect(status).toMatchObject({ did: alice.did, validation: 'valid', error: null, operations: log.length, tombstoned: false, source: net.plcUrl })
    expect(status.document?.pdsUrl).toBe(net.pdsUrl)
    expect(status.document?.alsoKnownAs).toContain(`at://${alice.handle}`)
    expect(status.document?.rotationKeys.length).toBeGreaterThan(0)
    expect((await node.api.plc.getLog({ did: alice.did })).log).toEqual(log)
    expect(await node.api.plc.list()).toEqual([status])

    const peer = (await node.api.node.status()).listeners.peer!
    const res = await fetch(`${peer}/xrpc/org.p2pds.plc.getLog?did=${alice.did}`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as { did: string; log: unknown; fetchedAt: string }
    expect(body).toEqual({ did: alice.did, log, fetchedAt: status.lastFetchAt })
    const set = loadLexicons()
    new Lexicons([structuredClone(set.doc('org.p2pds.plc.getLog')!)]).assertValidXrpcOutput('org.p2pds.plc.getLog', body)
    const bad = await fetch(`${peer}/xrpc/org.p2pds.plc.getLog?did=did:web:example.com`)
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: 'InvalidRequest' })
    const unknown = await fetch(`${peer}/xrpc/org.p2pds.plc.getLog?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa`)
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ error: 'LogNotFound' })

    // Removing the account drops its log.
    await node.api.accounts.remove({ did: alice.did })
    expect((await fetch(`${peer}/xrpc/org.p2pds.plc.getLog?did=${alice.did}`)).status).toBe(404)
    await expect(node.api.plc.getLog({ did: alice.did })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_ACCOUNT' })
  })

  it('adds the operation of a handle change on refresh', async () => {
    const bob = await createAccount(net, { handle: `bob${net.handleDomain}` })
    const node = await startNode()
    const before = await addAndMirror(node, bob.did)
    await bob.agent.com.atproto.identity.updateHandle({ handle: `bobby${net.handleDomain}` })
    const after = await node.api.plc.refresh({ did: bob.did })
    expect(after.validation).toBe('valid')
    expect(after.operations).toBe(before.operations + 1)
    expect(after.document?.alsoKnownAs).toEqual([`at://bobby${net.handleDomain}`])
    expect((await node.api.plc.getLog({ did: bob.did })).log).toEqual(await directoryLog(bob.did))
  })

  it('refuses an invalid or truncated log from the directory and keeps the good copy', async () => {
    const node = await startNode({ PLC_URL: proxy.url })
    const good = await addAndMirror(node, alice.did)
    expect(good.validation).toBe('valid')
    const held = (await node.api.plc.getLog({ did: alice.did })).log

    // An operation changed in transit: its CID no longer matches.
    proxy.mode = 'rewrite'
    proxy.rewrite = (log) => log.map((e, i) => (i === 0 ? { ...e, operation: { ...e.operation, alsoKnownAs: ['at://mallory.test'] } } : e))
    const tampered = await node.api.plc.refresh({ did: alice.did })
    expect(tampered).toMatchObject({ validation: 'invalid', operations: good.operations, lastFetchAt: good.lastFetchAt, source: good.source })
    expect(tampered.error).toMatchObject({ code: 'ERR_PLC_LOG_INVALID', message: expect.stringMatching(/hashes to/) })
    expect((await node.api.plc.getLog({ did: alice.did })).log).toEqual(held)

    // An upstream invalid fixture served under this DID (another DID's entries).
    proxy.rewrite = () => readJsonFixture('did-method-plc/interop_tests/audit_log/invalid/log_invalid_sig_k256_high_s.json')
    expect((await node.api.plc.refresh({ did: alice.did })).validation).toBe('invalid')

    // A valid prefix of the log, once more operations are held: history dropped.
    await alice.agent.com.atproto.identity.updateHandle({ handle: alice.handle })
    proxy.mode = 'pass'
    const longer = await node.api.plc.refresh({ did: alice.did })
    expect(longer.operations).toBe(good.operations + 1)
    proxy.mode = 'rewrite'
    proxy.rewrite = (log) => log.slice(0, -1)
    const truncated = await node.api.plc.refresh({ did: alice.did })
    expect(truncated).toMatchObject({ validation: 'invalid', operations: longer.operations })
    expect(truncated.error?.message).toMatch(/lacks 1 operation/)

    // Valid again once the directory is.
    proxy.mode = 'pass'
    expect(await node.api.plc.refresh({ did: alice.did })).toMatchObject({ validation: 'valid', error: null, operations: longer.operations })
  })

  it('fetches the log from a peer’s getLog when the directory is down, and refuses a peer’s tampered log', async () => {
    const a = await startNode()
    await addAndMirror(a, alice.did)
    const aPeer = (await a.api.node.status()).listeners.peer!.replace('127.0.0.1', 'localhost')

    // A second node whose directory is the proxy; its peers are A, then a dead endpoint.
    const peers = ['http://localhost:9/', aPeer]
    const b = await startNode({ PLC_URL: proxy.url }, { plcPeerEndpoints: () => peers })
    proxy.mode = 'down'
    const fromPeer = await addAndMirror(b, alice.did)
    expect(fromPeer).toMatchObject({ validation: 'valid', source: aPeer, operations: (await directoryLog(alice.did)).length })
    expect((await b.api.plc.getLog({ did: alice.did })).log).toEqual(await directoryLog(alice.did))

    // No source answers: unavailable, the copy kept.
    peers.splice(0)
    const down = await b.api.plc.refresh({ did: alice.did })
    expect(down).toMatchObject({ validation: 'unavailable', operations: fromPeer.operations, source: aPeer })
    expect(down.error).toMatchObject({ code: 'ERR_PLC_LOG_UNAVAILABLE' })
    expect(down.error?.message).toMatch(/no peer is known/)

    // A peer that serves a tampered log (the tampered copy sits on a fake peer): refused.
    const fakePeer = createServer((_req, res) => {
      void directoryLog(alice.did).then((log) => {
        log[0]!.operation.alsoKnownAs = ['at://mallory.test']
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ did: alice.did, log }))
      })
    })
    await new Promise<void>((resolve) => fakePeer.listen(0, '127.0.0.1', resolve))
    try {
      peers.push(`http://localhost:${(fakePeer.address() as AddressInfo).port}`)
      const refused = await b.api.plc.refresh({ did: alice.did })
      expect(refused).toMatchObject({ validation: 'unavailable', source: aPeer })
      expect(refused.error?.message).toMatch(/invalid log/)
    } finally {
      fakePeer.closeAllConnections()
      await new Promise<void>((resolve) => fakePeer.close(() => resolve()))
    }
  })

  it('PlcMirror refreshes every refreshIntervalMs by itself; an aborted refresh rejects', async () => {
    const carol = await createAccount(net, { handle: `carol${net.handleDomain}` })
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-plc-'))
    dirs.push(dir)
    const db = openDatabase(join(dir, 'pds.db'))
    migrate(db)
    db.prepare('INSERT INTO accounts (did, pds_url, signing_key, added_at) VALUES (?, ?, ?, ?)').run(carol.did, net.pdsUrl, 'did:key:z', Date.now())
    const seen: PlcLogStatusDto[] = []
    const mirror = new PlcMirror({ db, plcUrl: net.plcUrl, allowPrivateNetwork: true, refreshIntervalMs: 200, onChanged: (s) => seen.push(s) })
    try {
      const ac = new AbortController()
      ac.abort()
      await expect(mirror.refresh(carol.did, { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      expect(mirror.status(carol.did).validation).toBe('pending')
      await expect(mirror.refresh('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_ACCOUNT' })

      mirror.start()
      await until(() => seen.some((s) => s.validation === 'valid'), 'the first refresh')
      const ops = seen.at(-1)!.operations
      await carol.agent.com.atproto.identity.updateHandle({ handle: `caroline${net.handleDomain}` })
      await until(() => seen.some((s) => s.operations === ops + 1), 'a periodic refresh with the new operation')
      expect(mirror.status(carol.did).document?.alsoKnownAs).toEqual([`at://caroline${net.handleDomain}`])
    } finally {
      await mirror.stop()
      db.close()
    }
  })

  it('p2pds plc-log prints the mirrored log (--json: the plc.getLog DTO); bad input exits 2', async () => {
    const node = await startNode()
    await addAndMirror(node, alice.did)
    const dir = node.config.dataDir
    let out = ''
    const io = { out: (t: string) => void (out += t), err: () => undefined }
    expect(await main(['plc-log', alice.did, '--json', '--data-dir', dir], io)).toBe(0)
    expect(JSON.parse(out)).toEqual(await node.api.plc.getLog({ did: alice.did }))
    out = ''
    expect(await main(['plc-log', alice.did, '--data-dir', dir], io)).toBe(0)
    expect(out).toMatch(/valid/)
    expect(out).toContain(`at://${alice.handle}`)
    expect(await main(['plc-log', '--data-dir', dir], io)).toBe(2)
  })
})

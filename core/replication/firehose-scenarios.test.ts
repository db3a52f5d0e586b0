/**
 * The upstream relay scenarios (indigo `cmd/relay/testing/testdata`) and real firehose frames
 * (indigo `atproto/repo/testdata`), fed to the real frame handler over a real SQLite database.
 * A frame the relay must drop is refused or dropped here; every other frame is taken (stored,
 * kept for a resync, or recorded). The accounts' identities come from the scenario files: a
 * stand-in for plc.directory, which cannot be reached from here.
 */
import { readdirSync } from 'node:fs'
import { encode } from '@atproto/lex-cbor'
import { jsonToLex } from '@atproto/lex-json'
import { afterEach, describe, expect, it } from 'vitest'
import type { ResolvedIdentity } from '../identity/types.js'
import { openTempStorage, type TempStorage } from '../storage/test-helpers.js'
import { fixturePath, readJsonFixture } from '../testing/fixtures.js'
import { decodeFrame, peekFrame, toCommitEvent } from './firehose-frame.js'
import { FirehoseHandler, type FrameResult } from './firehose-handler.js'
import { FirehoseStore } from './firehose-store.js'

interface Scenario {
  lenient: boolean
  accounts: Array<{
    identity: { did: string; handle: string; services: { atproto_pds: { url: string } }; keys: { atproto: { publicKeyMultibase: string } } }
    status: string
  }>
  messages: Array<{ frame: { header: { op: number; t: string }; body: Record<string, unknown> }; drop: boolean; invalid: boolean; update: boolean }>
}

const SCENARIO_DIR = 'indigo/cmd/relay/testing/testdata'
const TAKEN: FrameResult[] = ['applied', 'resync', 'buffered', 'recorded']
const DROPPED: FrameResult[] = ['rejected', 'dropped', 'out-of-order', 'duplicate']

/** A frame as a subscribeRepos server sends it: header and body, DAG-CBOR, back to back. */
function frameBytes(header: Record<string, unknown>, body: Record<string, unknown>): Uint8Array {
  return Buffer.concat([encode(jsonToLex(header as never)), encode(jsonToLex(body as never))])
}

let storage: TempStorage | undefined
afterEach(() => {
  storage?.close()
  storage = undefined
})

function handlerFor(scenario: Scenario) {
  storage = openTempStorage()
  const identities = new Map<string, ResolvedIdentity>()
  for (const a of scenario.accounts) {
    const id = a.identity
    identities.set(id.did, {
      did: id.did,
      handle: id.handle,
      handleProblem: null,
      pdsUrl: id.services.atproto_pds.url,
      signingKey: `did:key:${id.keys.atproto.publicKeyMultibase}`,
      didDoc: {},
    })
  }
  const resyncs: string[] = []
  const store = new FirehoseStore({ db: storage.db, repos: storage.repos })
  const handler = new FirehoseHandler({
    url: 'wss://relay.example/xrpc/com.atproto.sync.subscribeRepos',
    storage,
    store,
    resolve: async (did) => identities.get(did)!,
    isHeld: (did) => identities.has(did),
    isPaused: () => false,
    requestResync: (did) => resyncs.push(did),
  })
  return { handler, store, identities, resyncs, storage }
}

describe('relay scenarios from indigo', () => {
  const files = readdirSync(fixturePath(SCENARIO_DIR)).filter((f) => f.endsWith('.json'))

  it('finds the seven scenarios', () => {
    expect(files.sort()).toEqual(['account_lifecycle.json', 'deactivation.json', 'legacy.json', 'post_lifecycle.json', 'post_lifecycle_legacy.json', 'rev_ordering.json', 'seq_ordering.json'])
  })

  it.each(files)('%s: every frame is dropped or taken as the relay expects', async (file) => {
    const scenario = readJsonFixture<Scenario>(`${SCENARIO_DIR}/${file}`)
    const { handler, store, identities, storage } = handlerFor(scenario)
    for (const [did, id] of identities) await storage.repos.upsertAccount({ did, handle: id.handle, pdsUrl: id.pdsUrl, signingKey: id.signingKey })
    for (const [i, m] of scenario.messages.entries()) {
      const did = (m.frame.body.repo ?? m.frame.body.did) as string
      const statusBefore = store.row(did)?.status ?? 'active'
      const outcome = await handler.handle(frameBytes(m.frame.header, m.frame.body))
      const where = `${file} message ${i} (${m.frame.header.t} seq ${String(m.frame.body.seq)}): ${outcome.result} ${outcome.reason ?? ''}`
      if (m.drop) expect(DROPPED, where).toContain(outcome.result)
      else expect(TAKEN, where).toContain(outcome.result)
      // Nothing in these scenarios is invalid: a frame taken is never one refused as invalid.
      if (!m.invalid) expect(outcome.result, where).not.toBe('bad-frame')
      if (m.update && m.frame.header.t === '#account') expect(store.row(did)?.status, where).not.toBe(statusBefore)
    }
    // No stored data came from frames that could only be checked, not applied (no local head).
    expect((await storage.repos.getAccount(scenario.accounts[0]!.identity.did))?.head).toBeNull()
  })

  it('post_lifecycle: a commit whose inductive proof is broken, or signed by another key, is refused', async () => {
    const scenario = readJsonFixture<Scenario>(`${SCENARIO_DIR}/post_lifecycle.json`)
    const { handler, identities, storage } = handlerFor(scenario)
    for (const [did, id] of identities) await storage.repos.upsertAccount({ did, handle: id.handle, pdsUrl: id.pdsUrl, signingKey: id.signingKey })
    const [first, second] = scenario.messages
    const wrongPrev = { ...second!.frame.body, seq: 99_999_999, prevData: first!.frame.body.commit }
    expect((await handler.handle(frameBytes(first!.frame.header, first!.frame.body))).result).toBe('resync')
    const broken = await handler.handle(frameBytes(second!.frame.header, wrongPrev))
    expect(broken.result).toBe('rejected')
    expect(broken.reason).toMatch(/inductive proof/)
    // Signed by another key: the key is resolved afresh once (still the same) and the frame refused.
    const id = identities.get(scenario.accounts[0]!.identity.did)!
    await storage.repos.upsertAccount({ did: id.did, handle: id.handle, pdsUrl: id.pdsUrl, signingKey: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' })
    identities.set(id.did, { ...id, signingKey: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' })
    const third = scenario.messages[2]!
    const forged = await handler.handle(frameBytes(third.frame.header, { ...third.frame.body, seq: 100_000_000 }))
    expect(forged.result).toBe('rejected')
    expect(forged.reason).toMatch(/bad-signature/)
  })
})

describe('real #commit frames from indigo', () => {
  const seqs = ['4621317030', '4621317332', '4621332152', '4623075231']
  it.each(seqs)('firehose_commit_%s: peeked without decoding, then decoded whole', (seq) => {
    const body = readJsonFixture<Record<string, unknown>>(`indigo/atproto/repo/testdata/firehose_commit_${seq}.json`)
    const bytes = frameBytes({ op: 1, t: '#commit' }, body)
    const peek = peekFrame(bytes)
    expect(peek).toEqual({ op: 1, t: '#commit', seq: Number(seq), did: body.repo, time: body.time })
    const evt = toCommitEvent(decodeFrame(bytes).body)
    expect(evt.repo).toBe(body.repo)
    expect(evt.commit.toString()).toBe((body.commit as { $link: string }).$link)
    expect(evt.ops.length).toBe((body.ops as unknown[]).length)
    expect(evt.prevData).toBeUndefined()
  })

  it('a truncated frame fails to peek with a FrameFormatError, not a crash', () => {
    const body = readJsonFixture<Record<string, unknown>>('indigo/atproto/repo/testdata/firehose_commit_4621317030.json')
    const bytes = frameBytes({ op: 1, t: '#commit' }, body)
    expect(() => peekFrame(bytes.subarray(0, 10))).toThrow(/ends early|no body/)
    expect(() => decodeFrame(bytes.subarray(0, bytes.length - 5))).toThrow(/not valid DAG-CBOR|holds/)
  })
})

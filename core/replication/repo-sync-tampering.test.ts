import { Secp256k1Keypair, type Keypair } from '@atproto/crypto'
import { BlockMap, blocksToCarFile, readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import { decode, encode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid, type LexMap } from '@atproto/lex-data'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BlockHashMismatchError,
  CommitSignatureError,
  IncompleteRepoError,
  MalformedRepoError,
  PdsRequestError,
  RevNotForwardError,
  TruncatedCarError,
  WrongRepoDidError,
  type P2pdsError,
} from '../errors.js'
import { dumpTables, openTempStorage } from '../storage/test-helpers.js'
import type { AccountIdentity } from '../storage/types.js'
import { createAccount, populateAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { exportCar } from './export.js'
import type { FetchLike } from './pds-client.js'
import { syncRepo } from './repo-sync.js'
import { addLikes, addPosts, collectBytes, fetchRepoCar, resolveIdentity } from './test-helpers.js'

// Tampered inputs go through the real sync path: a TAMPERING PROXY (an injected fetch) sits in
// front of the real local PDS, fetches its real answer and alters it. Each case first makes a good
// backup, then asserts the tampered sync is rejected with a clear, coded error and that the
// database is byte-for-byte unchanged (the account row changes only by remembering the error).

let net: TestNetwork
let alice: TestAccount
let bob: TestAccount
let aliceId: AccountIdentity
/** Alice's repository before her latest posts (a good, older state). */
let olderCar: Buffer

beforeAll(async () => {
  net = await startTestNetwork()
  ;[alice, bob] = await Promise.all([createAccount(net, { handle: 'alice' }), createAccount(net, { handle: 'bob' })])
  const made = await populateAccount(alice, { profile: true, posts: 40, imagePosts: 3, seed: 100 })
  await addLikes(alice, 40, { uri: made.posts[0]!.uri, cid: made.posts[0]!.cid })
  await populateAccount(bob, { posts: 5, seed: 200 })
  olderCar = await fetchRepoCar(net.pdsUrl, alice.did)
  await addPosts(alice, 3, 'newer')
  aliceId = await resolveIdentity(net, alice.did)
})
afterAll(async () => {
  await net?.close()
})

/** Serves the same CAR for every getRepo request (a PDS frozen at an older state). */
const serving = (car: Uint8Array): FetchLike => tamperingProxy(async () => car)

/**
 * A tampering proxy in front of the real PDS: `getRepo` requests are answered by `alter`, which
 * gets the request URL and a way to fetch the real answer; every other request passes through.
 */
function tamperingProxy(alter: (url: URL, real: (url: URL) => Promise<Uint8Array>) => Promise<Uint8Array | Response>): FetchLike {
  return async (input, init) => {
    const url = new URL(String(input))
    if (!url.pathname.endsWith('/com.atproto.sync.getRepo')) return fetch(input, init)
    const real = async (u: URL) => new Uint8Array(await (await fetch(u, init)).arrayBuffer())
    const answer = await alter(url, real)
    return answer instanceof Response ? answer : new Response(answer as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-type': 'application/vnd.ipld.car' } })
  }
}

/** Byte offsets where each block section of a CAR starts, and the CAR's length at the end. */
function blockOffsets(car: Uint8Array): number[] {
  const varint = (at: number): [number, number] => {
    let value = 0
    let shift = 0
    let i = at
    for (;;) {
      const byte = car[i++]!
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return [value, i]
      shift += 7
    }
  }
  const [headerLength, afterVarint] = varint(0)
  const offsets: number[] = []
  let at = afterVarint + headerLength
  while (at < car.length) {
    offsets.push(at)
    const [length, start] = varint(at)
    at = start + length
  }
  offsets.push(car.length)
  return offsets
}

/** Rebuilds a CAR after `change` edits its blocks; `change` returns the new root, if any. */
async function rewriteCar(car: Uint8Array, change: (root: Cid, blocks: BlockMap) => Promise<Cid | void>): Promise<Uint8Array> {
  const { root, blocks } = await readCarWithRoot(car)
  const newRoot = (await change(root, blocks)) ?? root
  return blocksToCarFile(newRoot, blocks)
}

async function putObject(blocks: BlockMap, value: unknown): Promise<Cid> {
  const bytes = encode(value as never)
  const cid = await cidForCbor(bytes)
  blocks.set(cid, bytes)
  return cid
}

/** Replaces the commit, re-signed by `keypair` (or with `sig` as given), optionally with new fields. */
async function replaceCommit(root: Cid, blocks: BlockMap, sign: (unsigned: Uint8Array, commit: LexMap) => Promise<Uint8Array>, fields: Partial<LexMap> = {}) {
  const commit = decode(blocks.get(root)!) as LexMap
  const { sig: _sig, ...unsigned } = { ...commit, ...fields }
  const sig = await sign(encode(unsigned as never), commit)
  blocks.delete(root)
  return putObject(blocks, { ...unsigned, sig })
}

/** A record block of the CAR (a block decoding to a map with a `$type`). */
function someRecord(blocks: BlockMap, root: Cid): Cid {
  for (const [cid, bytes] of blocks) {
    if (cid.equals(root)) continue
    const value = decode(bytes) as { $type?: unknown }
    if (typeof value.$type === 'string') return cid
  }
  throw new Error('no record block in the CAR')
}

/** Reverses the first two keys of some bottom-layer MST node with 2+ keys, re-hashing up to the root. */
async function swapKeys(blocks: BlockMap, cid: Cid): Promise<Cid | null> {
  const node = decode(blocks.get(cid)!) as { l: Cid | null; e: Array<{ p: number; k: Uint8Array; v: Cid; t: Cid | null }> }
  const keys: string[] = []
  for (const e of node.e) keys.push((keys.at(-1) ?? '').slice(0, e.p) + Buffer.from(e.k).toString('latin1'))
  if (node.l === null && node.e.every((e) => e.t === null)) {
    if (node.e.length < 2) return null
    const order = [1, 0, ...node.e.slice(2).map((_, i) => i + 2)]
    let previous = ''
    const entries = order.map((i) => {
      const key = keys[i]!
      let p = 0
      while (p < previous.length && previous[p] === key[p]) p++
      previous = key
      return { p, k: new Uint8Array(Buffer.from(key.slice(p), 'latin1')), v: node.e[i]!.v, t: null }
    })
    return putObject(blocks, { l: null, e: entries })
  }
  if (node.l !== null && blocks.has(node.l)) {
    const swapped = await swapKeys(blocks, node.l)
    if (swapped !== null) return putObject(blocks, { ...node, l: swapped })
  }
  for (const entry of node.e) {
    if (entry.t === null || !blocks.has(entry.t)) continue
    const swapped = await swapKeys(blocks, entry.t)
    if (swapped !== null) return putObject(blocks, { ...node, e: node.e.map((e) => (e === entry ? { ...e, t: swapped } : e)) })
  }
  return null
}

interface TamperCase {
  name: string
  error: abstract new (...args: never[]) => P2pdsError
  code: string
  /** The good backup made first: the older state (so the PDS has something newer), or the current one. */
  base: 'older' | 'current'
  proxy: () => Promise<FetchLike>
}

const cases: TamperCase[] = [
  {
    name: 'a truncated CAR (cut inside its last block)',
    error: TruncatedCarError,
    code: 'ERR_CAR_TRUNCATED',
    base: 'older',
    proxy: async () =>
      tamperingProxy(async (url, real) => {
        const car = await real(url)
        const offsets = blockOffsets(car)
        return car.subarray(0, offsets.at(-2)! + 20)
      }),
  },
  {
    name: 'a record block whose bytes do not match its CID',
    error: BlockHashMismatchError,
    code: 'ERR_BLOCK_HASH_MISMATCH',
    base: 'older',
    proxy: async () =>
      tamperingProxy(async (url, real) =>
        rewriteCar(await real(url), async (root, blocks) => {
          const cid = someRecord(blocks, root)
          const bytes = blocks.get(cid)!.slice()
          bytes[bytes.length - 2]! ^= 0x20
          blocks.set(cid, bytes)
        }),
      ),
  },
  {
    name: 'a commit whose signature bytes were flipped',
    error: CommitSignatureError,
    code: 'ERR_COMMIT_SIGNATURE',
    base: 'older',
    proxy: async () =>
      tamperingProxy(async (url, real) =>
        rewriteCar(await real(url), (root, blocks) =>
          replaceCommit(root, blocks, async (_, commit) => {
            const sig = (commit.sig as Uint8Array).slice()
            sig[10]! ^= 0x01
            return sig
          }),
        ),
      ),
  },
  {
    name: 'a commit re-signed with another key',
    error: CommitSignatureError,
    code: 'ERR_COMMIT_SIGNATURE',
    base: 'older',
    proxy: async () => {
      const intruder = await Secp256k1Keypair.create()
      return tamperingProxy(async (url, real) => rewriteCar(await real(url), (root, blocks) => replaceCommit(root, blocks, (unsigned) => intruder.sign(unsigned))))
    },
  },
  {
    name: 'a commit for another DID (another account’s repository)',
    error: WrongRepoDidError,
    code: 'ERR_WRONG_REPO_DID',
    base: 'older',
    proxy: async () =>
      tamperingProxy(async (url, real) => {
        const other = new URL(url)
        other.searchParams.set('did', bob.did)
        other.searchParams.delete('since')
        return real(other)
      }),
  },
  {
    name: 'a rev that goes backwards (an older CAR served after a newer sync)',
    error: RevNotForwardError,
    code: 'ERR_REV_NOT_FORWARD',
    base: 'current',
    proxy: async () => serving(olderCar),
  },
  {
    name: 'a record block left out',
    error: IncompleteRepoError,
    code: 'ERR_REPO_INCOMPLETE',
    base: 'older',
    proxy: async () =>
      tamperingProxy(async (url, real) =>
        rewriteCar(await real(url), async (root, blocks) => {
          blocks.delete(someRecord(blocks, root))
        }),
      ),
  },
  {
    name: 'a validly signed commit whose MST has keys out of order',
    error: MalformedRepoError,
    code: 'ERR_MALFORMED_REPO',
    base: 'older',
    proxy: async () => {
      // The account's real signing key, from the PDS: only the tree is wrong.
      const keypair: Keypair = await net.pds.ctx.actorStore.keypair(alice.did)
      return tamperingProxy(async (url) => {
        const full = await fetchRepoCar(net.pdsUrl, alice.did)
        return rewriteCar(full, async (root, blocks) => {
          const commit = decode(blocks.get(root)!) as LexMap
          const data = await swapKeys(blocks, commit.data as Cid)
          if (data === null) throw new Error('no MST node with two keys to swap')
          void url
          return replaceCommit(root, blocks, (unsigned) => keypair.sign(unsigned), { data })
        })
      })
    },
  },
  {
    name: 'a network failure in the middle of the download',
    error: PdsRequestError,
    code: 'ERR_PDS_REQUEST',
    base: 'older',
    proxy: async () =>
      tamperingProxy(async (url, real) => {
        const car = await real(url)
        let sent = false
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (!sent) {
              sent = true
              controller.enqueue(car.subarray(0, Math.floor(car.length / 2)))
            } else {
              controller.error(new TypeError('terminated: other side closed'))
            }
          },
        })
        return new Response(body, { status: 200 })
      }),
  },
]

const DATA_TABLES = ['blocks', 'commits', 'block_refs', 'records', 'blobs', 'verifications'] as const

describe('tampered repositories are rejected, and the previous backup stays intact (tampering proxy in front of the real PDS)', () => {
  for (const c of cases) {
    for (const mode of ['auto', 'full'] as const) {
      it(`${c.name} — ${mode === 'auto' ? 'incremental' : 'full'} sync`, async () => {
        const s = openTempStorage()
        try {
          const good = await syncRepo(s, aliceId, c.base === 'older' ? { fetch: serving(olderCar) } : {})
          const tables = dumpTables(s.db, DATA_TABLES)
          const account = await s.repos.getAccount(alice.did)

          const error = await syncRepo(s, aliceId, { fetch: await c.proxy(), mode }).catch((e: unknown) => e)
          expect(error).toBeInstanceOf(c.error)
          expect(error).toMatchObject({ code: c.code })
          const message = (error as Error).message
          expect(message).toContain(alice.did)
          expect(message).toMatch(/Nothing was stored; the previous backup is unchanged\./)
          expect(message).not.toContain('\n')

          // Byte for byte: no table changed; the account only remembers the error.
          expect(dumpTables(s.db, DATA_TABLES)).toEqual(tables)
          const after = await s.repos.getAccount(alice.did)
          expect({ ...after, lastError: null }).toEqual({ ...account, lastError: null })
          expect(after?.lastError).toMatchObject({ code: c.code, message })

          // The backup is whole: it exports and verifies; an honest sync then succeeds.
          const car = await collectBytes((await exportCar(s, alice.did)).car)
          expect((await verifyRepoCar(car, alice.did, aliceId.signingKey)).commit.rev).toBe(good.rev)
          const honest = await syncRepo(s, aliceId)
          expect(honest.mode).toBe(c.base === 'older' ? 'diff' : 'unchanged')
          expect((await s.repos.getAccount(alice.did))?.lastError).toBeNull()
        } finally {
          s.close()
        }
      })
    }
  }
})

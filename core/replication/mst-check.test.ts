import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryBlockstore, MST, type BlockMap } from '@atproto/repo'
import { encode } from '@atproto/lex-cbor'
import { CBOR_DATA_CODEC, createCid, parseCid, SHA256_HASH_CODE, type Cid } from '@atproto/lex-data'
import { describe, expect, it } from 'vitest'
import { AbortError, IncompleteRepoError, MalformedRepoError } from '../errors.js'
import { sha256 } from '../storage/cid.js'
import { readRepoCar } from './car.js'
import { checkMst, isValidMstKey, keyLayer } from './mst-check.js'
import { fixturePath, readFixture, readJsonFixture } from '../testing/fixtures.js'

const DID = 'did:plc:test'

async function readMstCar(relative: string) {
  const car = await readRepoCar(DID, [readFixture(relative)])
  return { root: car.root, blocks: car.blocks }
}

const fromMap = (blocks: BlockMap) => (cid: Cid) => blocks.get(cid)

describe('MST key layers and keys (interop/mst)', () => {
  it('computes every layer in key_heights.json', () => {
    const cases = readJsonFixture<Array<{ key: string; height: number }>>('interop/mst/key_heights.json')
    expect(cases.length).toBeGreaterThan(5)
    for (const c of cases) expect(keyLayer(c.key), c.key).toBe(c.height)
  })

  it('accepts every key of example_keys.txt, with the layer its name claims', () => {
    const keys = readFixture('interop/mst/example_keys.txt').toString('utf8').split('\n').filter((k) => k !== '')
    expect(keys.length).toBe(156)
    for (const key of keys) {
      expect(isValidMstKey(key), key).toBe(true)
      expect(keyLayer(key), key).toBe(Number(key[1]))
    }
  })

  it('refuses keys that are not record paths', () => {
    for (const key of ['', 'nokey', 'a/b/c', '/b', 'a/', 'a/b c', 'a/é', `a/${'x'.repeat(1024)}`]) expect(isValidMstKey(key), key).toBe(false)
  })
})

describe('checkMst on the MST test suite trees (mst-test-suite/cars/exhaustive)', () => {
  const KEYS = ['k/00', 'k/02', 'k/04', 'k/39', 'k/40', 'k/48', 'k/49']
  const files = readdirSync(join(fixturePath('mst-test-suite/cars/exhaustive'))).filter((f) => f.endsWith('.car'))

  it('has all 128 trees', () => expect(files).toHaveLength(128))

  it('accepts every tree and finds exactly the keys its number selects', async () => {
    for (const file of files) {
      const n = Number(/exhaustive_(\d+)\.car/.exec(file)![1])
      const { root, blocks } = await readMstCar(`mst-test-suite/cars/exhaustive/${file}`)
      const result = await checkMst(root, { did: DID, getBlock: fromMap(blocks) })
      expect(result.leaves.map((l) => l.key), file).toEqual(KEYS.filter((_, j) => (n >> j) & 1))
      expect(result.nodes.length, file).toBe(blocks.size)
    }
  })

  // Each diff case says which nodes tree B has that tree A does not. Walking B while treating A's
  // nodes as verified must visit exactly those: the incremental-sync walk reads nothing else.
  it('walks exactly the created nodes of every stored diff case when the old tree is trusted', async () => {
    const dir = fixturePath('mst-test-suite/tests/diff/exhaustive')
    const cases = readdirSync(dir).filter((f) => f.endsWith('.json'))
    expect(cases.length).toBeGreaterThanOrEqual(760)
    const cars = new Map<string, Awaited<ReturnType<typeof readMstCar>>>()
    const load = async (path: string) => {
      const key = path.replace(/^\.\//, '')
      if (!cars.has(key)) cars.set(key, await readMstCar(`mst-test-suite/${key}`))
      return cars.get(key)!
    }
    for (const name of cases) {
      const c = readJsonFixture<{ inputs: { mst_a: string; mst_b: string }; results: { created_nodes: string[] } }>(
        `mst-test-suite/tests/diff/exhaustive/${name}`,
      )
      const a = await load(c.inputs.mst_a)
      const b = await load(c.inputs.mst_b)
      const aNodes = new Set(a.blocks.cids().map(String))
      const result = await checkMst(b.root, {
        did: DID,
        getBlock: (cid) => b.blocks.get(cid) ?? a.blocks.get(cid),
        isVerified: (cid) => aNodes.has(cid.toString()),
      })
      expect(result.nodes.map((n) => n.cid.toString()).sort(), name).toEqual([...c.results.created_nodes].sort())
    }
  })
})

describe('checkMst on trees built by @atproto/repo from the commit-proof fixtures', () => {
  const cases = readJsonFixture<Array<{ comment: string; leafValue: string; keys: string[]; adds: string[]; dels: string[]; rootBeforeCommit: string; rootAfterCommit: string }>>(
    'interop/firehose/commit-proof-fixtures.json',
  )

  it.each(cases.map((c) => [c.comment, c] as const))('%s', async (_, c) => {
    const storage = new MemoryBlockstore()
    const value = parseCid(c.leafValue)
    let mst = await MST.create(storage)
    for (const key of c.keys) mst = await mst.add(key, value)
    const before = await mst.getUnstoredBlocks()
    expect(before.root.toString()).toBe(c.rootBeforeCommit)
    await storage.putMany(before.blocks)
    for (const key of c.adds) mst = await mst.add(key, value)
    for (const key of c.dels) mst = await mst.delete(key)
    const after = await mst.getUnstoredBlocks()
    expect(after.root.toString()).toBe(c.rootAfterCommit)
    await storage.putMany(after.blocks)

    const get = (cid: Cid) => storage.getBytes(cid).then((b) => b ?? undefined)
    const full = await checkMst(after.root, { did: DID, getBlock: get })
    expect(full.leaves.map((l) => l.key)).toEqual([...c.keys, ...c.adds].filter((k) => !c.dels.includes(k)).sort())
    const beforeNodes = new Set((await checkMst(before.root, { did: DID, getBlock: get })).nodes.map((n) => n.cid.toString()))
    const incremental = await checkMst(after.root, { did: DID, getBlock: get, isVerified: (cid) => beforeNodes.has(cid.toString()) })
    expect(incremental.nodes.map((n) => n.cid.toString()).sort()).toEqual(after.blocks.cids().map(String).sort())
  })
})

describe('checkMst rejects malformed trees', () => {
  // Keys of the MST test suite, with their layers: k/00 0, k/02 1, k/04 0, k/39 2, k/40 0.
  const value = parseCid('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
  const enc = (s: string) => new TextEncoder().encode(s)

  /** Stores nodes given as `{l, e}` with keys as strings; returns a getter and the CIDs. */
  function tree(nodes: Record<string, { l?: string | null; e: Array<{ p: number; k: string; t?: string | null }> }>) {
    const blocks = new Map<string, Uint8Array>()
    const cids: Record<string, Cid> = {}
    // Children first: a node's pointers must name CIDs already computed.
    for (const name of Object.keys(nodes).reverse()) {
      const n = nodes[name]!
      const data = {
        l: n.l ? cids[n.l]! : null,
        e: n.e.map((e) => ({ p: e.p, k: enc(e.k), v: value, t: e.t ? cids[e.t]! : null })),
      }
      const bytes = encode(data as never)
      const cid = createCid(CBOR_DATA_CODEC, SHA256_HASH_CODE, sha256(bytes))
      cids[name] = cid
      blocks.set(cid.toString(), bytes)
    }
    return { root: cids[Object.keys(nodes)[0]!]!, get: (cid: Cid) => blocks.get(cid.toString()) }
  }
  const reject = async (t: ReturnType<typeof tree>, pattern: RegExp) => {
    const error = await checkMst(t.root, { did: DID, getBlock: t.get }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MalformedRepoError)
    expect((error as Error).message).toMatch(pattern)
  }

  it('accepts a well-formed two-layer tree (control)', async () => {
    const t = tree({ root: { l: 'low', e: [{ p: 0, k: 'k/02' }] }, low: { e: [{ p: 0, k: 'k/00' }] } })
    expect((await checkMst(t.root, { did: DID, getBlock: t.get })).leaves.map((l) => l.key)).toEqual(['k/00', 'k/02'])
  })

  it('keys out of order', () => reject(tree({ root: { e: [{ p: 0, k: 'k/04' }, { p: 3, k: '0' }] } }), /k\/00 is out of order/))
  it('keys out of order across nodes', () =>
    reject(tree({ root: { l: 'low', e: [{ p: 0, k: 'k/02' }] }, low: { e: [{ p: 0, k: 'k/04' }] } }), /k\/02 is out of order/))
  it('a key on the wrong layer', () => reject(tree({ root: { e: [{ p: 0, k: 'k/00' }, { p: 3, k: '2' }] } }), /k\/02 belongs on layer 1, not 0/))
  it('a subtree on the wrong layer', () =>
    reject(tree({ root: { l: 'low', e: [{ p: 0, k: 'k/39' }] }, low: { e: [{ p: 0, k: 'k/00' }] } }), /k\/00 belongs on layer 0, not 1/))
  it('keys not prefix-compressed as the spec requires', () =>
    reject(tree({ root: { e: [{ p: 0, k: 'k/00' }, { p: 0, k: 'k/04' }] } }), /not prefix-compressed/))
  it('a prefix longer than the previous key', () => reject(tree({ root: { e: [{ p: 5, k: 'k/00' }] } }), /reuses 5 characters/))
  it('an invalid record path', () => reject(tree({ root: { e: [{ p: 0, k: 'k 00' }] } }), /not a valid record path/))
  it('an empty node inside the tree', () =>
    reject(tree({ root: { e: [{ p: 0, k: 'k/02', t: 'empty' }] }, empty: { e: [] } }), /empty node inside the tree/))
  it('a root that only points to a lower layer', () =>
    reject(tree({ root: { l: 'low', e: [] }, low: { e: [{ p: 0, k: 'k/00' }] } }), /root holds no keys/))
  it('a subtree below layer 0', () =>
    reject(tree({ root: { e: [{ p: 0, k: 'k/00', t: 'below' }] }, below: { e: [{ p: 0, k: 'k/04' }] } }), /layer 0 points to a subtree/))
  it('bytes that are not an MST node', async () => {
    const bytes = encode({ hello: 'world' })
    const cid = createCid(CBOR_DATA_CODEC, SHA256_HASH_CODE, sha256(bytes))
    await expect(checkMst(cid, { did: DID, getBlock: () => bytes })).rejects.toThrow(/not an MST node/)
  })

  it('a trusted subtree that does not fit where it is placed', async () => {
    const t = tree({ root: { l: 'low', e: [{ p: 0, k: 'k/02' }] }, low: { e: [{ p: 0, k: 'k/04' }] } })
    const error = await checkMst(t.root, { did: DID, getBlock: t.get, isVerified: (cid) => !cid.equals(t.root) }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MalformedRepoError)
    expect((error as Error).message).toMatch(/k\/02 is out of order/)
  })

  it('a missing node or record: IncompleteRepoError naming it', async () => {
    const t = tree({ root: { l: 'low', e: [{ p: 0, k: 'k/02' }] }, low: { e: [{ p: 0, k: 'k/00' }] } })
    await expect(checkMst(t.root, { did: DID, getBlock: (cid) => (cid.equals(t.root) ? t.get(cid) : undefined) })).rejects.toMatchObject({
      code: 'ERR_REPO_INCOMPLETE',
      what: 'MST node',
    })
    const error = await checkMst(t.root, { did: DID, getBlock: t.get, hasRecord: () => false }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IncompleteRepoError)
    expect(error).toMatchObject({ cid: value.toString(), what: 'record k/00' })
  })

  it('rejects with AbortError on an aborted signal', async () => {
    const t = tree({ root: { e: [{ p: 0, k: 'k/00' }] } })
    await expect(checkMst(t.root, { did: DID, getBlock: t.get, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })
})

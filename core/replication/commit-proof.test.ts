import { BlockMap, blocksToCarFile, MemoryBlockstore, MST, readCarWithRoot } from '@atproto/repo'
import { cidForLex } from '@atproto/lex-cbor'
import { parseCid, type Cid } from '@atproto/lex-data'
import { describe, expect, it } from 'vitest'
import { readJsonFixture } from '../testing/fixtures.js'
import { CarFormatError, carriedMstNodes, invertCommitOps, invertCommitOpsReference, readCommitCar, type CommitOp } from './commit-proof.js'

interface ProofCase {
  comment: string
  leafValue: string
  keys: string[]
  adds: string[]
  dels: string[]
  rootBeforeCommit: string
  rootAfterCommit: string
  blocksInProof: string[]
}

const cases = readJsonFixture<ProofCase[]>('interop/firehose/commit-proof-fixtures.json')

/** Builds the before and after trees of a fixture case; returns the after tree's blocks and the ops. */
async function build(c: ProofCase) {
  const storage = new MemoryBlockstore()
  const value = parseCid(c.leafValue)
  let mst = await MST.create(storage)
  for (const key of c.keys) mst = await mst.add(key, value)
  const before = await mst.getUnstoredBlocks()
  await storage.putMany(before.blocks)
  for (const key of c.adds) mst = await mst.add(key, value)
  for (const key of c.dels) mst = await mst.delete(key)
  const after = await mst.getUnstoredBlocks()
  await storage.putMany(after.blocks)
  const proof = new BlockMap()
  for (const s of c.blocksInProof) {
    const cid = parseCid(s)
    proof.set(cid, (await storage.getBytes(cid))!)
  }
  const ops: CommitOp[] = [
    ...c.adds.map((path): CommitOp => ({ action: 'create', path, cid: value })),
    ...c.dels.map((path): CommitOp => ({ action: 'delete', path, cid: null, prev: value })),
  ]
  return { before: before.root, after: after.root, proof, ops, value, storage }
}

describe('invertCommitOps on the interop commit-proof vectors', () => {
  it.each(cases.map((c) => [c.comment, c] as const))('%s: the proof blocks alone give prevData', async (_, c) => {
    const { before, after, proof, ops } = await build(c)
    expect(before.toString()).toBe(c.rootBeforeCommit)
    expect(after.toString()).toBe(c.rootAfterCommit)
    const result = await invertCommitOps(after, proof, ops, before)
    expect(result).toEqual({ ok: true, root: before })
  })

  it.each(cases.map((c) => [c.comment, c] as const))('%s: a wrong prevData, a missing op or missing blocks fail', async (_, c) => {
    const { before, after, proof, ops, value } = await build(c)
    const wrong = await invertCommitOps(after, proof, ops, value)
    expect(wrong).toMatchObject({ ok: false, failure: 'root-mismatch' })
    // Leaving out one op: the undo no longer reaches the old tree.
    const fewer = await invertCommitOps(after, proof, ops.slice(1), before)
    expect(fewer.ok).toBe(false)
    // Nothing but the root: either the undo needs a node it was not given, or (where
    // @atproto/repo's MST needs fewer nodes than the vector lists) it still reaches prevData.
    const rootOnly = new BlockMap()
    rootOnly.set(after, proof.get(after)!)
    const bare = await invertCommitOps(after, rootOnly, ops, before)
    if (bare.ok) expect(bare.root.toString()).toBe(c.rootBeforeCommit)
    else expect(bare.failure).toBe('incomplete')
    if (c.comment === 'two deep split') expect(bare).toMatchObject({ ok: false, failure: 'incomplete' })
  })

  it('an op claiming another CID, an update or delete without prev, and a repeated path fail', async () => {
    const c = cases[0]!
    const { before, after, proof, ops } = await build(c)
    const other = parseCid('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
    const claimed = await invertCommitOps(after, proof, [{ ...ops[0]!, cid: other }], before)
    expect(claimed).toMatchObject({ ok: false, failure: 'op-mismatch' })
    const update = await invertCommitOps(after, proof, [{ action: 'update', path: ops[0]!.path, cid: ops[0]!.cid }], before)
    expect(update).toMatchObject({ ok: false, failure: 'op-mismatch' })
    const del = await invertCommitOps(after, proof, [{ action: 'delete', path: ops[0]!.path, cid: null }], before)
    expect(del).toMatchObject({ ok: false, failure: 'op-mismatch' })
    const twice = await invertCommitOps(after, proof, [ops[0]!, ops[0]!], before)
    expect(twice).toMatchObject({ ok: false, failure: 'duplicate-path' })
  })
})

describe('carriedMstNodes', () => {
  it.each(cases.map((c) => [c.comment, c] as const))('%s: carried nodes of the new tree, and the subtrees it points to outside them', async (_, c) => {
    const { after, proof, storage } = await build(c)
    const carried = await carriedMstNodes(after, proof)
    expect(carried.nodes[0]!.cid.toString()).toBe(after.toString())
    const carriedSet = new Set(carried.nodes.map((n) => n.cid.toString()))
    for (const cid of carriedSet) expect(c.blocksInProof).toContain(cid)
    // Every node of the whole new tree is either carried or under an external pointer.
    const all = await MST.load(storage, after).allCids()
    const external = new Set(carried.external.map(String))
    const under = new Set<string>()
    for (const ext of carried.external) for (const cid of (await MST.load(storage, ext as Cid).allCids()).toList()) under.add(cid.toString())
    for (const cid of all.toList()) {
      const s = cid.toString()
      const isNode = (await storage.getBytes(cid)) !== null && s !== c.leafValue
      if (isNode) expect(carriedSet.has(s) || under.has(s) || external.has(s), s).toBe(true)
    }
  })
})

describe('readCommitCar', () => {
  /** A CAR of a fixture's new tree (blocks in the proof), as `@atproto/repo` writes it. */
  async function carOf(c: ProofCase) {
    const { after, proof } = await build(c)
    return { after, proof, car: await blocksToCarFile(after, proof) }
  }

  it.each(cases.map((c) => [c.comment, c] as const))('%s: reads what readCarWithRoot reads', async (_, c) => {
    const { car } = await carOf(c)
    const lean = readCommitCar(car)
    const reference = await readCarWithRoot(car)
    expect(lean.root.toString()).toBe(reference.root.toString())
    expect(lean.blocks.entries().map((e) => [e.cid.toString(), Buffer.from(e.bytes).toString('hex')]).sort()).toEqual(
      reference.blocks.entries().map((e) => [e.cid.toString(), Buffer.from(e.bytes).toString('hex')]).sort(),
    )
    // carriedMstNodes over either gives the same nodes and pointers as a walk with @atproto/repo's MST.
    const carried = await carriedMstNodes(lean.root, lean.blocks)
    const storage = new MemoryBlockstore(reference.blocks)
    const nodes: string[] = []
    const external: string[] = []
    const walk = async (cid: Cid): Promise<void> => {
      if (!reference.blocks.has(cid)) return void external.push(cid.toString())
      nodes.push(cid.toString())
      for (const e of await MST.load(storage, cid).getEntries()) if (e.isTree()) await walk(e.pointer)
    }
    await walk(reference.root)
    expect(carried.nodes.map((n) => n.cid.toString()).sort()).toEqual(nodes.sort())
    expect(carried.external.map(String).sort()).toEqual(external.sort())
  })

  it('refuses a block whose bytes do not match its CID, a cut CAR and two roots', async () => {
    const { car } = await carOf(cases[0]!)
    const flipped = car.slice()
    flipped[flipped.length - 1]! ^= 1
    expect(() => readCommitCar(flipped)).toThrow(CarFormatError)
    await expect(readCarWithRoot(flipped)).rejects.toThrow()
    expect(() => readCommitCar(car.subarray(0, car.length - 3))).toThrow(/past the end/)
    const { after, proof } = await build(cases[1]!)
    const noRoot = await blocksToCarFile(null, proof)
    expect(() => readCommitCar(noRoot)).toThrow(/one root/)
    expect(readCommitCar(await blocksToCarFile(after, proof)).root.toString()).toBe(after.toString())
  })
})

describe('invertCommitOps (lean) against @atproto/repo\'s MST (invertCommitOpsReference) on generated commits', () => {
  /** A small seeded PRNG (mulberry32), so a failing case can be replayed. */
  function prng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }

  it('gives the same result on 150 random commits (creates, updates, deletes; every block, the new blocks only, a wrong prevData, a lying op)', async () => {
    const collections = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow']
    /** What the new blocks alone gave: both a proof that holds and one that lacks nodes must be covered. */
    const seen = new Set<string>()
    for (let seed = 1; seed <= 150; seed++) {
      const rand = prng(seed)
      const key = () => `${collections[Math.floor(rand() * collections.length)]}/${Math.floor(rand() * 36 ** 8).toString(36).padStart(8, '0')}`
      const value = async () => cidForLex({ v: Math.floor(rand() * 1e9) })
      const storage = new MemoryBlockstore()
      let mst = await MST.create(storage)
      const keys = new Map<string, Cid>()
      const size = Math.floor(rand() * (seed % 10 === 0 ? 400 : 120))
      for (let i = 0; i < size; i++) {
        const k = key()
        if (keys.has(k)) continue
        const v = await value()
        keys.set(k, v)
        mst = await mst.add(k, v)
      }
      const before = await mst.getUnstoredBlocks()
      await storage.putMany(before.blocks)
      const ops: CommitOp[] = []
      const opCount = 1 + Math.floor(rand() * (seed % 7 === 0 ? 12 : 4))
      const existing = [...keys.keys()]
      for (let i = 0; i < opCount; i++) {
        const r = rand()
        if (r < 0.5 || existing.length === 0) {
          const k = key()
          if (keys.has(k) || ops.some((o) => o.path === k)) continue
          const v = await value()
          mst = await mst.add(k, v)
          ops.push({ action: 'create', path: k, cid: v })
        } else {
          const k = existing.splice(Math.floor(rand() * existing.length), 1)[0]!
          if (ops.some((o) => o.path === k)) continue
          if (r < 0.75) {
            const v = await value()
            mst = await mst.update(k, v)
            ops.push({ action: 'update', path: k, cid: v, prev: keys.get(k)! })
          } else {
            mst = await mst.delete(k)
            ops.push({ action: 'delete', path: k, cid: null, prev: keys.get(k)! })
          }
        }
      }
      const after = await mst.getUnstoredBlocks()
      await storage.putMany(after.blocks)
      const all = new BlockMap()
      for (const cid of (await MST.load(storage, after.root).allCids()).toList()) {
        const bytes = await storage.getBytes(cid)
        if (bytes !== null) all.set(cid, bytes)
      }
      const newOnly = after.blocks
      const label = `seed ${seed}: ${size} keys, ${ops.map((o) => o.action).join(',')}`
      const both = async (blocks: BlockMap, o: CommitOp[], prev: Cid) => {
        const [lean, ref] = await Promise.all([invertCommitOps(after.root, blocks, o, prev), invertCommitOpsReference(after.root, blocks, o, prev)])
        const shape = (r: typeof lean) => (r.ok ? { ok: true, root: r.root.toString() } : { ok: false, failure: r.failure })
        expect(shape(lean), label).toEqual(shape(ref))
        return lean
      }
      expect((await both(all, ops, before.root)).ok, label).toBe(true)
      const partial = await both(newOnly, ops, before.root)
      seen.add(partial.ok ? 'ok' : partial.failure)
      await both(all, ops, after.root)
      if (ops.length > 0) await both(all, ops.slice(1), before.root)
      const lying = ops.find((o) => o.action === 'create')
      if (lying !== undefined) await both(all, ops.map((o) => (o === lying ? { ...o, cid: before.root } : o)), before.root)
    }
    expect([...seen].sort()).toEqual(['incomplete', 'ok'])
  }, 120_000)
})

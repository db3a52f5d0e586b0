import { randomBytes } from 'node:crypto'
import { parseCid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { sha512 } from 'multiformats/hashes/sha2'
import { create as createDigest } from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { readFixture, readJsonFixture } from '../testing/fixtures.js'
import { readRepoCar } from './car.js'
import { cidString, daslCidBytes, daslCidString, isDaslCidPrefix } from './cid-string.js'

const fixtures = readJsonFixture<Array<{ root: string; blocks: Array<{ cid: string }> }>>('atproto/packages/repo/tests/car-file-fixtures.json')

describe('cidString: the same string as multiformats CID.toString()', () => {
  it('on every CID of the upstream CAR fixtures and of a real repository', async () => {
    const real = await readRepoCar('did:plc:test', [readFixture('indigo/atproto/repo/testdata/bnewbold.robocracy.org.20250310005405.car')])
    const cids = [...fixtures.flatMap((f) => [f.root, ...f.blocks.map((b) => b.cid)]), ...real.blocks.cids().map((c) => c.toString())]
    expect(cids.length).toBeGreaterThan(50)
    for (const s of cids) {
      const cid = parseCid(s)
      expect(isDaslCidPrefix(cid.bytes)).toBe(true)
      expect(daslCidString(cid.bytes)).toBe(s)
      expect(cidString(cid)).toBe(s)
    }
  })

  it('on 2,000 random digests, dag-cbor and raw, and at an offset inside a larger buffer', () => {
    for (let i = 0; i < 2000; i++) {
      const cid = CID.createV1(i % 2 === 0 ? 0x71 : 0x55, createDigest(0x12, randomBytes(32)))
      const framed = new Uint8Array([7, 7, 7, ...cid.bytes, 9])
      expect(daslCidString(framed, 3)).toBe(cid.toString())
      expect(cidString(cid as never)).toBe(cid.toString())
    }
  })

  it('daslCidBytes inverts it: the bytes multiformats parses, on fixtures and random CIDs', async () => {
    const real = await readRepoCar('did:plc:test', [readFixture('indigo/atproto/repo/testdata/bnewbold.robocracy.org.20250310005405.car')])
    const strings = [...fixtures.flatMap((f) => [f.root, ...f.blocks.map((b) => b.cid)]), ...real.blocks.cids().map((c) => c.toString())]
    for (let i = 0; i < 2000; i++) strings.push(CID.createV1(i % 2 === 0 ? 0x71 : 0x55, createDigest(0x12, randomBytes(32))).toString())
    for (const s of strings) expect(Buffer.from(daslCidBytes(s)!).equals(Buffer.from(CID.parse(s).bytes))).toBe(true)
    // Not DASL, or not a CID string at all: null (the caller parses with multiformats).
    const wide = CID.createV1(0x71, await sha512.digest(new Uint8Array([1])))
    const v0 = CID.createV0(createDigest(0x12, randomBytes(32)))
    for (const s of [wide.toString(), v0.toString(), '', 'b' + 'a'.repeat(58), strings[0]!.toUpperCase(), strings[0]!.slice(0, -1) + '!', strings[0]!.slice(0, -1) + 'é']) {
      expect(daslCidBytes(s)).toBeNull()
    }
  })

  it('falls back to CID.toString() for CIDs that are not DASL, and says so', async () => {
    const bytes = new Uint8Array([1, 2, 3])
    const wide = CID.createV1(0x71, await sha512.digest(bytes))
    expect(isDaslCidPrefix(wide.bytes)).toBe(false)
    expect(cidString(wide as never)).toBe(wide.toString())
    const v0 = CID.createV0(createDigest(0x12, randomBytes(32)))
    expect(isDaslCidPrefix(v0.bytes)).toBe(false)
    expect(cidString(v0 as never)).toBe(v0.toString())
  })
})

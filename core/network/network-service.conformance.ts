/**
 * `describeNetworkService(name, make)`: the invariants every {@link NetworkService} keeps, run
 * against each implementation. `make` builds a started pair (a, b) able to reach each other and
 * the target by which `a` reaches `b`; `close` stops them.
 */
import { describe, expect, it } from 'vitest'
import { verifyPeerSignature } from './peer-key.js'
import type { NetworkService, PeerTarget } from './types.js'
import { PROTOCOLS } from './types.js'

/** A pair of started services, `a` able to reach `b` at `bTarget`. */
export interface NetworkPair {
  a: NetworkService
  b: NetworkService
  bTarget: PeerTarget
  close(): Promise<void>
}

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

export function describeNetworkService(name: string, make: () => Promise<NetworkPair>): void {
  describe(`NetworkService conformance: ${name}`, () => {
    const withPair = (fn: (p: NetworkPair) => Promise<void>) => async () => {
      const pair = await make()
      try {
        await fn(pair)
      } finally {
        await pair.close()
      }
    }

    it(
      'signs with the key its PeerID names',
      withPair(async ({ a, b }) => {
        const data = enc('p2pds')
        const sig = await a.sign(data)
        expect(await verifyPeerSignature(a.peerId, data, sig)).toBe(true)
        expect(await verifyPeerSignature(b.peerId, data, sig)).toBe(false)
        expect(await verifyPeerSignature(a.peerId, enc('other'), sig)).toBe(false)
        expect(a.info().peerId).toBe(a.peerId)
      }),
    )

    it(
      'delivers a request to the handler of its protocol and the answer back, naming the answering peer',
      withPair(async ({ a, b, bTarget }) => {
        const seen: string[] = []
        await b.handle('/p2pds-test/echo/1.0.0', async (req, from) => {
          seen.push(from.peerId)
          return enc(`echo:${dec(req)}`)
        })
        const big = 'x'.repeat(200_000)
        const answer = await a.request(bTarget, '/p2pds-test/echo/1.0.0', enc(big))
        expect(dec(answer.bytes)).toBe(`echo:${big}`)
        expect(answer.peerId).toBe(b.peerId)
        expect(seen).toEqual([a.peerId])
      }),
    )

    it(
      'rejects with a coded error for a failing handler, an unknown protocol and an aborted signal',
      withPair(async ({ a, b, bTarget }) => {
        const { InvalidChallengeError } = await import('../errors.js')
        await b.handle('/p2pds-test/fail/1.0.0', async () => {
          throw new InvalidChallengeError('test refusal')
        })
        await expect(a.request(bTarget, '/p2pds-test/fail/1.0.0', enc('x'))).rejects.toMatchObject({ code: 'ERR_INVALID_CHALLENGE', message: expect.stringMatching(/test refusal/) })
        await expect(a.request(bTarget, '/p2pds-test/none/1.0.0', enc('x'))).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) })
        const aborted = AbortSignal.abort()
        await expect(a.request(bTarget, '/p2pds-test/fail/1.0.0', enc('x'), { signal: aborted })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      }),
    )

    it(
      'streams a large answer whole and in order; a failure mid-stream reaches the reader as a coded error',
      withPair(async ({ a, b, bTarget }) => {
        const { InvalidChallengeError } = await import('../errors.js')
        const chunk = (i: number) => new Uint8Array(100_000).fill(i % 251)
        await b.handleStream('/p2pds-test/stream/1.0.0', async (req) => {
          const n = Number(dec(req))
          return (async function* () {
            for (let i = 0; i < n; i++) yield chunk(i)
          })()
        })
        const answer = await a.openStream(bTarget, '/p2pds-test/stream/1.0.0', enc('30'))
        expect(answer.peerId).toBe(b.peerId)
        const got: Uint8Array[] = []
        for await (const c of answer.chunks) got.push(c)
        const all = Buffer.concat(got)
        expect(all.length).toBe(3_000_000)
        expect(all.equals(Buffer.concat(Array.from({ length: 30 }, (_, i) => chunk(i))))).toBe(true)

        await b.handleStream('/p2pds-test/break/1.0.0', async () =>
          (async function* () {
            yield chunk(1)
            throw new InvalidChallengeError('broke off')
          })(),
        )
        const broken = await a.openStream(bTarget, '/p2pds-test/break/1.0.0', enc(''))
        const read = async () => {
          for await (const c of broken.chunks) void c
        }
        await expect(read()).rejects.toMatchObject({ code: 'ERR_INVALID_CHALLENGE' })
      }),
    )

    it(
      'delivers a head notice to the peer with the sender named, and refuses a malformed one',
      withPair(async ({ a, b, bTarget }) => {
        const got: Array<{ did: string; rev: string; from: string }> = []
        const off = b.onHead((n, from) => got.push({ did: n.did, rev: n.rev, from: from.peerId }))
        await a.notifyHead(bTarget, { did: 'did:plc:abcdefghijklmnopqrstuvwx', rev: '3ljlyqit2uk2l', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' })
        expect(got).toEqual([{ did: 'did:plc:abcdefghijklmnopqrstuvwx', rev: '3ljlyqit2uk2l', from: a.peerId }])
        await expect(a.request(bTarget, PROTOCOLS.notify, enc('{"did":"nope"}'))).rejects.toMatchObject({ code: 'ERR_PEER_PROTOCOL' })
        expect(got).toHaveLength(1)
        off()
      }),
    )
  })
}

// The lookups of ./lookups.ts against @atproto/identity, the reference: the same answers from the
// real PLC of the local network, from a did:web host, from handle hosts (HTTPS well-known, through a
// STAND-IN transport that routes https://<handle>/ to a local server, the same for both), and the
// same did:key for every key of the fixtures and of generated keys.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { DidResolver, getDidKeyFromMultibase, HandleResolver } from '@atproto/identity'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readJsonFixture } from '../testing/fixtures.js'
import { createAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { didKeyFromMultibase, fetchDidDocument, resolveHandleDirect } from './lookups.js'

let net: TestNetwork
let host: http.Server
let port: number
/** What the stand-in host answers, by path. */
const pages = new Map<string, { status: number; body: string }>()

beforeAll(async () => {
  net = await startTestNetwork()
  host = http.createServer((req, res) => {
    const page = pages.get(req.url ?? '') ?? { status: 404, body: 'not found' }
    res.writeHead(page.status, { 'content-type': 'application/json' })
    res.end(page.body)
  })
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve))
  port = (host.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((resolve) => host?.close(resolve))
  await net?.close()
})

/** STAND-IN transport: https://<anything>/path and http://localhost:<port>/path go to the local host. */
const routed = (input: string | URL | Request, init?: RequestInit) => {
  const url = new URL(input instanceof Request ? input.url : input.toString())
  return fetch(`http://127.0.0.1:${port}${url.pathname}`, init)
}
const options = { fetch: routed as typeof fetch, timeoutMs: 5000 }

describe('fetchDidDocument: the same as @atproto/identity DidResolver.resolveNoCheck', () => {
  it('did:plc from the real PLC: a document, and null for an unknown DID', async () => {
    const alice = await createAccount(net, { handle: 'lookups' })
    const reference = new DidResolver({ plcUrl: net.plcUrl, timeout: 5000, fetch: globalThis.fetch })
    const ours = { fetch: globalThis.fetch, timeoutMs: 5000 }
    const doc = await fetchDidDocument(alice.did, net.plcUrl, ours)
    expect(doc).toMatchObject({ id: alice.did })
    expect(doc).toEqual(await reference.resolveNoCheck(alice.did))
    const unknown = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    expect(await fetchDidDocument(unknown, net.plcUrl, ours)).toBeNull()
    expect(await reference.resolveNoCheck(unknown)).toBeNull()
  })

  it('did:web from /.well-known/did.json (http for localhost); null when the host has none', async () => {
    const did = `did:web:localhost%3A${port}`
    pages.set('/.well-known/did.json', { status: 200, body: JSON.stringify({ id: did, alsoKnownAs: [] }) })
    const reference = new DidResolver({ plcUrl: net.plcUrl, timeout: 5000, fetch: routed as typeof fetch })
    expect(await fetchDidDocument(did, net.plcUrl, options)).toEqual(await reference.resolveNoCheck(did))
    pages.delete('/.well-known/did.json')
    expect(await fetchDidDocument(did, net.plcUrl, options)).toBeNull()
    expect(await reference.resolveNoCheck(did)).toBeNull()
  })
})

describe('resolveHandleDirect: the same as @atproto/identity HandleResolver', () => {
  it('HTTPS well-known: the DID on the first line; anything else is undefined', async () => {
    const reference = new HandleResolver({ timeout: 5000, fetch: routed as typeof fetch })
    // .invalid never resolves in DNS (RFC 2606), so the answer comes from HTTPS.
    const handle = 'someone.invalid'
    for (const body of ['did:plc:abcdefghijklmnopqrstuvwx\n', '  did:web:example.com  \nextra', 'not a did', '']) {
      pages.set('/.well-known/atproto-did', { status: 200, body })
      expect(await resolveHandleDirect(handle, options)).toBe(await reference.resolve(handle))
    }
    expect(await resolveHandleDirect(handle, options)).toBeUndefined()
    pages.set('/.well-known/atproto-did', { status: 200, body: 'did:plc:abcdefghijklmnopqrstuvwx' })
    expect(await resolveHandleDirect(handle, options)).toBe('did:plc:abcdefghijklmnopqrstuvwx')
    pages.delete('/.well-known/atproto-did')
  })
})

describe('didKeyFromMultibase: the same did:key as @atproto/identity getDidKeyFromMultibase', () => {
  it('on the interop signature fixtures, the PLC document fixtures and generated keys', async () => {
    const cases: Array<{ type: string; publicKeyMultibase: string }> = []
    for (const f of readJsonFixture<Array<{ didDocSuite: string; publicKeyMultibase: string }>>('interop/crypto/signature-fixtures.json')) {
      cases.push({ type: f.didDocSuite, publicKeyMultibase: f.publicKeyMultibase })
    }
    for (const name of ['did_plc_doc.json', 'did_plc_doc_legacy.json']) {
      const doc = readJsonFixture<{ verificationMethod: Array<{ type: string; publicKeyMultibase: string }> }>(`indigo/atproto/identity/testdata/${name}`)
      for (const m of doc.verificationMethod) cases.push({ type: m.type, publicKeyMultibase: m.publicKeyMultibase })
    }
    for (let i = 0; i < 5; i++) {
      for (const key of [await Secp256k1Keypair.create(), await P256Keypair.create()]) {
        cases.push({ type: 'Multikey', publicKeyMultibase: key.did().slice('did:key:'.length) })
      }
    }
    expect(cases.length).toBeGreaterThan(14)
    for (const c of cases) {
      const expected = getDidKeyFromMultibase(c)
      expect(expected).toMatch(/^did:key:z/)
      expect(didKeyFromMultibase(c.type, c.publicKeyMultibase)).toBe(expected)
    }
    expect(didKeyFromMultibase('Ed25519VerificationKey2020', cases[0]!.publicKeyMultibase)).toBe(getDidKeyFromMultibase({ type: 'Ed25519VerificationKey2020', publicKeyMultibase: cases[0]!.publicKeyMultibase }))
  })
})

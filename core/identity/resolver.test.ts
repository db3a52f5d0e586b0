import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { verifyRepoCar } from '@atproto/repo'
import { fetch as undiciFetch } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AbortError, DidDocumentError, IdentityNotFoundError, IdentityUnavailableError, UnsafeUrlError } from '../errors.js'
import type { TransportFetch } from '../network/safe-fetch.js'
import { createAccount, type TestAccount } from '../testing/builders.js'
import { startTestNetwork, type TestNetwork } from '../testing/network.js'
import { createIdentityResolver, identityResolverInit, type IdentityResolverInit } from './resolver.js'

let net: TestNetwork
let alice: TestAccount
let bob: TestAccount

beforeAll(async () => {
  net = await startTestNetwork()
  ;[alice, bob] = await Promise.all([createAccount(net, { handle: 'alice' }), createAccount(net, { handle: 'bob' })])
})

afterAll(async () => {
  await net?.close()
})

/** undici's fetch, recording every request the resolver sends. */
function countingTransport(): { fetch: TransportFetch; calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    fetch: (url, init) => {
      calls.push(url)
      return undiciFetch(url, init as never) as unknown as Promise<Response>
    },
  }
}

/** A resolver pointed at the local network the way a node is (`loadConfig` with `net.env`). */
function localResolver(init: Partial<IdentityResolverInit> = {}) {
  return createIdentityResolver({
    ...identityResolverInit({ plcUrl: net.plcUrl, handleResolverUrl: net.pdsUrl, allowPrivateNetwork: true }),
    timeoutMs: 5000,
    ...init,
  })
}

// Servers standing in for hosts that are not the PDS or PLC (a did:web host), or for a PLC
// directory that misbehaves (named as such in each test). All on 127.0.0.1.
const servers: Array<{ close(): Promise<void> }> = []
async function serve(handler: http.RequestListener): Promise<{ url: string; port: number; connections: () => number }> {
  const server = http.createServer(handler)
  let connections = 0
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push({
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, port, connections: () => connections }
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

describe('IdentityResolver against the local network', () => {
  it('resolves a handle to the DID, PDS, signing key and verified handle', async () => {
    const id = await localResolver().resolve(alice.handle)
    expect(id).toMatchObject({ did: alice.did, handle: alice.handle, handleProblem: null, pdsUrl: net.pdsUrl })
    expect(id.pdsUrl).toMatch(/^http:\/\/localhost:\d+$/)
    expect(id.signingKey).toMatch(/^did:key:z/)
    expect(id.didDoc.id).toBe(alice.did)
    expect(id.didDoc.alsoKnownAs).toEqual([`at://${alice.handle}`])
  })

  it('resolves the DID to the same identity, and a handle in capitals too', async () => {
    const resolver = localResolver()
    const byHandle = await resolver.resolve(alice.handle)
    expect(await localResolver().resolve(alice.did)).toEqual(byHandle)
    expect(await localResolver().resolve(alice.handle.toUpperCase())).toEqual(byHandle)
  })

  it("gives the key that verifies the signature of the account's latest commit", async () => {
    await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'signed', createdAt: new Date().toISOString() },
    })
    const resolver = localResolver()
    const [aliceId, bobId] = await Promise.all([resolver.resolve(alice.did), resolver.resolve(bob.did)])
    const car = (await alice.agent.com.atproto.sync.getRepo({ did: alice.did })).data
    const verified = await verifyRepoCar(car, alice.did, aliceId.signingKey)
    expect(verified.creates.some((c) => c.collection === 'app.bsky.feed.post')).toBe(true)
    // The check means something: another account's key does not verify it.
    await expect(verifyRepoCar(car, alice.did, bobId.signingKey)).rejects.toThrow(/signature/i)
  })

  it('refuses an unknown handle or DID with IdentityNotFoundError', async () => {
    const resolver = localResolver()
    const err = await resolver.resolve('nobody-here.test').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityNotFoundError)
    expect(err).toMatchObject({ code: 'ERR_IDENTITY_NOT_FOUND', identifier: 'nobody-here.test' })
    expect((err as Error).message).toBe(
      `No account found for nobody-here.test (looked up in the handle resolver at ${net.pdsUrl}). ` +
        'Check the spelling; if the account changed its handle, use its DID instead.',
    )
    const unknownDid = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    await expect(resolver.resolve(unknownDid)).rejects.toMatchObject({
      code: 'ERR_IDENTITY_NOT_FOUND',
      message: `No account found for ${unknownDid} (looked up in the PLC directory at ${net.plcUrl}). Check the DID; the account may have been deleted.`,
    })
  })

  it('caches answers for cacheTtlMs, and forceRefresh / forget / expiry ask again', async () => {
    const transport = countingTransport()
    let now = 1_000_000
    const resolver = localResolver({ fetch: transport.fetch, cacheTtlMs: 60_000, now: () => now })
    const first = await resolver.resolve(alice.handle)
    const sent = transport.calls.length
    expect(sent).toBeGreaterThan(0)

    expect(await resolver.resolve(alice.handle)).toEqual(first)
    expect(await resolver.resolve(alice.did)).toEqual(first)
    expect(transport.calls.length).toBe(sent)

    expect(await resolver.resolve(alice.did, { forceRefresh: true })).toEqual(first)
    expect(transport.calls.length).toBeGreaterThan(sent)

    let before = transport.calls.length
    resolver.forget(alice.did)
    await resolver.resolve(alice.did)
    expect(transport.calls.length).toBeGreaterThan(before)

    before = transport.calls.length
    now += 60_001
    await resolver.resolve(alice.did)
    expect(transport.calls.length).toBeGreaterThan(before)
  })

  it('hands out copies, so a caller cannot change the cache', async () => {
    const resolver = localResolver()
    const a = await resolver.resolve(alice.did)
    a.pdsUrl = 'https://evil.example'
    ;(a.didDoc as { id: string }).id = 'changed'
    const b = await resolver.resolve(alice.did)
    expect(b.pdsUrl).toBe(net.pdsUrl)
    expect(b.didDoc.id).toBe(alice.did)
  })
})

describe('IdentityResolver with allowPrivateNetwork: false', () => {
  it('refuses a DID document whose PDS is on this computer (the configured PLC is trusted)', async () => {
    const resolver = localResolver({ allowPrivateNetwork: false })
    for (const input of [alice.did, alice.handle]) {
      const err = await resolver.resolve(input).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DidDocumentError)
      expect(err).toMatchObject({ code: 'ERR_DID_DOCUMENT', did: alice.did, problem: 'unsafe-pds' })
      expect((err as Error).message).toMatch(
        new RegExp(
          `^The DID document of ${alice.did} names a PDS that P2PDS will not contact\\. ` +
            'Refused to contact localhost \\(it resolves to (127\\.0\\.0\\.1|::1)\\): it is a loopback address \\(this computer\\)\\. ' +
            'If this is intended \\(tests, a home network\\), set ALLOW_PRIVATE_NETWORK=true\\.$',
        ),
      )
      expect((err as DidDocumentError).cause).toBeInstanceOf(UnsafeUrlError)
    }
  })

  it('refuses a did:web on this computer without connecting to it', async () => {
    const host = await serve((_req, res) => res.end('{}'))
    const err = await localResolver({ allowPrivateNetwork: false })
      .resolve(`did:web:localhost%3A${host.port}`)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnsafeUrlError)
    expect(err).toMatchObject({ code: 'ERR_UNSAFE_URL', host: 'localhost', reason: 'loopback' })
    expect(host.connections()).toBe(0)
  })
})

describe('IdentityResolver with did:web', () => {
  async function didWebHost(doc: (did: string) => unknown) {
    let did = ''
    const host = await serve((req, res) => {
      if (req.url !== '/.well-known/did.json') return void res.writeHead(404).end()
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(doc(did)))
    })
    did = `did:web:localhost%3A${host.port}`
    return did
  }

  async function aliceKeyAndDoc() {
    const id = await localResolver().resolve(alice.did)
    const vm = (id.didDoc.verificationMethod as Array<Record<string, unknown>>)[0]!
    return (did: string, alsoKnownAs: string[]) => ({
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: did,
      alsoKnownAs,
      verificationMethod: [{ ...vm, id: `${did}#atproto`, controller: did }],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: net.pdsUrl }],
    })
  }

  it('resolves the document; a handle that belongs to another DID is not verified', async () => {
    const makeDoc = await aliceKeyAndDoc()
    const did = await didWebHost((d) => makeDoc(d, [`at://${alice.handle}`]))
    const id = await localResolver().resolve(did)
    expect(id).toMatchObject({ did, pdsUrl: net.pdsUrl, handle: null })
    expect(id.signingKey).toMatch(/^did:key:z/)
    expect(id.handleProblem).toEqual({
      reason: 'mismatch',
      claimed: alice.handle,
      message: `${did} claims the handle ${alice.handle}, but that handle belongs to ${alice.did}.`,
    })
  })

  it('reports a claimed handle that resolves nowhere, and a document claiming none', async () => {
    const makeDoc = await aliceKeyAndDoc()
    const unclaimed = await didWebHost((d) => makeDoc(d, ['at://nobody-here.test']))
    expect((await localResolver().resolve(unclaimed)).handleProblem).toMatchObject({ reason: 'not-found', claimed: 'nobody-here.test' })
    const none = await didWebHost((d) => makeDoc(d, []))
    expect((await localResolver().resolve(none)).handleProblem).toMatchObject({ reason: 'no-handle', claimed: null })
    const invalid = await didWebHost((d) => makeDoc(d, ['at://not_a handle']))
    expect((await localResolver().resolve(invalid)).handleProblem).toMatchObject({ reason: 'invalid-handle' })
  })

  it('refuses a host with no document (404) with IdentityNotFoundError', async () => {
    const host = await serve((_req, res) => res.writeHead(404).end())
    await expect(localResolver().resolve(`did:web:localhost%3A${host.port}`)).rejects.toBeInstanceOf(IdentityNotFoundError)
  })

  it('refuses a document for another DID', async () => {
    const makeDoc = await aliceKeyAndDoc()
    const did = await didWebHost(() => makeDoc('did:web:someone.else', []))
    await expect(localResolver().resolve(did)).rejects.toMatchObject({ code: 'ERR_DID_DOCUMENT', problem: 'wrong-id' })
  })
})

describe('IdentityResolver when the directory misbehaves', () => {
  const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'

  it('reports an unresponsive server in place of the PLC directory as unavailable after timeoutMs', async () => {
    const plc = await serve(() => {
      /* never answers */
    })
    const started = Date.now()
    const err = await localResolver({ plcUrl: plc.url, timeoutMs: 300 })
      .resolve(did)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityUnavailableError)
    expect((err as Error).message).toBe(
      `Could not look up ${did} in the PLC directory at ${plc.url} right now: it did not answer within 300 ms. Check your connection and try again later.`,
    )
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('reports a failing server in place of the PLC directory (HTTP 500) as unavailable', async () => {
    const plc = await serve((_req, res) => res.writeHead(500).end('oops'))
    await expect(localResolver({ plcUrl: plc.url }).resolve(did)).rejects.toMatchObject({
      code: 'ERR_IDENTITY_UNAVAILABLE',
      detail: 'it answered HTTP 500',
    })
  })

  it('reports a non-JSON answer in place of a DID document as malformed', async () => {
    const plc = await serve((_req, res) => res.end('<html>hello</html>'))
    await expect(localResolver({ plcUrl: plc.url }).resolve(did)).rejects.toMatchObject({ code: 'ERR_DID_DOCUMENT', problem: 'malformed' })
  })

  it('reports an unreachable PLC directory as unavailable', async () => {
    const plc = await serve(() => undefined)
    await servers.pop()!.close()
    await expect(localResolver({ plcUrl: plc.url }).resolve(did)).rejects.toMatchObject({
      code: 'ERR_IDENTITY_UNAVAILABLE',
      detail: 'the connection was refused',
    })
  })
})

describe('IdentityResolver and abort signals', () => {
  it('rejects an already aborted signal without sending anything', async () => {
    const transport = countingTransport()
    const controller = new AbortController()
    controller.abort()
    await expect(localResolver({ fetch: transport.fetch }).resolve(alice.did, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError)
    expect(transport.calls).toEqual([])
  })

  it('rejects promptly when the signal aborts mid-lookup', async () => {
    const plc = await serve(() => {
      /* never answers */
    })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const started = Date.now()
    const err = await localResolver({ plcUrl: plc.url, timeoutMs: 10_000 })
      .resolve('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', { signal: controller.signal })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err).toMatchObject({ code: 'ERR_ABORTED' })
    expect(Date.now() - started).toBeLessThan(2000)
  })
})

import { describe, expect, it } from 'vitest'
import { InvalidIdentifierError } from '../errors.js'
import type { TransportFetch } from '../network/safe-fetch.js'
import { syntaxVectors } from '../testing/fixtures.js'
import { assertResolvable, parseIdentifier } from './identifier.js'
import { createIdentityResolver } from './resolver.js'

describe('parseIdentifier on the upstream syntax vectors', () => {
  it.each(syntaxVectors('handle_syntax_valid'))('accepts the handle %j', (input) => {
    expect(parseIdentifier(input)).toEqual({ kind: 'handle', handle: input.toLowerCase() })
  })

  it.each(syntaxVectors('did_syntax_valid'))('accepts the DID %j', (input) => {
    expect(parseIdentifier(input)).toEqual({ kind: 'did', did: input })
  })

  it.each(syntaxVectors('atidentifier_syntax_valid'))('accepts the at-identifier %j', (input) => {
    expect(() => parseIdentifier(input)).not.toThrow()
  })

  it.each([...syntaxVectors('handle_syntax_invalid'), ...syntaxVectors('atidentifier_syntax_invalid')])('refuses %j', (input) => {
    expect(() => parseIdentifier(input)).toThrow(InvalidIdentifierError)
  })

  it.each(syntaxVectors('did_syntax_invalid'))('does not take %j for a DID', (input) => {
    // `did.method.val` is an invalid DID but a valid handle; every other case is refused.
    let kind: string
    try {
      kind = parseIdentifier(input).kind
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidIdentifierError)
      kind = 'refused'
    }
    expect(kind).not.toBe('did')
  })

  it('says what is wrong, in a sentence', () => {
    const err = (() => {
      try {
        parseIdentifier('john..test')
      } catch (e) {
        return e as InvalidIdentifierError
      }
    })()
    expect(err).toMatchObject({ code: 'ERR_INVALID_IDENTIFIER', name: 'InvalidIdentifierError', input: 'john..test', reason: 'syntax' })
    expect(err?.message).toBe(
      '"john..test" is not a valid handle or DID (handle parts can not be empty). ' +
        'Enter a handle such as alice.bsky.social or a DID such as did:plc:ewvi7nxzyoun6zhxrhs64oiz.',
    )
  })

  it('lower-cases handles but keeps DIDs as given', () => {
    expect(parseIdentifier('Alice.Example.COM')).toEqual({ kind: 'handle', handle: 'alice.example.com' })
    expect(parseIdentifier('did:method:VAL')).toEqual({ kind: 'did', did: 'did:method:VAL' })
  })
})

describe('assertResolvable', () => {
  it.each([
    ['alice.test', null],
    ['alice.bsky.social', null],
    ['did:plc:ewvi7nxzyoun6zhxrhs64oiz', null],
    ['did:web:example.com', null],
    ['did:web:localhost%3A2583', null],
    ['laptop.local', 'reserved-tld'],
    ['friend.expyuzz4wqqyqhjn.onion', 'reserved-tld'],
    ['host.example', 'reserved-tld'],
    ['did:web:printer.local', 'reserved-tld'],
    ['did:plc:short', 'syntax'],
    ['did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ', 'syntax'],
    ['did:web:example.com:users:alice', 'unsupported-did-method'],
    ['did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF', 'unsupported-did-method'],
    ['did:method:val', 'unsupported-did-method'],
  ])('%s → %s', (input, reason) => {
    const check = () => assertResolvable(parseIdentifier(input))
    if (reason === null) expect(check).not.toThrow()
    else expect(check).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IDENTIFIER', reason }))
  })
})

describe('resolve() refuses invalid input before any network call', () => {
  const calls: string[] = []
  const lookups: string[] = []
  const transport: TransportFetch = async (url) => {
    calls.push(url)
    throw new Error('no request may be sent in this test')
  }
  const resolvers = {
    'with a handle resolver': createIdentityResolver({
      plcUrl: 'http://127.0.0.1:9',
      handleResolverUrl: 'http://127.0.0.1:9',
      allowPrivateNetwork: false,
      fetch: transport,
      lookup: async (host) => {
        lookups.push(host)
        throw new Error('no lookup may happen in this test')
      },
      timeoutMs: 1000,
      cacheTtlMs: 60_000,
    }),
    'with DNS handle resolution': createIdentityResolver({
      plcUrl: 'http://127.0.0.1:9',
      allowPrivateNetwork: false,
      fetch: transport,
      timeoutMs: 1000,
      cacheTtlMs: 60_000,
    }),
  }
  const invalid = [
    ...syntaxVectors('handle_syntax_invalid'),
    ...syntaxVectors('atidentifier_syntax_invalid'),
    // Valid as a handle, so it would be looked up; listed in the test above.
    ...syntaxVectors('did_syntax_invalid').filter((v) => v !== 'did.method.val'),
    // Valid syntax that still cannot be resolved.
    'did:method:val',
    'did:plc:short',
    'laptop.local',
  ]

  for (const [name, resolver] of Object.entries(resolvers)) {
    it(`${name}: every invalid vector rejects with InvalidIdentifierError and zero fetches`, async () => {
      for (const input of invalid) {
        await expect(resolver.resolve(input), JSON.stringify(input)).rejects.toBeInstanceOf(InvalidIdentifierError)
      }
      expect(calls).toEqual([])
      expect(lookups).toEqual([])
    })
  }
})

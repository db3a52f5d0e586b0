import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LexiconDoc } from '@atproto/lexicon'
import { describe, expect, it } from 'vitest'
import { generateLexiconTypes } from './lexicon-codegen.js'
import { createLexiconSet, lexicons, loadLexicons, LEXICONS_DIR, NSID, offerRkey, parseLexicon, validateRecord } from './lexicons.js'
import { fixturePath } from './testing/fixtures.js'

const LEX = fixturePath('interop/lexicon')
const read = <T>(name: string): T => JSON.parse(readFileSync(join(LEX, name), 'utf8')) as T

describe('interop lexicon vectors (atproto-interop-tests)', () => {
  // The record vectors validate against catalog/record.json alone. It is added as is: it uses an
  // inline object property, which @atproto/lexicon 0.7's strict schema parser predates (its
  // validator handles it).
  const set = createLexiconSet([read<LexiconDoc>(join('catalog', 'record.json'))])

  it('parses every valid schema and refuses every invalid one', () => {
    const valid = read<Array<{ name: string; lexicon: unknown }>>('lexicon-valid.json')
    const invalid = read<Array<{ name: string; lexicon: unknown }>>('lexicon-invalid.json')
    expect(valid.length).toBeGreaterThan(0)
    for (const c of valid) expect(() => parseLexicon(c.lexicon), c.name).not.toThrow()
    for (const c of invalid) expect(() => parseLexicon(c.lexicon), c.name).toThrow(expect.objectContaining({ code: 'ERR_INVALID_RECORD' }))
  })

  it('accepts every valid record and refuses every invalid one with a reason', () => {
    const valid = read<Array<{ name: string; data: unknown }>>('record-data-valid.json')
    const invalid = read<Array<{ name: string; data: unknown }>>('record-data-invalid.json')
    expect(invalid.length).toBe(50)
    for (const c of valid) expect(() => set.validateRecord('example.lexicon.record', c.data), c.name).not.toThrow()
    for (const c of invalid) {
      expect(() => set.validateRecord('example.lexicon.record', c.data), c.name).toThrow(/^Not a valid example\.lexicon\.record record: ./)
    }
  })
})

describe('P2PDS lexicons', () => {
  it('loads every schema in lexicons/, including the four of PROTOCOL.md', () => {
    const set = lexicons()
    for (const nsid of Object.values(NSID)) expect(set.nsids).toContain(nsid)
    expect(set.doc(NSID.peer)?.defs.main?.type).toBe('record')
  })

  it('validates offers, and returns them in lex form with $type', () => {
    const offer = validateRecord(NSID.offer, { subject: 'did:plc:abc', createdAt: '2026-11-29T07:00:00.000Z', intervalSec: 600 })
    expect(offer.$type).toBe(NSID.offer)
    expect(offer.intervalSec).toBe(600)
    expect(() => validateRecord(NSID.offer, { subject: 'not a did', createdAt: '2026-11-29T07:00:00.000Z' })).toThrow(/subject must be a valid did/)
    expect(() => validateRecord(NSID.offer, { subject: 'did:plc:abc' })).toThrow(/createdAt/)
    expect(() => validateRecord(NSID.offer, { subject: 'did:plc:abc', createdAt: '2026-11-29T07:00:00.000Z', intervalSec: 1 })).toThrow(/intervalSec/)
    expect(() => validateRecord(NSID.offer, { $type: NSID.consent, subject: 'did:plc:abc', createdAt: '2026-11-29T07:00:00.000Z' })).toThrow(/\$type/)
  })

  it('validates peer and consent records and the notifyOffer input', () => {
    expect(validateRecord(NSID.peer, { multiaddrs: [], endpoint: 'https://node.example', createdAt: '2026-11-29T07:00:00.000Z' }).multiaddrs).toEqual([])
    expect(() => validateRecord(NSID.peer, { multiaddrs: 'x', createdAt: '2026-11-29T07:00:00.000Z' })).toThrow(/multiaddrs/)
    expect(() => validateRecord(NSID.consent, { createdAt: 'yesterday' })).toThrow(/createdAt/)
    const input = { offerer: 'did:plc:a', subject: 'did:plc:b', uri: 'at://did:plc:a/org.p2pds.replication.offer/did-plc-b' }
    expect(lexicons().validateInput(NSID.notifyOffer, input)).toEqual(input)
    expect(() => lexicons().validateInput(NSID.notifyOffer, { ...input, uri: 'nope' })).toThrow(/uri/)
  })

  it('names offers by their subject (colons become hyphens)', () => {
    expect(offerRkey('did:plc:abc123')).toBe('did-plc-abc123')
    expect(offerRkey('did:web:example.com')).toBe('did-web-example.com')
    // A port in a did:web is percent-encoded; `%` is not allowed in a record key.
    expect(offerRkey('did:web:localhost%3A3000')).toBeNull()
  })

  it('refuses a broken schema file in the folder with the file named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-lex-'))
    try {
      mkdirSync(join(dir, 'a'))
      writeFileSync(join(dir, 'a', 'x.json'), JSON.stringify({ lexicon: 1, id: 'one-two', defs: {} }))
      expect(() => loadLexicons(dir)).toThrow(/x\.json/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keeps core/lexicon-types.ts generated from the schemas', () => {
    const set = lexicons()
    const source = generateLexiconTypes(set.nsids.map((n) => set.doc(n)!))
    const file = join(import.meta.dirname, 'lexicon-types.ts')
    if (process.env.UPDATE_LEXICON_TYPES === '1') writeFileSync(file, source)
    expect(readFileSync(file, 'utf8'), 'run UPDATE_LEXICON_TYPES=1 npx vitest run core/lexicons.test.ts').toBe(source)
    expect(LEXICONS_DIR.endsWith('lexicons')).toBe(true)
  })
})

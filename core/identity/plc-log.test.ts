// PLC audit log validation against the upstream did-method-plc / go-didplc vectors, then tampered
// copies of a valid log.
import { readdirSync } from 'node:fs'
import { Secp256k1Keypair } from '@atproto/crypto'
import { cidForLex, encode } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-data'
import { describe, expect, it } from 'vitest'
import { PlcLogInvalidError } from '../errors.js'
import { fixturePath, readJsonFixture } from '../testing/fixtures.js'
import { validatePlcLog, type PlcAuditEntry } from './plc-log.js'

const DIR = 'did-method-plc/interop_tests/audit_log'
const files = (kind: 'valid' | 'invalid') => readdirSync(fixturePath(`${DIR}/${kind}`)).filter((f) => f.endsWith('.json'))
const load = (kind: string, file: string) => readJsonFixture<PlcAuditEntry[]>(`${DIR}/${kind}/${file}`)

/** Why each invalid vector must be refused (the rule its name says it breaks). */
const EXPECTED_REASON: Record<string, RegExp> = {
  'log_invalid_nullification_reused_key.json': /higher priority/,
  'log_invalid_nullification_too_slow.json': /72 hours/,
  'log_invalid_sig_b64_newline.json': /base64url/,
  'log_invalid_sig_b64_padding_bits.json': /padding bits/,
  'log_invalid_sig_b64_padding_chars.json': /base64url/,
  'log_invalid_sig_der.json': /not signed/,
  'log_invalid_sig_k256_high_s.json': /not signed/,
  'log_invalid_sig_p256_high_s.json': /not signed/,
  'log_invalid_update_nullified.json': /was nullified/,
  'log_invalid_update_tombstoned.json': /follows a tombstone/,
}

describe('validatePlcLog: upstream vectors', () => {
  it('has the 10 valid and 10 invalid logs', () => {
    expect(files('valid')).toHaveLength(10)
    expect(files('invalid').sort()).toEqual(Object.keys(EXPECTED_REASON).sort())
  })

  for (const file of files('valid')) {
    it(`accepts valid/${file}`, async () => {
      const log = load('valid', file)
      const summary = await validatePlcLog(log[0]!.did, log)
      expect(summary.operations).toBe(log.length)
      expect(summary.nullified).toBe(log.filter((e) => e.nullified).length)
      const last = log.filter((e) => !e.nullified).at(-1)!
      expect(summary.lastCid).toBe(last.cid)
      expect(summary.tombstoned).toBe(last.operation.type === 'plc_tombstone')
    })
  }

  for (const file of files('invalid')) {
    it(`refuses invalid/${file}`, async () => {
      const log = load('invalid', file)
      const err = await validatePlcLog(log[0]!.did, log).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PlcLogInvalidError)
      expect((err as PlcLogInvalidError).code).toBe('ERR_PLC_LOG_INVALID')
      expect((err as PlcLogInvalidError).reason).toMatch(EXPECTED_REASON[file]!)
    })
  }

  it('reads the legacy create operation as rotation keys [recovery, signing]', async () => {
    const log = load('valid', 'log_legacy_dholms.json')
    const first = await validatePlcLog(log[0]!.did, log.slice(0, 1))
    const op = log[0]!.operation
    expect(first.state).toEqual({
      rotationKeys: [op.recoveryKey, op.signingKey],
      verificationMethods: { atproto: op.signingKey },
      alsoKnownAs: ['at://dan.bsky.social'],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://bsky.social' } },
    })
    const all = await validatePlcLog(log[0]!.did, log)
    expect(all.state?.alsoKnownAs).toEqual(['at://dholms.xyz'])
  })
})

describe('validatePlcLog: tampered logs', () => {
  const log = () => structuredClone(load('valid', 'log_legacy_dholms.json'))
  const did = 'did:plc:yk4dd2qkboz2yv6tpubpc6co'

  it('refuses an operation whose content changed (CID no longer matches)', async () => {
    const l = log()
    l[2]!.operation.alsoKnownAs = ['at://mallory.example']
    await expect(validatePlcLog(did, l)).rejects.toMatchObject({ index: 2, reason: expect.stringMatching(/hashes to/) })
  })

  it('refuses a changed operation even when its CID is recomputed (signature)', async () => {
    const l = log()
    l[2]!.operation.alsoKnownAs = ['at://mallory.example']
    l[2]!.cid = (await cidForLex(l[2]!.operation as LexValue)).toString()
    l[3]!.operation.prev = l[2]!.cid
    await expect(validatePlcLog(did, l)).rejects.toMatchObject({ index: 2, reason: expect.stringMatching(/not signed by a rotation key/) })
  })

  it('refuses a log under another DID, a dropped genesis, a false nullified flag, and non-logs', async () => {
    await expect(validatePlcLog('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', log().map((e) => ({ ...e, did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' })))).rejects.toMatchObject({
      reason: expect.stringMatching(/genesis operation is that of did:plc:yk4dd2qkboz2yv6tpubpc6co/),
    })
    await expect(validatePlcLog(did, log().slice(1))).rejects.toMatchObject({ reason: expect.stringMatching(/first operation has a prev/) })
    const flagged = log()
    flagged[1]!.nullified = true
    await expect(validatePlcLog(did, flagged)).rejects.toMatchObject({ index: 1, reason: expect.stringMatching(/marked nullified/) })
    await expect(validatePlcLog(did, [])).rejects.toBeInstanceOf(PlcLogInvalidError)
    await expect(validatePlcLog(did, { ops: [] })).rejects.toBeInstanceOf(PlcLogInvalidError)
    await expect(validatePlcLog('did:web:example.com', log())).rejects.toBeInstanceOf(PlcLogInvalidError)
  })

  it('accepts an update signed by a rotation key, refuses one signed by a stranger', async () => {
    const rotation = await Secp256k1Keypair.create()
    const stranger = await Secp256k1Keypair.create()
    const sign = async (key: Secp256k1Keypair, op: Record<string, unknown>) => ({ ...op, sig: Buffer.from(await key.sign(encode(op as LexValue))).toString('base64url') })
    const genesis = await sign(rotation, {
      type: 'plc_operation',
      rotationKeys: [rotation.did()],
      verificationMethods: { atproto: rotation.did() },
      alsoKnownAs: ['at://alice.example'],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example' } },
      prev: null,
    })
    const { base32 } = await import('multiformats/bases/base32')
    const { sha256 } = await import('../storage/cid.js')
    const newDid = `did:plc:${base32.baseEncode(sha256(encode(genesis as LexValue))).slice(0, 24)}`
    const entry = async (op: Record<string, unknown>, at: string): Promise<PlcAuditEntry> => ({
      did: newDid,
      operation: op,
      cid: (await cidForLex(op as LexValue)).toString(),
      nullified: false,
      createdAt: at,
    })
    const g = await entry(genesis, '2026-01-01T00:00:00.000Z')
    const update = { ...genesis, alsoKnownAs: ['at://alice2.example'], prev: g.cid }
    delete (update as { sig?: string }).sig
    const good = await entry(await sign(rotation, update), '2026-01-02T00:00:00.000Z')
    const bad = await entry(await sign(stranger, update), '2026-01-02T00:00:00.000Z')
    expect((await validatePlcLog(newDid, [g, good])).state?.alsoKnownAs).toEqual(['at://alice2.example'])
    await expect(validatePlcLog(newDid, [g, bad])).rejects.toMatchObject({ index: 1, reason: expect.stringMatching(/not signed by a rotation key in force/) })
  })
})

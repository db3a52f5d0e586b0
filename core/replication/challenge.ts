/**
 * Storage challenges: `StorageChallenge` → `StorageChallengeResponse` → `StorageChallengeResult`.
 *
 * - Generation is deterministic: the sample is drawn from a seed that is the SHA-256 of
 *   (epoch, challenger, target DID, nonce), so anyone holding the same copy can recompute it;
 *   the nonce is fresh random bytes per challenge, so a responder cannot precompute answers.
 * - L2 (block sample): the bytes of at most {@link MAX_SAMPLES} blocks of the target's repo at a
 *   commit, drawn without replacement from every block reachable from that commit.
 * - L3 (MST proof): for sampled record paths, the Merkle path from the commit to each record (a
 *   CAR from `@atproto/repo`'s `getRecords`), checked with `verifyProofs` against the commit the
 *   challenger holds and the record CIDs of its own copy.
 * - A response names the digest of the challenge it answers (which covers the nonce) and the
 *   responder's PeerID, and is signed with the responder's libp2p key; it is rejected after the
 *   challenge's deadline, for another challenge (replay, wrong nonce), from another PeerID
 *   (forwarded) or with a signature that does not verify.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readCarWithRoot, verifyProofs, type RecordCidClaim } from '@atproto/repo'
import { parseCid } from '@atproto/lex-data'
import { isValidDid, isValidTid } from '@atproto/syntax'
import { z } from 'zod'
import { InvalidChallengeError } from '../errors.js'
import { verifyPeerSignature } from '../network/peer-key.js'
import type { OrgP2pdsChallengeCreateStorageChallenge, OrgP2pdsChallengeCreateStorageChallengeResponse } from '../lexicon-types.js'
import { checkBlock } from '../storage/cid.js'

/** Most blocks (L2) or record paths (L3) one challenge may ask for; responders refuse more. */
export const MAX_SAMPLES = 64
/** Blocks sampled per L2 round by default (k); see README "Detection". */
export const DEFAULT_BLOCK_SAMPLES = 16
/** Record paths sampled per L3 round by default. */
export const DEFAULT_PATH_SAMPLES = 4
/** Time a responder has to answer, from issue to deadline, in ms. */
export const DEFAULT_DEADLINE_MS = 10_000
/** Length of an epoch (one of the generation inputs), in ms. */
export const EPOCH_MS = 60 * 60 * 1000

export type ChallengeLevel = 'L2' | 'L3'

/**
 * What a challenger asks: `org.p2pds.challenge.createStorageChallenge` (the generated lexicon
 * type), this version and a level this node knows. JSON-safe; sent as JSON over libp2p or HTTP.
 */
export type StorageChallenge = Omit<OrgP2pdsChallengeCreateStorageChallenge, 'v' | 'level'> & { v: 1; level: ChallengeLevel }

/**
 * What the responder sends back (`org.p2pds.challenge.createStorageChallenge#response`): the
 * {@link challengeDigest} answered, the blocks or proof, and a signature of
 * {@link responseSigningBytes} with the responder's libp2p key.
 */
export type StorageChallengeResponse = Omit<OrgP2pdsChallengeCreateStorageChallengeResponse, 'v'> & { v: 1 }

/** Why a challenge failed. */
export type ChallengeFailure =
  | 'unreachable'
  | 'refused'
  | 'late'
  | 'malformed'
  | 'wrong-challenge'
  | 'wrong-responder'
  | 'bad-signature'
  | 'missing-block'
  | 'corrupt-block'
  | 'bad-proof'

/** The outcome of checking one response. */
export interface StorageChallengeResult {
  ok: boolean
  /** Null when ok. */
  reason: ChallengeFailure | null
  /** One sentence a person can read. */
  message: string
  /** Blocks or paths checked. */
  samples: number
}

const did = z.string().max(2048).refine(isValidDid)
const cidString = z.string().max(256).refine((s) => {
  try {
    parseCid(s)
    return true
  } catch {
    return false
  }
})

const challengeSchema = z.strictObject({
  v: z.literal(1),
  level: z.enum(['L2', 'L3']),
  challenger: z.string().min(1).max(2048),
  target: did,
  responder: z.string().min(1).max(256),
  commit: cidString,
  rev: z.string().refine(isValidTid),
  epoch: z.number().int().nonnegative(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  deadline: z.number().int().nonnegative(),
  cids: z.array(cidString).min(1).max(MAX_SAMPLES).optional(),
  paths: z
    .array(z.string().max(1024).regex(/^[^/]+\/[^/]+$/))
    .min(1)
    .max(MAX_SAMPLES)
    .optional(),
})

const responseSchema = z.strictObject({
  v: z.literal(1),
  challenge: z.string().regex(/^[0-9a-f]{64}$/),
  responder: z.string().min(1).max(256),
  blocks: z.array(z.strictObject({ cid: z.string().max(256), bytes: z.string() })).max(MAX_SAMPLES).optional(),
  proof: z.string().optional(),
  signature: z.string().max(1024),
})

/** Parses a challenge received from a peer; refuses anything malformed with `InvalidChallengeError`. */
export function parseChallenge(value: unknown): StorageChallenge {
  const parsed = challengeSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidChallengeError(`malformed challenge (${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'rejected'})`)
  }
  const c = parsed.data as StorageChallenge
  if (c.level === 'L2' && (c.cids === undefined || c.paths !== undefined)) throw new InvalidChallengeError('an L2 challenge lists block CIDs only')
  if (c.level === 'L3' && (c.paths === undefined || c.cids !== undefined)) throw new InvalidChallengeError('an L3 challenge lists record paths only')
  return c
}

/** Parses a response; null when it is not a well-formed response. */
export function parseResponse(value: unknown): StorageChallengeResponse | null {
  const parsed = responseSchema.safeParse(value)
  return parsed.success ? (parsed.data as StorageChallengeResponse) : null
}

/** SHA-256 (hex) of the challenge's fields in a fixed order: what a response is bound to. */
export function challengeDigest(c: StorageChallenge): string {
  const canonical = JSON.stringify([
    'p2pds-challenge/1',
    c.level,
    c.challenger,
    c.target,
    c.responder,
    c.commit,
    c.rev,
    c.epoch,
    c.nonce,
    c.deadline,
    c.cids ?? null,
    c.paths ?? null,
  ])
  return createHash('sha256').update(canonical).digest('hex')
}

/** The bytes a responder signs: the challenge digest, its PeerID and a digest of what it sends. */
export function responseSigningBytes(r: Omit<StorageChallengeResponse, 'signature'>): Uint8Array {
  const payload = createHash('sha256')
    .update(JSON.stringify([r.blocks ?? null, r.proof ?? null]))
    .digest('hex')
  return new TextEncoder().encode(`p2pds-challenge-response/1\n${r.challenge}\n${r.responder}\n${payload}`)
}

/** The generation seed: SHA-256 of (epoch, challenger, target, nonce). */
export function challengeSeed(epoch: number, challenger: string, target: string, nonce: string): Uint8Array {
  return createHash('sha256').update(JSON.stringify(['p2pds-challenge-seed/1', epoch, challenger, target, nonce])).digest()
}

/**
 * `k` distinct indices in [0, n), drawn from the seed (a partial Fisher–Yates shuffle whose
 * random numbers are SHA-256(seed ‖ i)). The same seed gives the same indices.
 */
export function sampleIndices(seed: Uint8Array, n: number, k: number): number[] {
  const count = Math.min(k, n)
  const swapped = new Map<number, number>()
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const h = createHash('sha256').update(seed).update(String(i)).digest()
    // 48 bits of the hash, reduced to [i, n): the bias of a 48-bit modulo is negligible here.
    const j = i + (h.readUIntBE(0, 6) % (n - i))
    const vi = swapped.get(i) ?? i
    const vj = swapped.get(j) ?? j
    swapped.set(j, vi)
    out.push(vj)
  }
  return out
}

/** A fresh nonce: 16 random bytes, base64url. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url')
}

/** What {@link buildChallenge} needs: the generation inputs and the candidates to sample from. */
export interface BuildChallengeInit {
  level: ChallengeLevel
  challenger: string
  target: string
  responder: string
  commit: string
  rev: string
  /** Every block CID at the commit (L2) or every record path (L3), in a stable order. */
  candidates: string[]
  /** Samples wanted (k). @default DEFAULT_BLOCK_SAMPLES for L2, DEFAULT_PATH_SAMPLES for L3 */
  samples?: number
  /** @default newNonce() */
  nonce?: string
  /** @default Date.now() */
  now?: number
  /** @default DEFAULT_DEADLINE_MS */
  deadlineMs?: number
}

/** Builds a challenge: the sample is a function of (epoch, challenger, target, nonce) only. */
export function buildChallenge(init: BuildChallengeInit): StorageChallenge {
  const now = init.now ?? Date.now()
  const epoch = Math.floor(now / EPOCH_MS)
  const nonce = init.nonce ?? newNonce()
  const k = Math.min(init.samples ?? (init.level === 'L2' ? DEFAULT_BLOCK_SAMPLES : DEFAULT_PATH_SAMPLES), MAX_SAMPLES)
  const picked = sampleIndices(challengeSeed(epoch, init.challenger, init.target, nonce), init.candidates.length, k).map((i) => init.candidates[i]!)
  return {
    v: 1,
    level: init.level,
    challenger: init.challenger,
    target: init.target,
    responder: init.responder,
    commit: init.commit,
    rev: init.rev,
    epoch,
    nonce,
    deadline: now + (init.deadlineMs ?? DEFAULT_DEADLINE_MS),
    ...(init.level === 'L2' ? { cids: picked } : { paths: picked }),
  }
}

/** What the challenger knows to check a response with. */
export interface CheckResponseInit {
  /** PeerID the answer arrived from (noise-authenticated over libp2p; from the body over HTTP). */
  transportPeerId: string | null
  /** When the answer arrived (unix ms). */
  receivedAt: number
  /** L3: the record CIDs at the commit in the challenger's own copy, by path. */
  recordCids?: Map<string, string>
  /** L3: the account's signing key (did:key), to check the commit in the proof. */
  signingKey?: string
}

const fail = (reason: ChallengeFailure, message: string, samples: number): StorageChallengeResult => ({ ok: false, reason, message, samples })

/** Checks a response against the challenge; never throws. */
export async function checkResponse(challenge: StorageChallenge, raw: unknown, init: CheckResponseInit): Promise<StorageChallengeResult> {
  const samples = (challenge.cids ?? challenge.paths ?? []).length
  if (init.receivedAt > challenge.deadline) {
    return fail('late', `The answer came ${init.receivedAt - challenge.deadline} ms after the deadline.`, samples)
  }
  const r = parseResponse(raw)
  if (r === null) return fail('malformed', 'The answer is not a well-formed challenge response.', samples)
  if (r.challenge !== challengeDigest(challenge)) {
    return fail('wrong-challenge', 'The answer is for another challenge (a replayed answer, or one for another nonce).', samples)
  }
  if (r.responder !== challenge.responder || (init.transportPeerId !== null && init.transportPeerId !== r.responder)) {
    return fail('wrong-responder', `The answer is signed as ${r.responder} but ${challenge.responder} was challenged (a forwarded answer).`, samples)
  }
  const { signature, ...unsigned } = r
  if (!(await verifyPeerSignature(r.responder, responseSigningBytes(unsigned), Buffer.from(signature, 'base64')))) {
    return fail('bad-signature', `The answer's signature does not verify with ${r.responder}'s key.`, samples)
  }
  if (challenge.level === 'L2') {
    const got = new Map((r.blocks ?? []).map((b) => [b.cid, b.bytes]))
    const missing: string[] = []
    const corrupt: string[] = []
    for (const cid of challenge.cids ?? []) {
      const b64 = got.get(cid)
      if (b64 === undefined) missing.push(cid)
      else if (checkBlock(cid, Buffer.from(b64, 'base64')) !== null) corrupt.push(cid)
    }
    if (corrupt.length > 0) return fail('corrupt-block', `${corrupt.length} of ${samples} sampled blocks do not match their CID (first: ${corrupt[0]}).`, samples)
    if (missing.length > 0) return fail('missing-block', `${missing.length} of ${samples} sampled blocks were not produced (first: ${missing[0]}).`, samples)
    return { ok: true, reason: null, message: `All ${samples} sampled blocks were produced and match their CIDs.`, samples }
  }
  // L3: the proof's root must be the commit we hold, and every sampled record must be proven.
  if (r.proof === undefined || init.signingKey === undefined || init.recordCids === undefined) {
    return fail('bad-proof', 'The answer carries no MST proof.', samples)
  }
  const car = Buffer.from(r.proof, 'base64')
  try {
    const { root } = await readCarWithRoot(car)
    if (root.toString() !== challenge.commit) return fail('bad-proof', `The proof starts at commit ${root.toString()}, not ${challenge.commit}.`, samples)
    const claims: RecordCidClaim[] = (challenge.paths ?? []).map((p) => {
      const [collection, rkey] = p.split('/') as [string, string]
      const cid = init.recordCids!.get(p)
      return { collection, rkey, cid: cid === undefined ? null : parseCid(cid) }
    })
    const { unverified } = await verifyProofs(car, claims, challenge.target, init.signingKey)
    if (unverified.length > 0) {
      const u = unverified[0]!
      return fail('bad-proof', `${unverified.length} of ${samples} record proofs do not verify (first: ${u.collection}/${u.rkey}).`, samples)
    }
  } catch (err) {
    return fail('bad-proof', `The MST proof does not verify: ${err instanceof Error ? err.message : String(err)}.`, samples)
  }
  return { ok: true, reason: null, message: `Merkle paths from commit ${challenge.commit} to all ${samples} sampled records verify.`, samples }
}

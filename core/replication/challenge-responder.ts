/**
 * The responder's side of a storage challenge: checks the challenge is well formed, addressed to
 * this node and not past its deadline, gathers the sampled blocks (L2) or the Merkle paths to the
 * sampled records (L3, `@atproto/repo`'s `getRecords` over the block store) and signs the answer
 * with this node's libp2p key. Served over `/p2pds/challenge/1.0.0` and
 * `POST /xrpc/org.p2pds.challenge.create`.
 */
import { getRecords } from '@atproto/repo'
import { parseCid } from '@atproto/lex-data'
import { InvalidChallengeError } from '../errors.js'
import type { BlockStore } from '../storage/types.js'
import { BlockStoreReader } from './blockstore-reader.js'
import { challengeDigest, parseChallenge, responseSigningBytes, type StorageChallenge, type StorageChallengeResponse } from './challenge.js'

/** What a responder needs. */
export interface ChallengeResponderInit {
  /** Where the blocks are read from. */
  blocks: BlockStore
  /** This node's PeerID (challenges addressed to another are refused). */
  peerId: string
  /** Signs with this node's libp2p key. */
  sign(data: Uint8Array): Promise<Uint8Array>
  /** @default Date.now */
  now?: () => number
}

/** Answers one challenge (given as parsed JSON). Rejects with `InvalidChallengeError`. */
export async function answerChallenge(init: ChallengeResponderInit, raw: unknown): Promise<StorageChallengeResponse> {
  const challenge = parseChallenge(raw)
  const now = (init.now ?? Date.now)()
  if (challenge.responder !== init.peerId) throw new InvalidChallengeError(`it is addressed to ${challenge.responder}, not to this node (${init.peerId})`)
  if (now > challenge.deadline) throw new InvalidChallengeError('its deadline has passed')
  const unsigned: Omit<StorageChallengeResponse, 'signature'> = {
    v: 1,
    challenge: challengeDigest(challenge),
    responder: init.peerId,
    ...(challenge.level === 'L2' ? { blocks: await sampledBlocks(init.blocks, challenge) } : proofOrNothing(await proof(init.blocks, challenge))),
  }
  const signature = Buffer.from(await init.sign(responseSigningBytes(unsigned))).toString('base64')
  return { ...unsigned, signature }
}

async function sampledBlocks(blocks: BlockStore, c: StorageChallenge): Promise<Array<{ cid: string; bytes: string }>> {
  const found = await blocks.getBlocks(c.cids ?? [])
  // Only what is held: a missing block is left out, and the challenger counts it missing.
  return [...found.blocks].map(([cid, bytes]) => ({ cid, bytes: Buffer.from(bytes).toString('base64') }))
}

/** The proof CAR, or null when a block on a path is not held (the challenger sees no proof). */
async function proof(blocks: BlockStore, c: StorageChallenge): Promise<Uint8Array | null> {
  const paths = (c.paths ?? []).map((p) => {
    const [collection, rkey] = p.split('/') as [string, string]
    return { collection, rkey }
  })
  try {
    const chunks: Uint8Array[] = []
    for await (const chunk of getRecords(new BlockStoreReader(blocks), parseCid(c.commit), paths)) chunks.push(chunk)
    return Buffer.concat(chunks)
  } catch {
    return null
  }
}

function proofOrNothing(car: Uint8Array | null): { proof?: string } {
  return car === null ? {} : { proof: Buffer.from(car).toString('base64') }
}

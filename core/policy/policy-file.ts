/**
 * Config policies: `REPLICATE_DIDS` and the JSON file named by `POLICY_FILE`, read at start.
 *
 * POLICY_FILE format: `{ "policies": [ { "did": "did:plc:…", "intervalSec": 600,
 * "minCopies": 2, "retentionDays": 30, "preferredPeers": ["12D3Koo…"] } ] }` (only `did` is
 * required). Anything else is refused with one line naming the entry and the field.
 */
import { isValidDid } from '@atproto/syntax'
import { z } from 'zod'
import { PolicyError } from '../errors.js'
import type { Policy } from './types.js'

const entry = z.strictObject({
  did: z.string().refine(isValidDid, 'not a valid DID'),
  intervalSec: z.number().int().min(60).optional(),
  minCopies: z.number().int().min(1).max(100).optional(),
  retentionDays: z.number().int().min(0).optional(),
  preferredPeers: z.array(z.string().min(1).max(128)).max(64).optional(),
})
const file = z.strictObject({ policies: z.array(entry).max(100_000) })

/** The config policies of a POLICY_FILE's text (`source` names it in errors). Throws {@link PolicyError}. */
export function parsePolicyFile(text: string, source: string, now: number): Policy[] {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new PolicyError(`POLICY_FILE ${source} is not valid JSON: ${(err as Error).message}`)
  }
  const parsed = file.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new PolicyError(`POLICY_FILE ${source}: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}.`)
  }
  return parsed.data.policies.map((p) => configPolicy(p.did, now, p))
}

/** The config policies of REPLICATE_DIDS. */
export function replicateDidsPolicies(dids: readonly string[], now: number): Policy[] {
  return dids.map((did) => configPolicy(did, now))
}

function configPolicy(did: string, now: number, p: { intervalSec?: number; minCopies?: number; retentionDays?: number; preferredPeers?: string[] } = {}): Policy {
  return {
    id: `config:${did}`,
    type: 'config',
    did,
    localDid: null,
    state: 'active',
    consent: 'unconsented',
    minCopies: p.minCopies ?? null,
    intervalSec: p.intervalSec ?? null,
    retentionDays: p.retentionDays ?? null,
    preferredPeers: p.preferredPeers ?? [],
    purgeAt: null,
    createdAt: now,
    updatedAt: now,
  }
}

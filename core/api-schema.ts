/**
 * Runtime input validation for every API method, used by every binding (IPC, local HTTP API,
 * CLI) before a call reaches the node. Keyed by method name; `tsc` fails if one is missing.
 */
import { isAbsolute } from 'node:path'
import { isValidDid, isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import type { ApiInput, ApiMethodName, HOST_METHODS, P2pdsHostApi } from './api.js'
import { POLICY_LIMITS } from './policy/types.js'
import { SETTINGS_UPDATE_SCHEMA } from './settings-schema.js'

const noInput = z.undefined()

const did = z.string().max(2048).refine(isValidDid, 'not a valid DID (expected did:plc:… or did:web:…)')
const nsid = z.string().max(317).refine(isValidNsid, 'not a valid collection NSID (e.g. app.bsky.feed.post)')
const rkey = z.string().max(512).refine(isValidRecordKey, 'not a valid record key')
const rev = z.string().refine(isValidTid, 'not a valid rev (a TID such as 3ljlyqit2uk2l)')
const cid = z.string().max(256).refine((s) => {
  try {
    CID.parse(s)
    return true
  } catch {
    return false
  }
}, 'not a valid CID')
const plcDid = z.string().max(64).regex(/^did:plc:[a-z2-7]{24}$/, 'not a did:plc DID (did:plc: and 24 characters a–z, 2–7)')
const absolutePath = z.string().min(1).max(4096).refine(isAbsolute, 'must be an absolute path')

const didKey = z.string().max(256).regex(/^did:key:z[1-9A-HJ-NP-Za-km-z]+$/, 'not a did:key')
const restorePlan = z.strictObject({
  did,
  to: z.string().trim().max(2048).refine((u) => /^https?:\/\/[^/]/.test(u), 'not an http(s) URL'),
  rotationKey: z.string().trim().min(1).max(1024),
  handle: z.string().trim().min(3).max(253).optional(),
  email: z.string().trim().min(3).max(320).optional(),
  inviteCode: z.string().trim().min(1).max(256).optional(),
})

/** A whole number in a policy's range, or null (back to the default); PeerIDs are parsed by the node, which names a bad one. */
function policyNumber(range: { min: number; max: number }, unit: string) {
  const says = `a whole number of ${unit} from ${range.min} to ${range.max}, or null for the default`
  return z.number({ error: says }).int(says).min(range.min, says).max(range.max, says).nullable().optional()
}
const policyUpdate = z.strictObject({
  id: z.string().trim().min(1).max(4200),
  intervalSec: policyNumber(POLICY_LIMITS.intervalSec, 'seconds'),
  minCopies: policyNumber(POLICY_LIMITS.minCopies, 'copies'),
  retentionDays: policyNumber(POLICY_LIMITS.retentionDays, 'days'),
  preferredPeers: z.array(z.string().trim().min(1).max(256)).max(POLICY_LIMITS.preferredPeers, `at most ${POLICY_LIMITS.preferredPeers} PeerIDs`).optional(),
})

export const API_INPUT_SCHEMAS: { [N in ApiMethodName]: z.ZodType<ApiInput<N>> } = {
  'node.status': noInput,
  'node.info': noInput,
  'accounts.list': noInput,
  'accounts.get': z.strictObject({ did }),
  // Syntax of handles and DIDs is checked by the resolver, which explains what is wrong.
  'accounts.add': z.strictObject({ handleOrDid: z.string().trim().min(1).max(2048) }),
  'accounts.sync': z.strictObject({ did }),
  'accounts.remove': z.strictObject({ did }),
  'accounts.verify': z.strictObject({ did }),
  'records.collections': z.strictObject({ did, rev: rev.optional() }),
  'records.list': z.strictObject({
    did,
    collection: nsid,
    rev: rev.optional(),
    cursor: z.string().max(1024).optional(),
    limit: z.number().int().min(1).max(500).optional(),
  }),
  'records.get': z.strictObject({ did, collection: nsid, rkey, rev: rev.optional() }),
  'blobs.get': z.strictObject({ did, cid }),
  'sync.pause': z.strictObject({ did: did.optional() }).optional(),
  'sync.resume': z.strictObject({ did: did.optional() }).optional(),
  'sync.state': noInput,
  'export.car': z.strictObject({ did, path: absolutePath, rev: rev.optional() }),
  'export.blobs': z.strictObject({ did, dir: absolutePath }),
  // Handle syntax is checked by the resolver, which explains what is wrong.
  'auth.login': z.strictObject({ handle: z.string().trim().min(1).max(2048) }),
  'auth.loginAppPassword': z.strictObject({ identifier: z.string().trim().min(1).max(2048), password: z.string().min(1).max(1024) }),
  'auth.status': noInput,
  'auth.list': noInput,
  'auth.logout': z.strictObject({ did }),
  'offers.list': noInput,
  'offers.offer': z.strictObject({
    target: z.string().trim().min(1).max(2048),
    as: z.string().trim().min(1).max(2048).optional(),
    intervalSec: z.number().int().min(60).max(31_536_000).optional(),
    minCopies: z.number().int().min(1).max(100).optional(),
    retentionDays: z.number().int().min(0).max(36_500).optional(),
  }),
  'offers.accept': z.strictObject({ did, as: z.string().trim().min(1).max(2048).optional() }),
  'offers.deny': z.strictObject({ did, as: z.string().trim().min(1).max(2048).optional() }),
  'offers.revoke': z.strictObject({ did, as: z.string().trim().min(1).max(2048).optional() }),
  'offers.check': noInput,
  'offers.purgeNow': z.strictObject({ did }),
  'offers.consent': z.strictObject({ on: z.boolean(), as: z.string().trim().min(1).max(2048).optional() }),
  'offers.archive': z.strictObject({ handleOrDid: z.string().trim().min(1).max(2048) }),
  'policies.list': noInput,
  'policies.update': policyUpdate,
  'groups.list': noInput,
  'groups.create': z.strictObject({ name: z.string().min(1).max(256), members: z.array(z.string().trim().min(1).max(2048)).min(1).max(256) }),
  'groups.remove': z.strictObject({ name: z.string().min(1).max(256) }),
  'groups.join': z.strictObject({ name: z.string().min(1).max(256), as: z.string().trim().min(1).max(2048).optional() }),
  'settings.get': noInput,
  'settings.update': SETTINGS_UPDATE_SCHEMA,
  'plc.list': noInput,
  'plc.getLog': z.strictObject({ did: plcDid }),
  'plc.refresh': z.strictObject({ did: plcDid }),
  'lexicons.list': z
    .strictObject({
      q: z.string().max(317).regex(/^[A-Za-z0-9.-]*$/, 'letters, digits, dots and hyphens only (the start of an NSID)').optional(),
      limit: z.number().int().min(1).max(1000).optional(),
      cursor: z.string().max(400).optional(),
    })
    .optional(),
  'lexicons.stats': noInput,
  'recovery.listRotationKeys': z.strictObject({ did }),
  'recovery.newRotationKey': z.strictObject({ did: did.optional() }).optional(),
  'recovery.importRotationKey': z.strictObject({ key: z.string().min(1).max(1024), did: did.optional() }),
  'recovery.addRotationKey': z.strictObject({ did, didKey, token: z.string().trim().min(1).max(256).optional(), password: z.string().min(1).max(1024).optional() }),
  'recovery.restorePlan': restorePlan,
  'recovery.restoreStart': restorePlan.extend({ email: z.string().trim().min(3).max(320), password: z.string().min(8).max(256) }),
  'recovery.restoreStatus': z.strictObject({ did }),
  'recovery.exportKit': z.strictObject({ did, dir: absolutePath }),
  // Multiaddr and endpoint syntax is checked by the peer directory, which says what is wrong.
  'peers.list': noInput,
  'peers.add': z
    .strictObject({ multiaddr: z.string().trim().min(1).max(1024).optional(), endpoint: z.string().trim().min(1).max(2048).optional(), dids: z.array(did).max(1000).optional() })
    .refine((i) => i.multiaddr !== undefined || i.endpoint !== undefined, 'give a multiaddr or an endpoint URL'),
  'peers.remove': z.strictObject({ id: z.number().int().positive() }),
  'peers.challenge': z.strictObject({ did, peer: z.number().int().positive().optional() }),
  'peers.history': z.strictObject({ did: did.optional(), peer: z.number().int().positive().optional(), limit: z.number().int().min(1).max(500).optional() }).optional(),
}

/** Input validation for the host's methods (Electron main checks IPC input with these). */
export const HOST_INPUT_SCHEMAS: { [M in (typeof HOST_METHODS)[number]]: z.ZodType<Parameters<P2pdsHostApi[M]>[0]> } = {
  saveCar: z.strictObject({ did, rev: rev.optional() }),
  saveBlobs: z.strictObject({ did }),
  settings: noInput,
  setLaunchAtLogin: z.strictObject({ enabled: z.boolean() }),
  openDataFolder: noInput,
}

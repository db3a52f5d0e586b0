/**
 * Runtime input validation for every API method, used by every binding (IPC, local HTTP API,
 * CLI) before a call reaches the node. Keyed by method name; `tsc` fails if one is missing.
 */
import { isAbsolute } from 'node:path'
import { isValidDid, isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import type { ApiInput, ApiMethodName, HOST_METHODS, P2pdsHostApi } from './api.js'

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
const absolutePath = z.string().min(1).max(4096).refine(isAbsolute, 'must be an absolute path')

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
}

/** Input validation for the host's methods (Electron main checks IPC input with these). */
export const HOST_INPUT_SCHEMAS: { [M in (typeof HOST_METHODS)[number]]: z.ZodType<Parameters<P2pdsHostApi[M]>[0]> } = {
  saveCar: z.strictObject({ did, rev: rev.optional() }),
  saveBlobs: z.strictObject({ did }),
}

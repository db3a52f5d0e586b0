/**
 * A read-only mirror of the accounts this node holds: the four `com.atproto.sync` methods a client
 * needs to copy a repository and its blobs, answered from the local backup as a PDS would answer
 * them. Another node can sync from it with the same code it uses for a PDS (`syncRepo`,
 * `syncBlobs` with `pdsUrl` = this server).
 *
 * - `getRepo?did=[&since=]`: a CAR of the head (root = head commit), streamed as it is read from
 *   the store (`exportCar`). With `since` naming a revision this node keeps, only what the head
 *   adds to it (`exportDiffCar`, as a PDS answers); with any other `since` the whole repository, a
 *   superset of the diff, which clients (ours and `@atproto/repo`'s `verifyDiff`) accept.
 * - `getLatestCommit?did=`: `{cid, rev}` of the head.
 * - `listBlobs?did=[&limit=][&cursor=]`: CIDs of the blobs stored for the account (not the ones
 *   still pending or failed), in CID order; `limit` 1–1000 (default 500); the cursor is the last
 *   CID of the page. `since` is ignored (every stored blob is listed), again a superset.
 * - `getBlob?did=&cid=`: the bytes, with the stored MIME type (else `application/octet-stream`),
 *   Content-Length, and the headers a PDS sends so a browser never runs a blob as a page:
 *   `X-Content-Type-Options: nosniff`, `Content-Security-Policy: default-src 'none'; sandbox`,
 *   `Content-Disposition: attachment`.
 *
 * Errors have atproto's shape, `{error, message}`: 400 `InvalidRequest` for a missing or
 * malformed parameter (DID, CID, TID syntax; limit), 404 `RepoNotFound` for an account the node
 * does not hold (or has not synced yet), 404 `BlobNotFound` for a blob it has not stored.
 */
import { parseCidSafe } from '@atproto/lex-data'
import { isValidDid, isValidTid } from '@atproto/syntax'
import type { Context, Env, Hono } from 'hono'
import { exportCar, exportDiffCar } from '../replication/export.js'
import type { AccountState, RepoStorage } from '../storage/types.js'
import { xrpcError } from './peer-server.js'

/** The XRPC methods {@link mountSyncMirror} adds. */
export const SYNC_MIRROR_METHODS = [
  'com.atproto.sync.getRepo',
  'com.atproto.sync.getLatestCommit',
  'com.atproto.sync.listBlobs',
  'com.atproto.sync.getBlob',
] as const

/** Most CIDs one `listBlobs` page returns (the lexicon's maximum). */
export const LIST_BLOBS_MAX_LIMIT = 1000

const LIST_BLOBS_DEFAULT_LIMIT = 500

/** A MIME type we are willing to echo in Content-Type (anything else is sent as octet-stream). */
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i

/**
 * Adds the read-only sync methods to a peer-facing app (`createPeerApp`), serving the accounts in
 * `storage`. Mount it before the app listens; the app's rate and body limits apply.
 */
export function mountSyncMirror<E extends Env>(app: Hono<E>, storage: RepoStorage): void {
  const { repos } = storage

  /** The DID parameter, checked; or the 400 to send. */
  const didParam = (c: Context<E>): string | Response => {
    const did = c.req.query('did')
    if (did === undefined || did === '') return invalid('Parameter "did" is required.')
    if (!isValidDid(did)) return invalid(`Parameter "did" is not a valid DID: ${JSON.stringify(did.slice(0, 200))}.`)
    return did
  }

  /** The account with a synced head; or the 404 to send. */
  const syncedAccount = async (did: string, signal: AbortSignal): Promise<AccountState | Response> => {
    const account = await repos.getAccount(did, { signal })
    if (account === null || account.head === null) return repoNotFound(did)
    return account
  }

  app.get('/xrpc/com.atproto.sync.getLatestCommit', async (c) => {
    const did = didParam(c)
    if (did instanceof Response) return did
    const account = await syncedAccount(did, c.req.raw.signal)
    if (account instanceof Response) return account
    return c.json({ cid: account.head!.cid, rev: account.head!.rev })
  })

  app.get('/xrpc/com.atproto.sync.getRepo', async (c) => {
    const did = didParam(c)
    if (did instanceof Response) return did
    const since = c.req.query('since')
    if (since !== undefined && !isValidTid(since)) return invalid('Parameter "since" is not a valid revision (TID).')
    const account = await syncedAccount(did, c.req.raw.signal)
    if (account instanceof Response) return account

    // The export stops when the client goes away (the request's signal) or cancels the stream.
    const abort = new AbortController()
    const onClientGone = () => abort.abort()
    c.req.raw.signal.addEventListener('abort', onClientGone, { once: true })
    const stop = () => {
      c.req.raw.signal.removeEventListener('abort', onClientGone)
      abort.abort()
    }
    // A diff from a revision this node keeps, as a PDS answers `since`; else the whole repository.
    const diff = since === undefined ? null : await exportDiffCar(storage, did, since, { signal: abort.signal })
    const exported = diff ?? (await exportCar(storage, did, { rev: account.head!.rev, signal: abort.signal }))
    const chunks = exported.car[Symbol.asyncIterator]()
    // Read the first chunk (the header and commit block) before answering, so a backup that cannot
    // be read fails with a status rather than with a 200 cut short.
    let first: IteratorResult<Uint8Array>
    try {
      first = await chunks.next()
    } catch (err) {
      stop()
      throw err
    }
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (first.done === true) {
          stop()
          controller.close()
        } else {
          controller.enqueue(first.value)
        }
      },
      async pull(controller) {
        try {
          const next = await chunks.next()
          if (next.done === true) {
            stop()
            controller.close()
          } else {
            controller.enqueue(next.value)
          }
        } catch (err) {
          // The response is already under way: erroring the stream breaks the connection off, so
          // the client sees an incomplete CAR rather than a short one that looks whole.
          stop()
          controller.error(err)
        }
      },
      async cancel() {
        stop()
        await chunks.return?.()
      },
    })
    return new Response(body, { status: 200, headers: { 'content-type': 'application/vnd.ipld.car' } })
  })

  app.get('/xrpc/com.atproto.sync.listBlobs', async (c) => {
    const did = didParam(c)
    if (did instanceof Response) return did
    const limitText = c.req.query('limit')
    let limit = LIST_BLOBS_DEFAULT_LIMIT
    if (limitText !== undefined) {
      limit = /^\d{1,5}$/.test(limitText) ? Number(limitText) : NaN
      if (!(limit >= 1 && limit <= LIST_BLOBS_MAX_LIMIT)) {
        return invalid(`Parameter "limit" must be a whole number from 1 to ${LIST_BLOBS_MAX_LIMIT}.`)
      }
    }
    const cursor = c.req.query('cursor')
    if (cursor !== undefined && cursor !== '' && parseCid(cursor) === null) return invalid('Parameter "cursor" is not a CID.')
    const since = c.req.query('since')
    if (since !== undefined && !isValidTid(since)) return invalid('Parameter "since" is not a valid revision (TID).')
    const signal = c.req.raw.signal
    if ((await repos.getAccount(did, { signal })) === null) return repoNotFound(did)
    const page = await repos.listBlobs(did, { state: 'stored', after: cursor === '' ? undefined : cursor, limit, signal })
    const cids = page.map((b) => b.cid)
    return c.json(page.length === limit ? { cursor: cids.at(-1), cids } : { cids })
  })

  app.get('/xrpc/com.atproto.sync.getBlob', async (c) => {
    const did = didParam(c)
    if (did instanceof Response) return did
    const cidText = c.req.query('cid')
    if (cidText === undefined || cidText === '') return invalid('Parameter "cid" is required.')
    const parsed = parseCid(cidText)
    if (parsed === null) return invalid(`Parameter "cid" is not a valid CID: ${JSON.stringify(cidText.slice(0, 200))}.`)
    const signal = c.req.raw.signal
    if ((await repos.getAccount(did, { signal })) === null) return repoNotFound(did)
    // Blocks are keyed by the CID's canonical (base32) form.
    const cid = parsed.toString()
    const blob = await storedBlob(storage, did, cid, signal)
    if (blob === null) return xrpcError(404, 'BlobNotFound', `Blob not found: ${cid} is not stored for ${did}.`)
    const bytes = await storage.blocks.getBlock(cid, { signal })
    const mimeType = blob.mimeType !== null && MIME_TYPE.test(blob.mimeType) ? blob.mimeType : 'application/octet-stream'
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: {
        'content-type': mimeType,
        'content-length': String(bytes.byteLength),
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
        'content-disposition': `attachment; filename="${cid}"`,
      },
    })
  })
}

function invalid(message: string): Response {
  return xrpcError(400, 'InvalidRequest', message)
}

function repoNotFound(did: string): Response {
  return xrpcError(404, 'RepoNotFound', `Could not find repo for DID: ${did}.`)
}

/** A CIDv1 (the only kind atproto uses); null for anything else. */
function parseCid(text: string): { toString(): string } | null {
  const cid = parseCidSafe(text)
  return cid !== null && cid.version === 1 ? cid : null
}

/** The account's blob row for `cid` when it is `stored`, else null. */
async function storedBlob(storage: RepoStorage, did: string, cid: string, signal: AbortSignal) {
  const row = await storage.repos.getBlob(did, cid, { signal })
  return row !== null && row.state === 'stored' ? row : null
}

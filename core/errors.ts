/**
 * Errors that cross the API carry a stable `code`; hosts and the renderer match on it,
 * never on `instanceof` (class identity does not survive IPC or HTTP).
 */

/** The JSON-safe form of an error, as it crosses IPC, HTTP and `--json` output. */
export interface ErrorDto {
  name: string
  code: string
  message: string
}

/** Base class of every error a caller of the core might handle. */
export class P2pdsError extends Error {
  override name = 'P2pdsError'
  readonly code: string = 'ERR_P2PDS'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A configuration value (flag, environment variable or `.env` line) is not acceptable. */
export class ConfigError extends P2pdsError {
  override name = 'ConfigError'
  override readonly code = 'ERR_CONFIG'

  constructor(
    /** The variable's name, e.g. `PORT`. */
    readonly variable: string,
    /** What was given. */
    readonly value: string,
    /** What is accepted, in words. */
    readonly accepted: string,
  ) {
    super(`Invalid ${variable}=${JSON.stringify(value)}: expected ${accepted}.`)
  }
}

/** Another process already runs a node on this data dir. */
export class DataDirLockedError extends P2pdsError {
  override name = 'DataDirLockedError'
  override readonly code = 'ERR_DATA_DIR_LOCKED'

  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `The data dir ${dataDir} is in use by another P2PDS node (pid ${pid}). ` +
        'Stop that node first, or choose another data dir with --data-dir.',
    )
  }
}

/** The database was written by a newer P2PDS than this one. */
export class SchemaTooNewError extends P2pdsError {
  override name = 'SchemaTooNewError'
  override readonly code = 'ERR_SCHEMA_TOO_NEW'

  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `The database has schema version ${found}, but this P2PDS knows versions up to ${supported}. ` +
        'Update P2PDS to open it.',
    )
  }
}

/** Input to an API method failed validation. */
export class InvalidInputError extends P2pdsError {
  override name = 'InvalidInputError'
  override readonly code = 'ERR_INVALID_INPUT'
}

/** The API method named does not exist. */
export class UnknownMethodError extends P2pdsError {
  override name = 'UnknownMethodError'
  override readonly code = 'ERR_UNKNOWN_METHOD'

  constructor(readonly method: string) {
    super(`There is no API method named ${JSON.stringify(method)}.`)
  }
}

/** An operation needs a started node. */
export class NodeNotStartedError extends P2pdsError {
  override name = 'NodeNotStartedError'
  override readonly code = 'ERR_NOT_STARTED'

  constructor() {
    super('The node is not running. Start it and try again.')
  }
}

/** The caller aborted the operation through its signal. */
export class AbortError extends P2pdsError {
  override name = 'AbortError'
  override readonly code = 'ERR_ABORTED'

  constructor(message = 'The operation was aborted.') {
    super(message)
  }
}

/** Could not reach a running node through its local API. */
export class NodeUnreachableError extends P2pdsError {
  override name = 'NodeUnreachableError'
  override readonly code = 'ERR_NODE_UNREACHABLE'
}

/** Throws {@link AbortError} when the signal has been aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new AbortError()
}

/** Turns anything thrown into the JSON-safe form; unknown errors keep a generic code. */
/** The message of anything thrown, for a sentence. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** An error a peer's handler reported, with its code (as it crossed the wire). */
export class RemoteError extends P2pdsError {
  override name = 'RemoteError'
  override readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

export function toErrorDto(err: unknown): ErrorDto {
  if (err instanceof P2pdsError) return { name: err.name, code: err.code, message: err.message }
  if (err instanceof Error) return { name: err.name, code: 'ERR_INTERNAL', message: err.message }
  return { name: 'Error', code: 'ERR_INTERNAL', message: String(err) }
}

// --- Fetching URLs that come from the network (core/network/safe-fetch.ts) ---------------------

/** Why a URL was refused before any connection was made. */
export type UnsafeUrlReason =
  | 'protocol'
  | 'credentials'
  | 'loopback'
  | 'private'
  | 'carrier-grade-nat'
  | 'link-local'
  | 'unique-local'
  | 'unspecified'
  | 'multicast'
  | 'reserved'

const UNSAFE_REASON_TEXT: Record<UnsafeUrlReason, string> = {
  protocol: 'only http and https URLs are fetched',
  credentials: 'URLs with a user name or password are not fetched',
  loopback: 'it is a loopback address (this computer)',
  private: 'it is a private-network address',
  'carrier-grade-nat': 'it is a carrier-grade NAT address (100.64.0.0/10)',
  'link-local': 'it is a link-local address',
  'unique-local': 'it is a unique-local (private) IPv6 address',
  unspecified: 'it is the unspecified address',
  multicast: 'it is a multicast address',
  reserved: 'it is a reserved or documentation address',
}

/**
 * A URL that came from the network points somewhere P2PDS does not fetch from: not http(s), or
 * a host on this computer or a private network (checked on every address the host resolves to,
 * at connect time, and on every redirect).
 */
export class UnsafeUrlError extends P2pdsError {
  override name = 'UnsafeUrlError'
  override readonly code = 'ERR_UNSAFE_URL'

  constructor(
    /** The host as written in the URL (or the scheme, for `protocol`). */
    readonly host: string,
    /** What made it unsafe. */
    readonly reason: UnsafeUrlReason,
    /** The address the host resolved to, when the refusal came from a DNS answer. */
    readonly address?: string,
  ) {
    const via = address !== undefined && address !== host ? ` (it resolves to ${address})` : ''
    const fix =
      reason === 'protocol' || reason === 'credentials'
        ? ''
        : ' If this is intended (tests, a home network), set ALLOW_PRIVATE_NETWORK=true.'
    super(`Refused to contact ${host}${via}: ${UNSAFE_REASON_TEXT[reason]}.${fix}`)
  }
}

/** A response was larger than the limit set for it (declared in Content-Length, or streamed). */
export class ResponseTooLargeError extends P2pdsError {
  override name = 'ResponseTooLargeError'
  override readonly code = 'ERR_RESPONSE_TOO_LARGE'

  constructor(
    readonly host: string,
    /** The limit, in bytes. */
    readonly maxBytes: number,
    /** The size the server declared, when it declared one. */
    readonly declaredBytes?: number,
  ) {
    const declared = declaredBytes === undefined ? '' : ` (it announced ${declaredBytes} bytes)`
    super(
      `The response from ${host} is larger than the limit of ${maxBytes} bytes${declared}, so it was not read. ` +
        'The server may be misbehaving; try again later or contact its operator.',
    )
  }
}

/** A server did not answer, or stopped sending, within the time limit. */
export class FetchTimeoutError extends P2pdsError {
  override name = 'FetchTimeoutError'
  override readonly code = 'ERR_FETCH_TIMEOUT'

  constructor(
    readonly host: string,
    readonly timeoutMs: number,
  ) {
    super(`${host} did not answer within ${formatMs(timeoutMs)}. It may be down or overloaded; try again later.`)
  }
}

/** A fetch followed more redirects than allowed. */
export class TooManyRedirectsError extends P2pdsError {
  override name = 'TooManyRedirectsError'
  override readonly code = 'ERR_TOO_MANY_REDIRECTS'

  constructor(
    /** The host that sent the last redirect. */
    readonly host: string,
    readonly maxRedirects: number,
  ) {
    super(`${host} redirected more than ${maxRedirects} times, so the request was given up. The server may be misconfigured.`)
  }
}

/** A server could not be reached (DNS failure, refused connection, TLS error, forbidden redirect). */
export class FetchFailedError extends P2pdsError {
  override name = 'FetchFailedError'
  override readonly code = 'ERR_FETCH_FAILED'

  constructor(
    readonly host: string,
    /** What went wrong, in a few words (e.g. `connection refused`). */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Could not reach ${host}: ${detail}. Check the address and your connection, then try again.`, options)
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

// --- Identity (core/identity) ------------------------------------------------------------------

/** What is wrong with an identifier, before any network call. */
export type InvalidIdentifierReason = 'syntax' | 'unsupported-did-method' | 'reserved-tld'

/** The text given is not a handle or DID that can be resolved; nothing was sent on the network. */
export class InvalidIdentifierError extends P2pdsError {
  override name = 'InvalidIdentifierError'
  override readonly code = 'ERR_INVALID_IDENTIFIER'

  constructor(
    /** What was given. */
    readonly input: string,
    readonly reason: InvalidIdentifierReason,
    /** Extra detail for `syntax` (which rule failed). */
    detail?: string,
  ) {
    const shown = JSON.stringify(input.length > 80 ? `${input.slice(0, 77)}...` : input)
    const messages: Record<InvalidIdentifierReason, string> = {
      syntax:
        `${shown} is not a valid handle or DID${detail === undefined ? '' : ` (${detail})`}. ` +
        'Enter a handle such as alice.bsky.social or a DID such as did:plc:ewvi7nxzyoun6zhxrhs64oiz.',
      'unsupported-did-method': `${shown} uses a DID method P2PDS cannot resolve. Use a did:plc or did:web DID, or the account's handle.`,
      'reserved-tld': `${shown} ends in a reserved domain (such as .local or .onion) that cannot be an account handle. Check the handle, or use the account's DID.`,
    }
    super(messages[reason])
  }
}

/** The handle or DID does not exist: it points to no DID, or the DID has no document. */
export class IdentityNotFoundError extends P2pdsError {
  override name = 'IdentityNotFoundError'
  override readonly code = 'ERR_IDENTITY_NOT_FOUND'

  constructor(
    /** The handle or DID that was looked up. */
    readonly identifier: string,
    /** Where it was looked up, in words (e.g. `the PLC directory at https://plc.directory`). */
    readonly where: string,
  ) {
    const hint = identifier.startsWith('did:')
      ? 'Check the DID; the account may have been deleted.'
      : 'Check the spelling; if the account changed its handle, use its DID instead.'
    super(`No account found for ${identifier} (looked up in ${where}). ${hint}`)
  }
}

/** What is wrong with a DID document. */
export type DidDocumentProblem = 'malformed' | 'wrong-id' | 'no-pds' | 'no-signing-key' | 'bad-signing-key' | 'unsafe-pds'

/** A DID document was found but cannot be used: malformed, or missing the PDS or signing key. */
export class DidDocumentError extends P2pdsError {
  override name = 'DidDocumentError'
  override readonly code = 'ERR_DID_DOCUMENT'

  constructor(
    readonly did: string,
    readonly problem: DidDocumentProblem,
    /** Extra detail, a short phrase. */
    detail?: string,
    options?: { cause?: unknown },
  ) {
    const extra = detail === undefined ? '' : ` (${detail})`
    const messages: Record<DidDocumentProblem, string> = {
      malformed: `The DID document of ${did} is malformed${extra}. The account's identity is broken; its owner must repair it.`,
      'wrong-id': `The document served for ${did} describes another DID${extra}. The directory or host serving it is misbehaving; try again later.`,
      'no-pds': `The DID document of ${did} names no PDS (no valid #atproto_pds service)${extra}, so its data cannot be fetched. The account may be deactivated or being moved; try again later.`,
      'no-signing-key': `The DID document of ${did} has no signing key (#atproto)${extra}, so its repository cannot be verified. The account may be deactivated or being moved; try again later.`,
      'bad-signing-key': `The signing key in the DID document of ${did} cannot be read${extra}, so its repository cannot be verified. Its owner must repair the identity.`,
      'unsafe-pds': `The DID document of ${did} names a PDS that P2PDS will not contact. ${detail ?? ''}`.trim(),
    }
    super(messages[problem], options)
  }
}

/** An identity could not be resolved right now (directory or server unreachable, timed out, error). */
export class IdentityUnavailableError extends P2pdsError {
  override name = 'IdentityUnavailableError'
  override readonly code = 'ERR_IDENTITY_UNAVAILABLE'

  constructor(
    readonly identifier: string,
    /** Where it was being looked up, in words. */
    readonly where: string,
    /** What went wrong, a short phrase (e.g. `it did not answer within 10 s`). */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Could not look up ${identifier} in ${where} right now: ${detail}. Check your connection and try again later.`, options)
  }
}

// --- Blocks, repositories and sync (core/storage, core/replication) --------------------------

/** A block that was asked for is not in the block store. */
export class MissingBlockError extends P2pdsError {
  override name = 'MissingBlockError'
  override readonly code = 'ERR_MISSING_BLOCK'

  constructor(
    /** The CID that is not stored. */
    readonly cid: string,
  ) {
    super(`Block ${cid} is not in the local store.`)
  }
}

/** Why bytes offered to a block store were refused. */
export type InvalidBlockReason = 'malformed-cid' | 'unsupported-cid' | 'hash-mismatch'

/** Bytes offered to a block store do not belong under the CID given with them; nothing was stored. */
export class InvalidBlockError extends P2pdsError {
  override name = 'InvalidBlockError'
  override readonly code = 'ERR_INVALID_BLOCK'

  constructor(
    readonly cid: string,
    readonly reason: InvalidBlockReason,
  ) {
    const shown = cid.length > 80 ? `${cid.slice(0, 77)}...` : cid
    const messages: Record<InvalidBlockReason, string> = {
      'malformed-cid': `${JSON.stringify(shown)} is not a CID in the form P2PDS stores (CIDv1, base32), so no block was stored under it.`,
      'unsupported-cid': `CID ${shown} is not a CIDv1 with a SHA-256 hash and dag-cbor or raw codec (the only kind atproto uses), so no block was stored under it.`,
      'hash-mismatch': `The bytes given for block ${shown} do not hash to that CID, so they were not stored.`,
    }
    super(messages[reason])
  }
}

/** A block cannot be deleted directly because a backed-up account still references it. */
export class BlockInUseError extends P2pdsError {
  override name = 'BlockInUseError'
  override readonly code = 'ERR_BLOCK_IN_USE'

  constructor(readonly cid: string) {
    super(`Block ${cid} belongs to a backed-up account and was not deleted. Remove the account or prune its history instead.`)
  }
}

/** The account is not in this node's backups. */
export class UnknownAccountError extends P2pdsError {
  override name = 'UnknownAccountError'
  override readonly code = 'ERR_UNKNOWN_ACCOUNT'

  constructor(readonly did: string) {
    super(`${did} is not backed up by this node. Add the account first.`)
  }
}

/** No kept commit of the account has this rev (never synced, or pruned from history). */
export class UnknownRevError extends P2pdsError {
  override name = 'UnknownRevError'
  override readonly code = 'ERR_UNKNOWN_REV'

  constructor(
    readonly did: string,
    readonly rev: string,
  ) {
    super(`The backup of ${did} has no revision ${rev}. List the kept revisions and pick one of those.`)
  }
}

const NOTHING_STORED = 'Nothing was stored; the previous backup is unchanged.'

/**
 * Repository data received for an account failed verification, so none of it was stored. The
 * subclasses say what failed; each has its own `code`.
 */
export class RepoVerificationError extends P2pdsError {
  override name = 'RepoVerificationError'
  override readonly code: string = 'ERR_REPO_VERIFICATION'

  constructor(
    /** The account being synced. */
    readonly did: string,
    /** What failed, a sentence without the closing advice. */
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`The repository received for ${did} failed verification: ${problem} ${NOTHING_STORED}`, options)
  }
}

/** The CAR ended in the middle of a block or header (the download was cut short). */
export class TruncatedCarError extends RepoVerificationError {
  override name = 'TruncatedCarError'
  override readonly code = 'ERR_CAR_TRUNCATED'

  constructor(
    did: string,
    /** Bytes of the CAR read before it ended. */
    readonly bytesRead: number,
  ) {
    super(did, `the data ended early, after ${bytesRead} bytes, in the middle of a block. The download was cut short; try again.`)
  }
}

/** The CAR is not a valid CAR v1 with one root. */
export class MalformedCarError extends RepoVerificationError {
  override name = 'MalformedCarError'
  override readonly code = 'ERR_CAR_MALFORMED'

  constructor(did: string, detail: string, options?: { cause?: unknown }) {
    super(did, `the data is not a valid repository CAR file (${detail}). The PDS may be misbehaving; try again later.`, options)
  }
}

/** A block's bytes do not hash to its CID (corrupted in transit or altered). */
export class BlockHashMismatchError extends RepoVerificationError {
  override name = 'BlockHashMismatchError'
  override readonly code = 'ERR_BLOCK_HASH_MISMATCH'

  constructor(
    did: string,
    readonly cid: string,
  ) {
    super(did, `block ${cid} does not match its content hash; the data was corrupted in transit or altered. Try again later.`)
  }
}

/** A block uses a CID kind atproto does not allow (not CIDv1 + SHA-256 + dag-cbor/raw). */
export class UnsupportedCidError extends RepoVerificationError {
  override name = 'UnsupportedCidError'
  override readonly code = 'ERR_UNSUPPORTED_CID'

  constructor(
    did: string,
    readonly cid: string,
  ) {
    super(did, `block ${cid} uses a kind of CID atproto repositories do not use (CIDv1, SHA-256, dag-cbor or raw).`)
  }
}

/** The commit names another DID: the PDS sent another account's repository. */
export class WrongRepoDidError extends RepoVerificationError {
  override name = 'WrongRepoDidError'
  override readonly code = 'ERR_WRONG_REPO_DID'

  constructor(
    did: string,
    /** The DID the commit names. */
    readonly foundDid: string,
  ) {
    super(did, `its commit belongs to another account (${foundDid}). The PDS sent the wrong repository.`)
  }
}

/** The commit signature does not verify with the account's signing key. */
export class CommitSignatureError extends RepoVerificationError {
  override name = 'CommitSignatureError'
  override readonly code = 'ERR_COMMIT_SIGNATURE'

  constructor(
    did: string,
    readonly commitCid: string,
    /** The did:key it was checked against. */
    readonly signingKey: string,
  ) {
    super(
      did,
      `the signature on commit ${commitCid} does not match the account's signing key ${signingKey}. ` +
        'If the account just changed its key, resolve its identity again and retry; otherwise the data was forged.',
    )
  }
}

/** The commit or the MST is malformed (bad encoding, keys out of order, wrong layers, bad keys). */
export class MalformedRepoError extends RepoVerificationError {
  override name = 'MalformedRepoError'
  override readonly code = 'ERR_MALFORMED_REPO'

  constructor(
    did: string,
    /** The block where the problem is. */
    readonly cid: string,
    /** What is wrong, a short phrase. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(did, `block ${cid} is malformed (${detail}).`, options)
  }
}

/** A block the repository needs (MST node or record) is neither in the data received nor stored. */
export class IncompleteRepoError extends RepoVerificationError {
  override name = 'IncompleteRepoError'
  override readonly code = 'ERR_REPO_INCOMPLETE'

  constructor(
    did: string,
    /** The first missing block found. */
    readonly cid: string,
    /** What it is, e.g. `record` or `MST node`. */
    readonly what: string,
  ) {
    super(did, `the ${what} ${cid} is missing from the data received. The download may be incomplete; try again.`)
  }
}

/** The received commit's rev is not newer than the local head (the PDS sent an older state). */
export class RevNotForwardError extends RepoVerificationError {
  override name = 'RevNotForwardError'
  override readonly code = 'ERR_REV_NOT_FORWARD'

  constructor(
    did: string,
    /** The rev of the local head. */
    readonly localRev: string,
    /** The rev received. */
    readonly receivedRev: string,
  ) {
    super(
      did,
      `it is revision ${receivedRev}, which is not newer than the backed-up revision ${localRev}. ` +
        'The PDS served an older copy (a rollback or a stale mirror); keep the backup and try again later.',
    )
  }
}

/** The account's head changed while a sync was running (another sync finished first). */
export class HeadMovedError extends P2pdsError {
  override name = 'HeadMovedError'
  override readonly code = 'ERR_HEAD_MOVED'

  constructor(
    readonly did: string,
    /** The head the operation started from (null: no head yet). */
    readonly expectedHead: string | null,
    /** The head found when storing. */
    readonly actualHead: string | null,
  ) {
    super(`The backup of ${did} was updated by another sync while this operation ran, so it changed nothing. Try again.`)
  }
}

/** A request to the account's PDS failed (unreachable, error status, or the download broke off). */
export class PdsRequestError extends P2pdsError {
  override name = 'PdsRequestError'
  override readonly code = 'ERR_PDS_REQUEST'

  constructor(
    readonly did: string,
    /** The XRPC method, e.g. `com.atproto.sync.getRepo`. */
    readonly method: string,
    /** The PDS origin. */
    readonly pdsUrl: string,
    /** HTTP status, when the PDS answered. */
    readonly status: number | null,
    /** The XRPC `error` name from the body, when there was one (e.g. `RepoNotFound`). */
    readonly xrpcError: string | null,
    /** What went wrong, in a few words. */
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Could not fetch ${method} for ${did} from ${pdsUrl}: ${detail}. ${NOTHING_STORED} Try again later.`, options)
  }
}

/** A record asked for does not exist at that revision. */
export class RecordNotFoundError extends P2pdsError {
  override name = 'RecordNotFoundError'
  override readonly code = 'ERR_RECORD_NOT_FOUND'

  constructor(readonly uri: string, rev: string) {
    super(`The backup has no record ${uri} at revision ${rev}.`)
  }
}

/** A blob asked for is not stored (not fetched yet, failed, or not the account's). */
export class BlobNotFoundError extends P2pdsError {
  override name = 'BlobNotFoundError'
  override readonly code = 'ERR_BLOB_NOT_FOUND'

  constructor(readonly did: string, readonly cid: string, reason: string) {
    super(`Blob ${cid} of ${did} is not in the backup: ${reason}.`)
  }
}

/** A blob is too large to be sent whole through the API (exports write it to a file instead). */
export class BlobTooLargeError extends P2pdsError {
  override name = 'BlobTooLargeError'
  override readonly code = 'ERR_BLOB_TOO_LARGE'
}

// --- Scheduling (core/replication/scheduler.ts, pause and resume) -------------------------------

/** Syncing is paused, for this account or for the whole node, so no sync was started. */
export class AccountPausedError extends P2pdsError {
  override name = 'AccountPausedError'
  override readonly code = 'ERR_ACCOUNT_PAUSED'

  constructor(
    readonly did: string,
    /** `account`: this account is paused; `node`: syncing is paused for every account. */
    readonly scope: 'account' | 'node',
  ) {
    super(
      scope === 'account'
        ? `Syncing ${did} is paused, so it was not synced. Resume it first (p2pds resume ${did}, or Resume in the app).`
        : `Syncing is paused for every account, so ${did} was not synced. Resume syncing first (p2pds resume, or Resume in the app).`,
    )
  }
}

/** The data key that protects secrets at rest cannot be read or made. */
export class SecretKeyError extends P2pdsError {
  override name = 'SecretKeyError'
  override readonly code = 'ERR_SECRET_KEY'
}

/**
 * A sealed secret cannot be opened: it was sealed with another data key (P2PDS_SECRET or the key
 * file changed), for another purpose, or its bytes were altered.
 */
export class SecretUnreadableError extends P2pdsError {
  override name = 'SecretUnreadableError'
  override readonly code = 'ERR_SECRET_UNREADABLE'

  constructor(readonly purpose: string) {
    super(
      `A stored secret (${purpose}) cannot be decrypted: it was sealed with another data key (P2PDS_SECRET, SECRET_KEY_FILE or the system keychain changed) or it was altered. Log in again or restore the original key.`,
    )
  }
}

// --- PLC mirror (core/identity/plc-log.ts, plc-mirror.ts) ---------------------------------------

/** A PLC audit log breaks a rule of did:plc (signature, chain, nullification, CID, DID). */
export class PlcLogInvalidError extends P2pdsError {
  override name = 'PlcLogInvalidError'
  override readonly code = 'ERR_PLC_LOG_INVALID'

  constructor(
    readonly did: string,
    /** Index of the first offending entry in the log as served; null when the whole log is at fault. */
    readonly index: number | null,
    /** What is wrong, in words. */
    readonly reason: string,
  ) {
    super(`The PLC log of ${did} is invalid${index === null ? '' : ` at entry ${index + 1}`}: ${reason}. The copy held before (if any) was kept.`)
  }
}

/** Neither the PLC directory nor any known peer gave a log for the DID. */
export class PlcLogUnavailableError extends P2pdsError {
  override name = 'PlcLogUnavailableError'
  override readonly code = 'ERR_PLC_LOG_UNAVAILABLE'

  constructor(
    readonly did: string,
    /** Why each source failed, in words. */
    readonly detail: string,
  ) {
    super(`The PLC log of ${did} could not be fetched (${detail}); the copy held before (if any) was kept. It is retried at the next refresh.`)
  }
}

// --- Lexicons, login and agreements (core/lexicons.ts, core/auth/, core/policy/, core/offers.ts) --

/** A lexicon schema file is malformed, or a record fails its lexicon. */
export class InvalidRecordError extends P2pdsError {
  override name = 'InvalidRecordError'
  override readonly code = 'ERR_INVALID_RECORD'

  constructor(
    /** The NSID the value was checked against. */
    readonly nsid: string,
    /** Why, in words (from the validator). */
    readonly reason: string,
  ) {
    super(`Not a valid ${nsid} record: ${reason}`)
  }
}

/** The action needs a logged-in account, and none (or not the one named) is logged in. */
export class NotLoggedInError extends P2pdsError {
  override name = 'NotLoggedInError'
  override readonly code = 'ERR_NOT_LOGGED_IN'

  constructor(message = 'No account is logged in on this node. Log in first (p2pds login <handle>, or Log in in the app).') {
    super(message)
  }
}

/** A login (OAuth or app password) did not succeed. */
export class LoginFailedError extends P2pdsError {
  override name = 'LoginFailedError'
  override readonly code = 'ERR_LOGIN_FAILED'
}

/** Something about an offer or agreement is refused (unknown offer, offer to oneself, …). */
export class OfferError extends P2pdsError {
  override name = 'OfferError'
  override readonly code = 'ERR_OFFER'
}

/** A policy or lifecycle step is not allowed (e.g. purged → active), or a POLICY_FILE is invalid. */
export class PolicyError extends P2pdsError {
  override name = 'PolicyError'
  override readonly code = 'ERR_POLICY'
}

/** A group (a named list of DIDs) could not be made, found or joined; the message says why. */
export class GroupError extends P2pdsError {
  override name = 'GroupError'
  override readonly code = 'ERR_GROUP'
}

// --- Peer network and storage challenges (core/network/, core/replication/challenge*.ts) --------

/** A peer address given by a user or a record is not usable. */
export class InvalidPeerAddressError extends P2pdsError {
  override name = 'InvalidPeerAddressError'
  override readonly code = 'ERR_INVALID_PEER_ADDRESS'

  constructor(readonly address: string, detail: string) {
    super(`${JSON.stringify(address)} is not a usable peer address: ${detail}.`)
  }
}

/** No peer with this id is known. */
export class UnknownPeerError extends P2pdsError {
  override name = 'UnknownPeerError'
  override readonly code = 'ERR_UNKNOWN_PEER'

  constructor(readonly peer: string) {
    super(`No peer ${peer} is known to this node. List peers with \`p2pds peers\`.`)
  }
}

/** libp2p networking is off, so the peer network cannot be used. */
export class NetworkDisabledError extends P2pdsError {
  override name = 'NetworkDisabledError'
  override readonly code = 'ERR_NETWORK_DISABLED'

  constructor(what: string) {
    super(`${what} needs libp2p networking, which is off. Set IPFS_ENABLED=true and IPFS_NETWORKING=true, or give the peer an endpoint URL.`)
  }
}

/** A peer could not be reached, or did not answer in time. */
export class PeerUnreachableError extends P2pdsError {
  override name = 'PeerUnreachableError'
  override readonly code = 'ERR_PEER_UNREACHABLE'

  constructor(readonly peer: string, detail: string, options?: { cause?: unknown }) {
    super(`Could not reach peer ${peer}: ${detail}. It may be offline; try again later.`, options)
  }
}

/** A peer answered with something that is not a valid answer of the protocol. */
export class PeerProtocolError extends P2pdsError {
  override name = 'PeerProtocolError'
  override readonly code = 'ERR_PEER_PROTOCOL'

  constructor(readonly peer: string, detail: string, options?: { cause?: unknown }) {
    super(`Peer ${peer} answered with an invalid message: ${detail}.`, options)
  }
}

/** A storage challenge cannot be made: this node lacks what it needs to check the answer. */
export class ChallengeNotPossibleError extends P2pdsError {
  override name = 'ChallengeNotPossibleError'
  override readonly code = 'ERR_CHALLENGE_NOT_POSSIBLE'

  constructor(readonly did: string, reason: string) {
    super(`Cannot challenge peers about ${did}: ${reason}.`)
  }
}

// --- Settings and the storage cap (core/settings.ts) --------------------------------------------

/** A setting cannot be changed in the app because a flag, the environment or a `.env` file sets it. */
export class SettingLockedError extends P2pdsError {
  override name = 'SettingLockedError'
  override readonly code = 'ERR_SETTING_LOCKED'

  constructor(
    /** The setting, e.g. `bandwidthLimitKbps`. */
    readonly key: string,
    /** What sets it, e.g. `BANDWIDTH_LIMIT_KBPS`. */
    readonly lockedBy: string,
  ) {
    super(`${key} is set by ${lockedBy}, so it cannot be changed here. Remove ${lockedBy} and restart P2PDS to manage it in Settings. Nothing was saved.`)
  }
}

/** Stored data has reached the storage cap, so no new sync was started (or account added). */
export class StorageLimitError extends P2pdsError {
  override name = 'StorageLimitError'
  override readonly code = 'ERR_STORAGE_LIMIT'

  constructor(
    /** The account (DID, or the handle given to add it). */
    readonly subject: string,
    /** Bytes stored. */
    readonly usedBytes: number,
    /** The cap, in bytes. */
    readonly limitBytes: number,
    /** What was refused. @default 'synced' */
    readonly refused: 'synced' | 'added' = 'synced',
  ) {
    const mb = (n: number) => `${Math.round((n / 1024 / 1024) * 10) / 10} MB`
    super(
      `Storage is full (${mb(usedBytes)} stored, cap ${mb(limitBytes)}), so ${subject} was not ${refused}` +
        `${refused === 'synced' ? '; its backup is unchanged' : ''}. Raise the storage cap in Settings, or remove an account.`,
    )
  }
}

/** The libp2p key file in the data dir cannot be read. */
export class PeerKeyError extends P2pdsError {
  override name = 'PeerKeyError'
  override readonly code = 'ERR_PEER_KEY'

  constructor(readonly file: string, options?: { cause?: unknown }) {
    super(`The libp2p key file ${file} is unreadable. Restore it from a backup, or delete it to get a new PeerID.`, options)
  }
}

/** A storage challenge received from a peer is malformed, expired, or not addressed to this node. */
export class InvalidChallengeError extends P2pdsError {
  override name = 'InvalidChallengeError'
  override readonly code = 'ERR_INVALID_CHALLENGE'

  constructor(detail: string) {
    super(`The storage challenge was refused: ${detail}.`)
  }
}

/** The host cannot do this here (launch at login outside the installed desktop app, folders in browser mode). */
export class NotSupportedError extends P2pdsError {
  override name = 'NotSupportedError'
  override readonly code = 'ERR_NOT_SUPPORTED'
}

/** The desktop could not do what was asked (open a folder, register a login item); the sentence says why. */
export class HostActionError extends P2pdsError {
  override name = 'HostActionError'
  override readonly code = 'ERR_HOST_ACTION'
}

// --- Rotation keys and restore (core/identity/rotation-keys.ts, core/recovery/) -----------------

/** A rotation key given (key file, phrase or hex) is not a usable secp256k1 private key. */
export class InvalidRotationKeyError extends P2pdsError {
  override name = 'InvalidRotationKeyError'
  override readonly code = 'ERR_INVALID_ROTATION_KEY'

  constructor(detail: string, options?: { cause?: unknown }) {
    super(`Not a usable rotation key: ${detail}. Nothing was changed.`, options)
  }
}

/** The key is not (or no longer) one of the DID's rotation keys, so it cannot change the DID. */
export class RotationKeyNotInForceError extends P2pdsError {
  override name = 'RotationKeyNotInForceError'
  override readonly code = 'ERR_ROTATION_KEY_NOT_IN_FORCE'

  constructor(
    readonly did: string,
    readonly didKey: string,
  ) {
    super(`The key ${didKey} is not one of the rotation keys of ${did}, so it cannot move this identity. Nothing was changed. Add it first (p2pds rotation-key add) while the old PDS still works.`)
  }
}

/** Reading or changing a DID in the PLC directory failed. */
export class PlcOperationError extends P2pdsError {
  override name = 'PlcOperationError'
  override readonly code = 'ERR_PLC_OPERATION'

  constructor(
    readonly did: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`PLC directory, ${did}: ${detail}.`, options)
  }
}

/** A restore cannot start, or one of its steps failed (what was done stays done; run it again to resume). */
export class RestoreError extends P2pdsError {
  override name = 'RestoreError'
  override readonly code = 'ERR_RESTORE'

  constructor(
    readonly did: string,
    /** The step, e.g. `import-repo`; `check` for refusals before any change. */
    readonly step: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      step === 'check'
        ? `Cannot restore ${did}: ${detail}. Nothing was changed.`
        : `Restoring ${did} stopped at "${step}": ${detail}. Steps already done stay done; run the restore again to resume.`,
      options,
    )
  }
}

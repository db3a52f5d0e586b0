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
export function toErrorDto(err: unknown): ErrorDto {
  if (err instanceof P2pdsError) return { name: err.name, code: err.code, message: err.message }
  if (err instanceof Error) return { name: err.name, code: 'ERR_INTERNAL', message: err.message }
  return { name: 'Error', code: 'ERR_INTERNAL', message: String(err) }
}

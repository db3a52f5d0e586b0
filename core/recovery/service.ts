/**
 * `RecoveryService`: the `recovery` area of the API — rotation keys (list, make, import, add to
 * the PLC document), restore to a new PDS (dry run, run/resume, status) and the recovery kit.
 */
import type { Agent } from '@atproto/api'
import type { Database } from 'better-sqlite3'
import type { AddRotationKeyResultDto, ExportResultDto, NewRotationKeyDto, P2pdsApi, RecoveryKitDto, RestorePlanDto, RestorePlanInput, RestoreProgressDto, RestoreStatusDto, RotationKeyDto, RotationKeysDto } from '../api.js'
import type { SecretBox } from '../auth/secret-box.js'
import { InvalidRotationKeyError, LoginFailedError, NotLoggedInError, PlcOperationError } from '../errors.js'
import {
  generateRotationKey,
  HeldKeyStore,
  parseRotationKey,
  PLC_MAX_ROTATION_KEYS,
  readPlc,
  rotationKeyFileText,
  rotationKeyPhrase,
} from '../identity/rotation-keys.js'
import type { IdentityResolver } from '../identity/types.js'
import { createSafeFetch, type SafeFetch } from '../network/safe-fetch.js'
import type { RepoStorage } from '../storage/types.js'
import { writeRecoveryKit } from './kit.js'
import { planRestore, restoreStatus, runRestore, type RestoreDeps } from './restore.js'

/** Time limit of requests to the PLC directory and PDSes during recovery, in ms. */
const RECOVERY_TIMEOUT_MS = 120_000
/** Largest answer read during recovery (audit logs, PDS answers). */
const RECOVERY_MAX_BYTES = 64 * 1024 * 1024

/** What a {@link RecoveryService} is made from. */
export interface RecoveryServiceInit {
  db: Database
  storage: RepoStorage
  /** Seals held keys at rest (the node's data key); a function is called on first use. */
  secretBox: SecretBox | (() => SecretBox)
  resolver: IdentityResolver
  /** Config: `PLC_URL`. */
  plcUrl: string
  /** Config: `ALLOW_PRIVATE_NETWORK` (PDS URLs given for a restore are checked like network URLs). */
  allowPrivateNetwork: boolean
  /** Pushes `recovery:progress`. */
  emit(progress: RestoreProgressDto): void
  /** `AccountsService.exportCarToFile` and `exportBlobsToDir`, for the kit. */
  exportCar(input: { did: string; path: string }): Promise<ExportResultDto>
  exportBlobs(input: { did: string; dir: string }): Promise<ExportResultDto>
  /**
   * A signed-in session for `did` on its PDS (OAuth or app password, from `core/auth/`), or
   * undefined when none is held. @default none: a password must be given
   */
  sessionFor?(did: string): Promise<Agent | undefined>
  /** Fetch for PDSes. @default the safe fetch */
  fetch?: SafeFetch
  /** Fetch for the PLC directory. @default the safe fetch with PLC_URL trusted */
  plcFetch?: SafeFetch
  /** @default Date.now */
  now?: () => number
}

/** The `recovery` area of the API. */
export class RecoveryService implements Pick<P2pdsApi, 'recovery'> {
  readonly keys: HeldKeyStore
  readonly #init: RecoveryServiceInit
  readonly #fetch: SafeFetch
  readonly #plcFetch: SafeFetch
  readonly #running = new Map<string, { promise: Promise<RestoreStatusDto>; controller: AbortController }>()

  constructor(init: RecoveryServiceInit) {
    this.#init = init
    this.keys = new HeldKeyStore({ db: init.db, secretBox: init.secretBox, now: init.now })
    const base = { allowPrivateNetwork: init.allowPrivateNetwork, timeoutMs: RECOVERY_TIMEOUT_MS, maxBytes: RECOVERY_MAX_BYTES }
    this.#fetch = init.fetch ?? createSafeFetch(base)
    this.#plcFetch = init.plcFetch ?? createSafeFetch({ ...base, trustedOrigins: [init.plcUrl] })
  }

  readonly recovery: P2pdsApi['recovery'] = {
    listRotationKeys: ({ did }) => this.listRotationKeys(did),
    newRotationKey: async (input) => this.newRotationKey(input?.did),
    importRotationKey: async ({ key, did }) => this.importRotationKey(key, did),
    addRotationKey: (input) => this.addRotationKey(input),
    restorePlan: (input) => planRestore(this.#deps(), toRequest(input)),
    restoreStart: (input) => this.restore(input),
    restoreStatus: async ({ did }) => restoreStatus(this.#deps(), did),
    exportKit: ({ did, dir }) => this.exportKit(did, dir),
  }

  async listRotationKeys(did: string): Promise<RotationKeysDto> {
    const plc = await readPlc(this.#init.plcUrl, did, this.#plcFetch)
    const held = new Set(this.keys.list('rotation').map((k) => k.didKey))
    const keys: RotationKeyDto[] = plc.state.rotationKeys.map((didKey, position) => ({ didKey, position, heldHere: held.has(didKey) }))
    for (const k of this.keys.list('rotation')) {
      if (k.did === did && !plc.state.rotationKeys.includes(k.didKey)) keys.push({ didKey: k.didKey, position: null, heldHere: true })
    }
    return { did, keys }
  }

  async newRotationKey(did?: string): Promise<NewRotationKeyDto> {
    const key = await generateRotationKey()
    this.keys.save(key, 'rotation', did ?? null)
    return { didKey: key.didKey, phrase: rotationKeyPhrase(key.privateKey), keyFile: rotationKeyFileText(key.privateKey) }
  }

  async importRotationKey(text: string, did?: string): Promise<{ didKey: string }> {
    const key = await parseRotationKey(text)
    this.keys.save(key, 'rotation', did ?? null)
    return { didKey: key.didKey }
  }

  /**
   * requestPlcOperationSignature (no token) or signPlcOperation + submitPlcOperation (token), through
   * the account's own PDS, then the PLC log is re-read to check the key is listed.
   */
  async addRotationKey(input: { did: string; didKey: string; token?: string; password?: string }): Promise<AddRotationKeyResultDto> {
    const { did, didKey } = input
    if (this.keys.info(didKey) === null) throw new InvalidRotationKeyError(`${didKey} is not held by this node; import it first (p2pds rotation-key add reads the key file)`)
    const before = await readPlc(this.#init.plcUrl, did, this.#plcFetch)
    if (before.state.rotationKeys.includes(didKey)) {
      this.keys.markAdded(didKey, did)
      return { did, status: 'already-listed', rotationKeys: before.state.rotationKeys }
    }
    if (before.state.rotationKeys.length >= PLC_MAX_ROTATION_KEYS) {
      throw new PlcOperationError(did, `the DID already has ${PLC_MAX_ROTATION_KEYS} rotation keys, the most the directory allows`)
    }
    const agent = await this.#session(did, input.password)
    if (input.token === undefined) {
      await agent.com.atproto.identity.requestPlcOperationSignature()
      return { did, status: 'token-sent', rotationKeys: before.state.rotationKeys }
    }
    let operation: unknown
    try {
      operation = (await agent.com.atproto.identity.signPlcOperation({ token: input.token, rotationKeys: [didKey, ...before.state.rotationKeys] })).data.operation
    } catch (err) {
      throw new PlcOperationError(did, `the PDS refused to sign the change (${(err as Error).message}); check the code from the email, or ask for a new one`, { cause: err })
    }
    await agent.com.atproto.identity.submitPlcOperation({ operation: operation as Record<string, unknown> })
    const after = await readPlc(this.#init.plcUrl, did, this.#plcFetch)
    if (!after.state.rotationKeys.includes(didKey)) throw new PlcOperationError(did, `the operation was submitted but ${didKey} is not among the rotation keys`)
    this.keys.markAdded(didKey, did)
    return { did, status: 'added', rotationKeys: after.state.rotationKeys }
  }

  /** Runs or resumes a restore; one at a time per DID (a second call joins the first). */
  restore(input: RestorePlanInput & { email: string; password: string }, signal?: AbortSignal): Promise<RestoreStatusDto> {
    const running = this.#running.get(input.did)
    if (running !== undefined) return running.promise
    const controller = new AbortController()
    const combined = signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal])
    const promise = runRestore(this.#deps(), { ...toRequest(input), email: input.email, password: input.password }, combined).finally(() => this.#running.delete(input.did))
    this.#running.set(input.did, { promise, controller })
    return promise
  }

  /** Interrupts running restores (they resume when started again) and waits for them to settle. */
  async stop(): Promise<void> {
    const running = [...this.#running.values()]
    for (const r of running) r.controller.abort()
    await Promise.allSettled(running.map((r) => r.promise))
  }

  /** Dry run (changes nothing). */
  plan(input: RestorePlanInput, signal?: AbortSignal): Promise<RestorePlanDto> {
    return planRestore(this.#deps(), toRequest(input), signal)
  }

  exportKit(did: string, dir: string): Promise<RecoveryKitDto> {
    const i = this.#init
    return writeRecoveryKit({ db: i.db, repos: i.storage.repos, exportCar: i.exportCar, exportBlobs: i.exportBlobs, plcUrl: i.plcUrl, plcFetch: this.#plcFetch, now: i.now }, did, dir)
  }

  #deps(): RestoreDeps {
    const i = this.#init
    return { db: i.db, storage: i.storage, keys: this.keys, plcUrl: i.plcUrl, plcFetch: this.#plcFetch, fetch: this.#fetch, resolver: i.resolver, emit: i.emit, now: i.now }
  }

  async #session(did: string, password: string | undefined): Promise<Agent> {
    if (password === undefined) {
      const session = await this.#init.sessionFor?.(did)
      if (session !== undefined) return session
      throw new NotLoggedInError(`No session for ${did} is held here: give the account password (P2PDS_APP_PASSWORD, or the prompt) to change its PLC document.`)
    }
    const identity = await this.#init.resolver.resolve(did, { forceRefresh: true })
    const { AtpAgent } = await import('@atproto/api')
    const agent = new AtpAgent({ service: identity.pdsUrl, fetch: this.#fetch as typeof globalThis.fetch })
    try {
      await agent.login({ identifier: did, password })
    } catch (err) {
      throw new LoginFailedError(`Could not sign in to ${identity.pdsUrl} as ${did}: ${(err as Error).message}. PLC changes need the account password, not an app password.`, { cause: err })
    }
    return agent
  }
}

function toRequest(input: RestorePlanInput) {
  return { did: input.did, targetUrl: input.to, rotationKey: input.rotationKey, handle: input.handle, email: input.email, inviteCode: input.inviteCode }
}

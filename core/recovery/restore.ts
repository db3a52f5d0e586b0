/**
 * Restore an account to a new PDS from the local copy alone, with a rotation key the user holds,
 * when the old PDS is gone (the atproto account-migration flow, done without the old PDS):
 *
 * 1. `check` — the local copy is complete (head commit verifies with the key it was synced with,
 *    every block of the head is present, every blob is stored) and the rotation key is valid and
 *    in force (one of the DID's rotation keys in its validated PLC log). Refusals here change
 *    nothing anywhere.
 * 2. `signing-key` — a PLC operation signed with the rotation key makes a key we hold (generated
 *    here, sealed in `held_keys`) the DID's atproto signing key: the old PDS cannot sign the
 *    service-auth token the new PDS asks for, so we must be able to.
 * 3. `create-account` — `com.atproto.server.createAccount` on the new PDS for the existing DID,
 *    authorised by a service-auth JWT we sign; the account starts deactivated.
 * 4. `import-repo` — `com.atproto.repo.importRepo` with a CAR of the local head.
 * 5. `upload-blobs` — every blob the new PDS reports missing (`listMissingBlobs`), from local storage.
 * 6. `point-did` — `getRecommendedDidCredentials` from the new PDS, then a PLC operation signed
 *    with the rotation key (prev = the latest operation in force) setting the new PDS's endpoint,
 *    signing key and rotation keys, with the held rotation key kept first; sent through the new
 *    PDS's `submitPlcOperation`.
 * 7. `activate` — `com.atproto.server.activateAccount`.
 * 8. `verify` — the DID resolves to the new PDS, which serves a latest commit, the same records
 *    (collection, rkey, CID) and the same blobs as the local copy.
 *
 * Every step first checks whether its effect is already there and is then `skipped`, so a restore
 * interrupted anywhere (crash, abort, network) resumes by running it again, and nothing is done
 * twice. Progress is stored in `restores` after every step.
 */
import type { AtpAgent } from '@atproto/api'
import type { Database } from 'better-sqlite3'
import { CID } from 'multiformats/cid'
import type { ErrorDto, RestoreCheckDto, RestorePlanDto, RestoreProgressDto, RestoreStatusDto, RestoreStepDto, RestoreStepName } from '../api.js'
import { AbortError, errorText, InvalidInputError, InvalidRotationKeyError, P2pdsError, RestoreError, RotationKeyNotInForceError, throwIfAborted, toErrorDto } from '../errors.js'
import type { IdentityResolver } from '../identity/types.js'
import {
  createServiceJwt,
  generateRotationKey,
  parseRotationKey,
  PLC_MAX_ROTATION_KEYS,
  readPlc,
  sendPlcOperation,
  signPlcOperation,
  type HeldKeypair,
  type HeldKeyStore,
  type PlcView,
} from '../identity/rotation-keys.js'
import type { SafeFetch } from '../network/safe-fetch.js'
import { checkCommit, exportCar, walkRepoBlocks } from '../replication/index.js'
import type { RepoStorage } from '../storage/types.js'

/** The steps, in order. */
export const RESTORE_STEPS: readonly RestoreStepName[] = ['check', 'signing-key', 'create-account', 'import-repo', 'upload-blobs', 'point-did', 'activate', 'verify']

/** What restores need from the node. */
export interface RestoreDeps {
  db: Database
  storage: RepoStorage
  keys: HeldKeyStore
  /** PLC directory (`PLC_URL`). */
  plcUrl: string
  /** Fetch for the PLC directory (a trusted origin). */
  plcFetch: SafeFetch
  /** Fetch for the new PDS (the safe fetch: the address rules apply). */
  fetch: SafeFetch
  resolver: IdentityResolver
  /** Progress of each step. */
  emit(progress: RestoreProgressDto): void
  /** @default Date.now */
  now?: () => number
}

/** What to restore, and where. */
export interface RestoreRequest {
  did: string
  /** The new PDS, e.g. `https://pds.example.com`. */
  targetUrl: string
  /** A held key's `did:key`, or the key itself (key file hex or recovery phrase). */
  rotationKey: string
  /** @default the handle of the local copy */
  handle?: string
  email?: string
  inviteCode?: string
}

/** What a restore run needs beyond the plan. */
export interface RestoreStartRequest extends RestoreRequest {
  /** Password of the new account (also used to sign in again when resuming). */
  password: string
  email: string
}

interface RestoreRow {
  did: string
  target_url: string
  target_did: string | null
  handle: string
  email: string
  rotation_key: string
  signing_key: string | null
  state: 'running' | 'failed' | 'done'
  steps_json: string
  error_code: string | null
  error_message: string | null
  started_at: number
  updated_at: number
}

/** What the local copy holds, as checked. */
interface LocalCopy {
  head: { cid: string; rev: string }
  handle: string | null
  blocks: number
  records: Map<string, string>
  blobs: Array<{ cid: string; mimeType: string | null }>
}

// --- Dry run ------------------------------------------------------------------------------------

/**
 * Checks everything a restore needs and changes nothing anywhere: the local copy, the key (valid,
 * in force), the new PDS (reachable, its DID, invite code, handle domains), the handle (free on the
 * new PDS) and whether an email was given.
 */
export async function planRestore(deps: RestoreDeps, req: RestoreRequest, signal?: AbortSignal): Promise<RestorePlanDto> {
  const checks: RestoreCheckDto[] = []
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail })
  const targetUrl = normalizeUrl(req.targetUrl)
  let handle = req.handle ?? null

  try {
    const copy = await checkLocalCopy(deps, req.did, signal)
    handle ??= copy.handle
    add('local-copy', true, `Head ${copy.head.rev} verifies; ${copy.blocks} blocks, ${copy.records.size} records and ${copy.blobs.length} blobs are all here.`)
  } catch (err) {
    if (err instanceof AbortError) throw err
    add('local-copy', false, errorClause(err))
  }

  try {
    const key = await resolveKey(deps, req.rotationKey)
    const plc = await readPlc(deps.plcUrl, req.did, deps.plcFetch, signal)
    const at = plc.state.rotationKeys.indexOf(key.didKey)
    if (at < 0) throw new RotationKeyNotInForceError(req.did, key.didKey)
    add('rotation-key', true, `${key.didKey} is rotation key ${at + 1} of ${plc.state.rotationKeys.length} of the DID.`)
  } catch (err) {
    if (err instanceof AbortError) throw err
    add('rotation-key', false, errorClause(err))
  }

  let targetDid: string | null = null
  try {
    const { AtpAgent } = await import('@atproto/api')
    const agent = new AtpAgent({ service: targetUrl, fetch: deps.fetch as typeof globalThis.fetch })
    const desc = (await agent.com.atproto.server.describeServer({}, { signal })).data
    targetDid = desc.did
    add('new-pds', true, `${targetUrl} answers as ${desc.did}.`)
    const invite = desc.inviteCodeRequired === true
    add('invite-code', !invite || req.inviteCode !== undefined, invite ? (req.inviteCode === undefined ? 'The new PDS needs an invite code (--invite-code).' : 'An invite code is given (the PDS checks it when the account is created).') : 'No invite code needed.')
    if (handle === null) {
      add('handle', false, 'The local copy has no handle: give one (--handle).')
    } else {
      const own = desc.availableUserDomains.some((d) => handle!.endsWith(d))
      let holder: string | null = null
      try {
        holder = (await agent.com.atproto.identity.resolveHandle({ handle }, { signal })).data.did
      } catch {
        holder = null
      }
      if (holder !== null && holder !== req.did) add('handle', false, `${handle} is taken on the new PDS (it resolves to ${holder}); choose another (--handle).`)
      else if (!own && holder !== req.did) add('handle', false, `${handle} is not under the new PDS's domains (${desc.availableUserDomains.join(', ')}) and does not resolve to ${req.did}; give a handle under one of them (--handle).`)
      else add('handle', true, `${handle} is available.`)
    }
    add('email', req.email !== undefined, req.email === undefined ? 'The new PDS needs an email address for the account (--email).' : `${req.email}`)
  } catch (err) {
    if (err instanceof AbortError || signal?.aborted === true) throw new AbortError()
    add('new-pds', false, `${targetUrl} could not be reached as a PDS: ${errorClause(err)}`)
  }

  return { did: req.did, targetUrl, targetDid, handle, ok: checks.every((c) => c.ok), checks, steps: [...RESTORE_STEPS] }
}

// --- Running --------------------------------------------------------------------------------------

/** The stored state of the restore of `did`, or null when none was started. */
export function restoreStatus(deps: Pick<RestoreDeps, 'db'>, did: string): RestoreStatusDto | null {
  const row = readRow(deps.db, did)
  return row === null ? null : statusOf(row)
}

/**
 * Runs (or resumes) the restore of `req.did` to `req.targetUrl`. Resolves with the final status;
 * rejects with {@link RestoreError} (or `AbortError`) after storing how far it came.
 */
export async function runRestore(deps: RestoreDeps, req: RestoreStartRequest, signal?: AbortSignal): Promise<RestoreStatusDto> {
  const now = deps.now ?? Date.now
  const targetUrl = normalizeUrl(req.targetUrl)

  // Step 1 runs before anything is written, so a refusal changes nothing, here either.
  const key = await resolveKey(deps, req.rotationKey)
  const copy = await checkLocalCopy(deps, req.did, signal).catch((err: unknown) => {
    throw err instanceof AbortError ? err : new RestoreError(req.did, 'check', `the local copy is not complete: ${errorClause(err)}`, { cause: err })
  })
  const plc = await readPlc(deps.plcUrl, req.did, deps.plcFetch, signal).catch((err: unknown) => {
    throw err instanceof AbortError ? err : new RestoreError(req.did, 'check', errorClause(err), { cause: err })
  })
  if (!plc.state.rotationKeys.includes(key.didKey)) throw new RotationKeyNotInForceError(req.did, key.didKey)
  const handle = req.handle ?? copy.handle
  if (handle === null) throw new RestoreError(req.did, 'check', 'the local copy has no handle; give one')

  let row = readRow(deps.db, req.did)
  const started = row !== null && row.state !== 'done' && JSON.parse(row.steps_json).some((s: RestoreStepDto) => s.name !== 'check' && s.state === 'done')
  if (row !== null && started && row.target_url !== targetUrl) {
    throw new RestoreError(req.did, 'check', `a restore to ${row.target_url} is under way; run it again with --to ${row.target_url} to finish it`)
  }
  // The key is kept only once it has passed the checks.
  deps.keys.save(key, 'rotation', req.did)
  if (row === null || row.target_url !== targetUrl || row.state === 'done') {
    const steps: RestoreStepDto[] = RESTORE_STEPS.map((name) => ({ name, state: 'pending', detail: null, done: null, total: null }))
    deps.db
      .prepare(
        `INSERT INTO restores (did, target_url, target_did, handle, email, rotation_key, signing_key, state, steps_json, started_at, updated_at)
         VALUES (?, ?, NULL, ?, ?, ?, ?, 'running', ?, ?, ?)
         ON CONFLICT (did) DO UPDATE SET target_url = excluded.target_url, target_did = NULL, handle = excluded.handle, email = excluded.email,
           rotation_key = excluded.rotation_key, signing_key = COALESCE(restores.signing_key, excluded.signing_key), state = 'running',
           steps_json = excluded.steps_json, error_code = NULL, error_message = NULL, started_at = excluded.started_at, updated_at = excluded.updated_at`,
      )
      .run(req.did, targetUrl, handle, req.email, key.didKey, null, JSON.stringify(steps), now(), now())
  } else {
    deps.db.prepare(`UPDATE restores SET handle = ?, email = ?, rotation_key = ?, state = 'running', error_code = NULL, error_message = NULL, updated_at = ? WHERE did = ?`).run(handle, req.email, key.didKey, now(), req.did)
  }
  row = readRow(deps.db, req.did)!
  const run = new RestoreRun(deps, row, key, copy, req.password, signal)
  run.inviteCode = req.inviteCode
  run.finish('check', 'done', `Local copy complete (${copy.records.size} records, ${copy.blobs.length} blobs); ${key.didKey} is in force.`)
  try {
    for (const name of RESTORE_STEPS.slice(1)) {
      throwIfAborted(signal)
      const step = run.step(name)
      if ((step.state === 'done' || step.state === 'skipped') && name !== 'verify') continue
      run.start(name)
      await run.do(name, plc)
    }
    run.setState('done', null)
    return statusOf(readRow(deps.db, req.did)!)
  } catch (err) {
    const aborted = err instanceof AbortError || signal?.aborted === true
    const current = run.current
    const wrapped = aborted ? new AbortError() : err instanceof RestoreError ? err : new RestoreError(req.did, current ?? 'check', errorClause(err), { cause: err })
    if (current !== null) run.finish(current, 'failed', aborted ? 'Interrupted; run the restore again to resume.' : errorClause(err))
    run.setState('failed', toErrorDto(wrapped))
    throw wrapped
  }
}

class RestoreRun {
  #steps: RestoreStepDto[]
  current: RestoreStepName | null = null
  #agent: AtpAgent | undefined
  #plc: PlcView | undefined

  constructor(
    readonly deps: RestoreDeps,
    public row: RestoreRow,
    readonly rotationKey: HeldKeypair,
    readonly copy: LocalCopy,
    readonly password: string,
    readonly signal: AbortSignal | undefined,
  ) {
    this.#steps = JSON.parse(row.steps_json) as RestoreStepDto[]
  }

  step(name: RestoreStepName): RestoreStepDto {
    return this.#steps.find((s) => s.name === name)!
  }

  start(name: RestoreStepName): void {
    this.current = name
    this.#update(name, { state: 'running', detail: null, done: null, total: null })
  }

  finish(name: RestoreStepName, state: 'done' | 'skipped' | 'failed', detail: string): void {
    if (state !== 'failed') this.current = null
    this.#update(name, { state, detail })
  }

  progress(name: RestoreStepName, done: number, total: number): void {
    this.#update(name, { done, total })
  }

  setState(state: 'failed' | 'done', error: ErrorDto | null): void {
    this.deps.db.prepare('UPDATE restores SET state = ?, error_code = ?, error_message = ?, updated_at = ? WHERE did = ?').run(state, error?.code ?? null, error?.message ?? null, this.#now(), this.row.did)
  }

  #now(): number {
    return (this.deps.now ?? Date.now)()
  }

  #update(name: RestoreStepName, change: Partial<RestoreStepDto>): void {
    const step = this.step(name)
    Object.assign(step, change)
    this.deps.db.prepare('UPDATE restores SET steps_json = ?, updated_at = ? WHERE did = ?').run(JSON.stringify(this.#steps), this.#now(), this.row.did)
    try {
      this.deps.emit({ did: this.row.did, ...step })
    } catch {
      // A listener's failure is not the restore's.
    }
  }

  async do(name: RestoreStepName, plcAtStart: PlcView): Promise<void> {
    this.#plc ??= plcAtStart
    switch (name) {
      case 'signing-key':
        return this.#takeSigningKey()
      case 'create-account':
        return this.#createAccount()
      case 'import-repo':
        return this.#importRepo()
      case 'upload-blobs':
        return this.#uploadBlobs()
      case 'point-did':
        return this.#pointDid()
      case 'activate':
        return this.#activate()
      case 'verify':
        return this.#verify()
      default:
        return
    }
  }

  get #did(): string {
    return this.row.did
  }

  async #freshPlc(): Promise<PlcView> {
    this.#plc = await readPlc(this.deps.plcUrl, this.#did, this.deps.plcFetch, this.signal)
    return this.#plc
  }

  #pointsAtTarget(plc: PlcView): boolean {
    const endpoint = plc.state.services.atproto_pds?.endpoint
    return endpoint !== undefined && normalizeUrl(endpoint) === this.row.target_url
  }

  /** The held signing key of this restore, made (and kept, sealed) on first use. */
  async #signingKey(): Promise<HeldKeypair> {
    if (this.row.signing_key !== null) {
      const held = await this.deps.keys.get(this.row.signing_key)
      if (held !== null) return held
    }
    const key = await generateRotationKey()
    this.deps.db.transaction(() => {
      this.deps.keys.save(key, 'signing', this.#did)
      this.deps.db.prepare('UPDATE restores SET signing_key = ? WHERE did = ?').run(key.didKey, this.#did)
    })()
    this.row = { ...this.row, signing_key: key.didKey }
    return key
  }

  async #takeSigningKey(): Promise<void> {
    const plc = await this.#freshPlc()
    if (this.#pointsAtTarget(plc)) return this.finish('signing-key', 'skipped', 'The DID already points at the new PDS.')
    const signing = await this.#signingKey()
    if (plc.state.verificationMethods.atproto === signing.didKey) return this.finish('signing-key', 'skipped', `${signing.didKey} is already the DID's signing key.`)
    const op = await signPlcOperation(
      {
        type: 'plc_operation',
        rotationKeys: plc.state.rotationKeys,
        verificationMethods: { ...plc.state.verificationMethods, atproto: signing.didKey },
        alsoKnownAs: plc.state.alsoKnownAs,
        services: plc.state.services,
        prev: plc.summary.lastCid,
      },
      this.rotationKey,
    )
    await sendPlcOperation(this.deps.plcUrl, this.#did, op, this.deps.plcFetch, this.signal)
    const after = await this.#freshPlc()
    if (after.state.verificationMethods.atproto !== signing.didKey) throw new RestoreError(this.#did, 'signing-key', 'the PLC directory accepted the operation but the signing key did not change')
    this.finish('signing-key', 'done', `The DID's signing key is now ${signing.didKey}, held here.`)
  }

  async #targetDid(agent: AtpAgent): Promise<string> {
    if (this.row.target_did !== null) return this.row.target_did
    const desc = (await agent.com.atproto.server.describeServer({}, { signal: this.signal })).data
    this.deps.db.prepare('UPDATE restores SET target_did = ? WHERE did = ?').run(desc.did, this.#did)
    this.row = { ...this.row, target_did: desc.did }
    return desc.did
  }

  /** An agent of `@atproto/api` for the new PDS (the library is loaded at first use). */
  async #newAgent(): Promise<AtpAgent> {
    const { AtpAgent } = await import('@atproto/api')
    return new AtpAgent({ service: this.row.target_url, fetch: this.deps.fetch as typeof globalThis.fetch })
  }

  /** Signed in to the new account (deactivated accounts can sign in). */
  async #session(): Promise<AtpAgent> {
    if (this.#agent !== undefined) return this.#agent
    const agent = await this.#newAgent()
    await agent.login({ identifier: this.#did, password: this.password })
    this.#agent = agent
    return agent
  }

  async #accountExists(agent: AtpAgent): Promise<boolean> {
    try {
      await agent.com.atproto.sync.getRepoStatus({ did: this.#did }, { signal: this.signal })
      return true
    } catch (err) {
      if ((err as { error?: string }).error === 'RepoNotFound') return false
      throw err
    }
  }

  async #createAccount(): Promise<void> {
    const agent = await this.#newAgent()
    if (await this.#accountExists(agent)) return this.finish('create-account', 'skipped', 'The account already exists on the new PDS.')
    const aud = await this.#targetDid(agent)
    const signing = await this.#signingKey()
    const jwt = await createServiceJwt({ iss: this.#did, aud, lxm: 'com.atproto.server.createAccount', key: signing, now: this.deps.now })
    await agent.com.atproto.server.createAccount(
      { did: this.#did, handle: this.row.handle, email: this.row.email, password: this.password, ...(this.inviteCode === undefined ? {} : { inviteCode: this.inviteCode }) },
      { headers: { authorization: `Bearer ${jwt}` }, signal: this.signal } as never,
    )
    this.finish('create-account', 'done', `Created ${this.row.handle} on ${this.row.target_url} (deactivated until the last steps).`)
  }

  inviteCode: string | undefined

  async #importRepo(): Promise<void> {
    const agent = await this.#session()
    const status = (await agent.com.atproto.server.checkAccountStatus({}, { signal: this.signal })).data
    if (status.repoCommit === this.copy.head.cid) return this.finish('import-repo', 'skipped', `The new PDS already has commit ${this.copy.head.cid}.`)
    const exp = await exportCar(this.deps.storage, this.#did, { signal: this.signal })
    // The CAR is streamed as the request body, read from the store as it is sent: a large
    // repository is never held whole in memory.
    let sent = 0
    const body = (async function* () {
      for await (const chunk of exp.car) {
        sent += chunk.byteLength
        yield chunk
      }
    })()
    await agent.com.atproto.repo.importRepo(body as never, { encoding: 'application/vnd.ipld.car', signal: this.signal })
    const after = (await agent.com.atproto.server.checkAccountStatus({}, { signal: this.signal })).data
    if (after.repoCommit !== this.copy.head.cid) throw new RestoreError(this.#did, 'import-repo', `the new PDS holds commit ${after.repoCommit}, not ${this.copy.head.cid}`)
    this.finish('import-repo', 'done', `Imported rev ${exp.rev} (${after.indexedRecords} records, ${sent} bytes).`)
  }

  async #missingBlobs(agent: AtpAgent): Promise<string[]> {
    const missing: string[] = []
    let cursor: string | undefined
    do {
      const page = (await agent.com.atproto.repo.listMissingBlobs({ limit: 500, cursor }, { signal: this.signal })).data
      for (const b of page.blobs) missing.push(b.cid)
      cursor = page.cursor
    } while (cursor !== undefined && cursor !== '')
    return missing
  }

  async #uploadBlobs(): Promise<void> {
    const agent = await this.#session()
    const total = this.copy.blobs.length
    const missing = await this.#missingBlobs(agent)
    const mime = new Map(this.copy.blobs.map((b) => [b.cid, b.mimeType]))
    let done = total - missing.length
    this.progress('upload-blobs', done, total)
    if (missing.length === 0) return this.finish('upload-blobs', 'skipped', `All ${total} blobs are already on the new PDS.`)
    for (const cid of missing) {
      throwIfAborted(this.signal)
      if (!mime.has(cid)) throw new RestoreError(this.#did, 'upload-blobs', `the new PDS expects blob ${cid}, which the local copy does not reference`)
      const bytes = await this.deps.storage.blocks.getBlock(cid, { signal: this.signal })
      const res = await agent.com.atproto.repo.uploadBlob(bytes, { encoding: mime.get(cid) ?? 'application/octet-stream', signal: this.signal })
      if (res.data.blob.ref.toString() !== cid) throw new RestoreError(this.#did, 'upload-blobs', `the new PDS stored blob ${cid} as ${res.data.blob.ref.toString()}`)
      this.progress('upload-blobs', ++done, total)
    }
    const left = await this.#missingBlobs(agent)
    if (left.length > 0) throw new RestoreError(this.#did, 'upload-blobs', `${left.length} blobs are still missing on the new PDS`)
    this.finish('upload-blobs', 'done', `Uploaded ${missing.length} blobs (${total} in all).`)
  }

  async #pointDid(): Promise<void> {
    const agent = await this.#session()
    const rec = (await agent.com.atproto.identity.getRecommendedDidCredentials({}, { signal: this.signal })).data
    const plc = await this.#freshPlc()
    const recKey = (rec.verificationMethods as Record<string, string> | undefined)?.atproto
    if (this.#pointsAtTarget(plc) && plc.state.verificationMethods.atproto === recKey) {
      return this.finish('point-did', 'skipped', 'The DID already points at the new PDS.')
    }
    const held = this.rotationKey.didKey
    const rotationKeys = [held, ...(rec.rotationKeys ?? []).filter((k) => k !== held)].slice(0, PLC_MAX_ROTATION_KEYS)
    const op = await signPlcOperation(
      {
        type: 'plc_operation',
        rotationKeys,
        verificationMethods: (rec.verificationMethods ?? {}) as Record<string, string>,
        alsoKnownAs: rec.alsoKnownAs ?? [],
        services: (rec.services ?? {}) as PlcView['state']['services'],
        prev: plc.summary.lastCid,
      },
      this.rotationKey,
    )
    await agent.com.atproto.identity.submitPlcOperation({ operation: op as unknown as Record<string, unknown> }, { signal: this.signal })
    const after = await this.#freshPlc()
    if (!this.#pointsAtTarget(after)) throw new RestoreError(this.#did, 'point-did', 'the PLC directory does not show the new PDS after the operation')
    this.finish('point-did', 'done', `The DID now points at ${this.row.target_url}; rotation keys: ${rotationKeys.join(', ')}.`)
  }

  async #activate(): Promise<void> {
    const agent = await this.#session()
    const status = (await agent.com.atproto.server.checkAccountStatus({}, { signal: this.signal })).data
    if (status.activated) return this.finish('activate', 'skipped', 'The account is already active.')
    await agent.com.atproto.server.activateAccount(undefined, { signal: this.signal })
    this.finish('activate', 'done', 'The account is active on the new PDS.')
  }

  async #verify(): Promise<void> {
    const resolved = await this.deps.resolver.resolve(this.#did, { forceRefresh: true, signal: this.signal })
    if (normalizeUrl(resolved.pdsUrl) !== this.row.target_url) throw new RestoreError(this.#did, 'verify', `the DID resolves to ${resolved.pdsUrl}, not the new PDS`)
    const agent = await this.#newAgent()
    const latest = (await agent.com.atproto.sync.getLatestCommit({ did: this.#did }, { signal: this.signal })).data
    const theirs = new Map<string, string>()
    const collections = (await agent.com.atproto.repo.describeRepo({ repo: this.#did }, { signal: this.signal })).data.collections
    for (const collection of collections) {
      let cursor: string | undefined
      do {
        const page = (await agent.com.atproto.repo.listRecords({ repo: this.#did, collection, limit: 100, cursor }, { signal: this.signal })).data
        for (const r of page.records) theirs.set(r.uri.slice(`at://${this.#did}/`.length), r.cid)
        cursor = page.records.length === 0 ? undefined : page.cursor
      } while (cursor !== undefined)
    }
    const differing = [...this.copy.records].filter(([path, cid]) => theirs.get(path) !== cid).length
    if (theirs.size !== this.copy.records.size || differing > 0) {
      throw new RestoreError(this.#did, 'verify', `the new PDS lists ${theirs.size} records, the local copy ${this.copy.records.size} (${differing} missing or different)`)
    }
    const blobs = new Set<string>()
    let cursor: string | undefined
    do {
      const page = (await agent.com.atproto.sync.listBlobs({ did: this.#did, limit: 500, cursor }, { signal: this.signal })).data
      for (const c of page.cids) blobs.add(c)
      cursor = page.cids.length === 0 ? undefined : page.cursor
    } while (cursor !== undefined)
    const missingBlobs = this.copy.blobs.filter((b) => !blobs.has(b.cid)).length
    if (missingBlobs > 0) throw new RestoreError(this.#did, 'verify', `${missingBlobs} blobs of the local copy are not listed by the new PDS`)
    this.finish('verify', 'done', `The DID resolves to the new PDS (head ${latest.rev}); its ${theirs.size} records and ${blobs.size} blobs match the local copy.`)
  }
}

// --- Shared checks --------------------------------------------------------------------------------

/** A held key by `did:key`, or the key itself parsed from hex or a phrase. */
export async function resolveKey(deps: Pick<RestoreDeps, 'keys'>, value: string): Promise<HeldKeypair> {
  if (value.startsWith('did:key:')) {
    const held = await deps.keys.get(value)
    if (held === null) throw new InvalidRotationKeyError(`${value} is not held by this node; give the key file or the recovery phrase`)
    return held
  }
  return parseRotationKey(value)
}

/**
 * The local copy is complete: the head commit verifies with the signing key it was synced with,
 * every block under it is present, every blob is stored.
 */
export async function checkLocalCopy(deps: Pick<RestoreDeps, 'storage'>, did: string, signal?: AbortSignal): Promise<LocalCopy> {
  const { repos, blocks } = deps.storage
  const account = await repos.getAccount(did, { signal })
  if (account === null) throw new P2pdsError(`${did} is not held by this node`)
  if (account.head === null) throw new P2pdsError(`${did} has not been synced yet`)
  const bytes = await blocks.getBlock(account.head.cid, { signal })
  await checkCommit(did, account.signingKey, CID.parse(account.head.cid) as never, bytes)
  let count = 0
  for await (const _block of walkRepoBlocks(blocks, account.head.cid, { signal })) count++
  const records = new Map<string, string>()
  for (let cursor: string | undefined; ; ) {
    const page = await repos.listRecords(did, { limit: 1000, after: cursor, signal })
    for (const r of page) records.set(`${r.collection}/${r.rkey}`, r.cid)
    if (page.length < 1000) break
    const last = page.at(-1)!
    cursor = `${last.collection}/${last.rkey}`
  }
  const blobs: LocalCopy['blobs'] = []
  for (let after: string | undefined; ; ) {
    const page = await repos.listBlobs(did, { limit: 500, after, signal })
    for (const b of page) {
      if (b.state !== 'stored') throw new P2pdsError(`blob ${b.cid} is ${b.state === 'failed' ? 'missing (fetching it failed)' : 'not fetched yet'}; sync the account first`)
      blobs.push({ cid: b.cid, mimeType: b.mimeType })
    }
    if (page.length < 500) break
    after = page.at(-1)!.cid
  }
  return { head: { cid: account.head.cid, rev: account.head.rev }, handle: account.handle, blocks: count, records, blobs }
}

function readRow(db: Database, did: string): RestoreRow | null {
  return (db.prepare('SELECT * FROM restores WHERE did = ?').get(did) as RestoreRow | undefined) ?? null
}

function statusOf(row: RestoreRow): RestoreStatusDto {
  return {
    did: row.did,
    targetUrl: row.target_url,
    handle: row.handle,
    state: row.state,
    steps: JSON.parse(row.steps_json) as RestoreStepDto[],
    error: row.error_code === null ? null : { name: 'RestoreError', code: row.error_code, message: row.error_message ?? '' },
    startedAt: new Date(row.started_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  }
}

/** `https://pds.example.com` from what a user typed (trailing slashes and paths dropped). */
export function normalizeUrl(url: string): string {
  try {
    return new URL(url).origin
  } catch (err) {
    throw new InvalidInputError(`${JSON.stringify(url)} is not a URL of a PDS.`, { cause: err })
  }
}

/** The message of anything thrown, without a final full stop (it goes inside a sentence). */
function errorClause(err: unknown): string {
  return errorText(err).replace(/\.$/, '')
}

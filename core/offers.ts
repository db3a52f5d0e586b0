/**
 * Offers and agreements: the records P2PDS nodes coordinate with, in the users' own repos.
 *
 * - An offer (`org.p2pds.replication.offer`, rkey = subject DID with `:` → `-`) is published with
 *   the offerer's session, then the subject's node is told (`notifyOffer` to the endpoint in the
 *   subject's `org.p2pds.peer/self`).
 * - The receiver never trusts the push: it reads the offer from the offerer's PDS with
 *   `com.atproto.sync.getRecord` and verifies the proof against the offerer's signing key.
 * - An agreement is two offers naming each other, read from both repos. Every node detects it on
 *   its own, also with no push at all (the periodic check reads the repos of every account it
 *   offered to or holds an offer from); it becomes an active reciprocal policy and the partner's
 *   account is held. A deleted offer terminates it; the data is purged after PURGE_GRACE_SEC.
 *
 * Background work (notifications, the periodic check) never rejects into the host: failures are
 * reported as `offers:changed` with an `error`, and the next check tries again.
 */
import { AtUri } from '@atproto/syntax'
import { verifyRecords } from '@atproto/repo'
import type { AgreementDto, OfferDto, OffersDto, P2pdsEvents, PolicyDto, PolicyUpdateDto } from './api.js'
import type { AuthService } from './auth/sessions.js'
import { InvalidRecordError, NotLoggedInError, OfferError, P2pdsError, PdsRequestError, PolicyError, toErrorDto } from './errors.js'
import type { IdentityResolver } from './identity/index.js'
import { lexicons, NSID, offerRkey, recordToJson, validateRecord, type LexiconRecords } from './lexicons.js'
import { OffersStore, type OfferRow } from './offers-store.js'
import { archivePolicy, duePurges, editPolicy, holdingOf, reciprocalId, reconcilePair, stillHeld, transition, type Policy } from './policy/index.js'
import { xrpcGet } from './replication/pds-client.js'
import type { Database } from './storage/database.js'

type OfferRecord = LexiconRecords['org.p2pds.replication.offer']

/** What the node answers a `notifyOffer` with: the output, or an XRPC error. */
export type NotifyOfferResult = { status: 'stored' | 'accepted' | 'agreement' } | { error: 'InvalidRequest' | 'OfferNotFound' | 'InvalidOffer' | 'UnknownSubject'; message: string }

export interface OffersServiceInit {
  db: Database
  auth: Pick<AuthService, 'agent' | 'list'>
  resolver: IdentityResolver
  /** fetch for PDS reads and notifications to other nodes (the SSRF-safe fetch, with a small size cap). */
  fetch: typeof globalThis.fetch
  /** Starts holding an account (adds it, syncs it). */
  hold(did: string): Promise<unknown>
  /** Stops holding an account and deletes its data. */
  release(did: string): Promise<void>
  emit<E extends keyof P2pdsEvents>(event: E, data: P2pdsEvents[E]): void
  /** TRUSTED_DIDS: their offers are accepted at once. @default [] */
  trustedDids?: readonly string[]
  /** PURGE_GRACE_SEC. */
  purgeGraceSec: number
  /** Period of the check of every offered-to repo, in ms; 0 turns it off. @default 900000 */
  checkIntervalMs?: number
  /** Clock. @default Date.now */
  now?: () => number
  /**
   * An agreement is active: `partner`'s node (its `org.p2pds.peer/self` record) holds `localDid`'s
   * data, so it joins the peers this node challenges and fetches from. @default nothing
   */
  partnerFound?(partner: { did: string; localDid: string; peerId: string | null; multiaddrs: string[]; endpoint: string | null }): Promise<void>
}

export class OffersService {
  readonly #init: OffersServiceInit
  readonly #store: OffersStore
  readonly #now: () => number
  readonly #background = new Set<Promise<void>>()
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  #stopped = false

  constructor(init: OffersServiceInit) {
    this.#init = init
    this.#store = new OffersStore(init.db)
    this.#now = init.now ?? Date.now
  }

  start(): void {
    this.#stopped = false
    const every = this.#init.checkIntervalMs ?? 900_000
    if (every > 0) {
      this.#timer = setInterval(() => void this.#checkQuietly(), every)
      this.#timer.unref()
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.idle()
  }

  /**
   * Applies the config policies (REPLICATE_DIDS, POLICY_FILE) read at start: each is stored
   * active and its DID held; a config policy no longer listed is terminated (purged after the
   * grace period unless another policy holds the DID).
   */
  applyConfigPolicies(policies: readonly Policy[], heldElsewhere: ReadonlySet<string> = new Set()): void {
    const now = this.#now()
    const listed = new Set(policies.map((p) => p.id))
    for (const old of this.#store.listPolicies()) {
      if (old.type === 'config' && !listed.has(old.id) && (old.state === 'active' || old.state === 'suspended')) {
        this.#store.putPolicy(transition(old, 'terminated', now, this.#init.purgeGraceSec * 1000))
      }
    }
    for (const p of policies) {
      const existing = this.#store.getPolicy(p.id)
      this.#store.putPolicy({ ...p, createdAt: existing?.createdAt ?? p.createdAt, state: 'active', purgeAt: null })
      if (heldElsewhere.has(p.did)) continue
      this.#inBackground(async () => {
        await this.#init.hold(p.did)
      })
    }
  }

  /** Settles when the background work started so far has ended. */
  async idle(): Promise<void> {
    while (this.#background.size > 0 || this.#checking !== undefined) {
      await Promise.all([...this.#background, this.#checking])
    }
  }

  list(): OffersDto {
    const offers = this.#store.listOffers().map(offerDto)
    return {
      incoming: offers.filter((o) => o.direction === 'incoming'),
      outgoing: offers.filter((o) => o.direction === 'outgoing'),
      agreements: this.#store.listPolicies().map(agreementDto),
    }
  }

  /** Publishes an offer to `target` as the account `as`, then notifies the target's node. */
  async offer(input: { target: string; as?: string; intervalSec?: number; minCopies?: number; retentionDays?: number }): Promise<OfferDto> {
    const local = this.#local(input.as)
    const target = await this.#init.resolver.resolve(input.target.trim().replace(/^@/, ''))
    if (target.did === local) throw new OfferError('An account cannot offer to replicate itself: its node already holds it.')
    const row = await this.#publishOffer(local, target.did, input)
    this.#inBackground(async () => {
      await this.#notify(local, target.did, row.uri)
      await this.#reconcile(local, target.did)
    })
    return offerDto(row)
  }

  /** Accepts an incoming offer (also after a denial): publishes the reciprocal offer. */
  async accept(input: { did: string; as?: string }): Promise<OfferDto> {
    const local = this.#local(input.as)
    const incoming = this.#store.getOffer(input.did, local)
    if (incoming === undefined || incoming.direction !== 'incoming') throw new OfferError(`There is no offer from ${input.did} to ${local} to accept.`)
    await this.offer({ target: input.did, as: local })
    this.#store.setDecision(input.did, local, 'accepted', this.#now())
    this.#init.emit('offers:changed', { did: input.did })
    return offerDto(this.#store.getOffer(input.did, local)!)
  }

  /** Denies an incoming offer: remembered, publishes nothing; `accept` undoes it. */
  async deny(input: { did: string; as?: string }): Promise<OfferDto> {
    const local = this.#local(input.as)
    if (!this.#store.setDecision(input.did, local, 'denied', this.#now())) throw new OfferError(`There is no offer from ${input.did} to ${local} to deny.`)
    this.#init.emit('offers:changed', { did: input.did })
    return offerDto(this.#store.getOffer(input.did, local)!)
  }

  /** Deletes the offer to `did`: the agreement dissolves (here now, there at its next check or on the push). */
  async revoke(input: { did: string; as?: string }): Promise<void> {
    const local = this.#local(input.as)
    const row = this.#store.getOffer(local, input.did)
    if (row === undefined || row.direction !== 'outgoing') throw new OfferError(`${local} has no offer to ${input.did} to revoke.`)
    const agent = await this.#init.auth.agent(local)
    await agent.com.atproto.repo.deleteRecord({ repo: local, collection: NSID.offer, rkey: new AtUri(row.uri).rkey })
    this.#store.deleteOffer(local, input.did)
    this.#init.emit('offers:changed', { did: input.did })
    await this.#reconcile(local, input.did)
    this.#inBackground(() => this.#notify(local, input.did, row.uri))
  }

  /** Reads every relevant repo now and applies what it finds, then purges what is due. */
  async check(): Promise<OffersDto> {
    this.#checking ??= this.#checkAll().finally(() => {
      this.#checking = undefined
    })
    await this.#checking
    return this.list()
  }

  /** Purges now the data of a dissolved agreement. */
  async purgeNow(input: { did: string }): Promise<void> {
    const now = this.#now()
    const due = this.#store.listPolicies().filter((p) => p.did === input.did && p.state === 'terminated')
    if (due.length === 0) throw new OfferError(`No dissolved agreement with ${input.did} is waiting to be purged.`)
    for (const p of due) this.#store.putPolicy({ ...p, purgeAt: now, updatedAt: now })
    await this.#purgeDue()
  }

  /** Publishes or deletes the consent record of the account `as`. */
  async consent(input: { on: boolean; as?: string }): Promise<{ did: string; consent: boolean }> {
    const local = this.#local(input.as)
    const agent = await this.#init.auth.agent(local)
    if (input.on) {
      const record = validateRecord(NSID.consent, { createdAt: new Date(this.#now()).toISOString() })
      await agent.com.atproto.repo.putRecord({ repo: local, collection: NSID.consent, rkey: 'self', record: recordToJson(record), validate: false })
    } else {
      await agent.com.atproto.repo.deleteRecord({ repo: local, collection: NSID.consent, rkey: 'self' })
    }
    this.#init.emit('offers:changed', { did: local })
    return { did: local, consent: input.on }
  }

  /** Archives an account one-way, labelled consented (it has a consent record) or unconsented. */
  async archive(input: { handleOrDid: string }): Promise<AgreementDto> {
    const id = await this.#init.resolver.resolve(input.handleOrDid.trim().replace(/^@/, ''))
    const consent = (await this.#readVerifiedRecord(id.did, NSID.consent, 'self')) !== null
    const policy = archivePolicy(id.did, this.#now(), consent ? 'consented' : 'unconsented', this.#store.getPolicy(`archive:${id.did}`))
    this.#store.putPolicy(policy)
    await this.#init.hold(id.did)
    this.#init.emit('offers:changed', { did: id.did })
    return agreementDto(policy)
  }

  /**
   * An account added by hand (`accounts.add`, `p2pds backup`): it is held for an active archive
   * policy, labelled unconsented until its consent record is found (read in the background).
   */
  addedByHand(did: string): Policy {
    const existing = this.#store.getPolicy(`archive:${did}`)
    const policy = archivePolicy(did, this.#now(), existing?.state === 'active' && existing.consent === 'consented' ? 'consented' : 'unconsented', existing)
    this.#store.putPolicy(policy)
    this.#init.emit('offers:changed', { did })
    this.#inBackground(async () => {
      const consent = (await this.#readVerifiedRecord(did, NSID.consent, 'self')) !== null ? 'consented' : 'unconsented'
      const now = this.#store.getPolicy(policy.id)
      if (now === undefined || now.state !== 'active' || now.consent === consent) return
      this.#store.putPolicy({ ...now, consent, updatedAt: this.#now() })
      this.#init.emit('offers:changed', { did })
    })
    return policy
  }

  /**
   * An account removed by hand (its data already deleted): its archive policy ends (purged).
   * Agreements and configuration are not changed here: revoke the offer, or edit the configuration.
   */
  removedByHand(did: string): void {
    const p = this.#store.getPolicy(`archive:${did}`)
    if (p === undefined || p.state === 'purged') return
    const now = this.#now()
    const ended = p.state === 'terminated' ? p : transition(p, 'terminated', now)
    this.#store.putPolicy(transition(ended, 'purged', now))
    this.#init.emit('offers:changed', { did })
  }

  /**
   * Accounts held with no policy holding them (data dirs from before policies): each gets an
   * active archive policy, unconsented (what adding by hand meant then). Returns the DIDs adopted.
   */
  adoptHeld(dids: readonly string[]): string[] {
    const policies = this.#store.listPolicies()
    const adopted = dids.filter((did) => holdingOf(policies, did) === null)
    const now = this.#now()
    for (const did of adopted) this.#store.putPolicy(archivePolicy(did, now, 'unconsented', this.#store.getPolicy(`archive:${did}`)))
    return adopted
  }

  /** The logged-in account that acts for `as` (DID or handle; the only one logged in when absent). Throws when none or ambiguous. */
  actingAs(as?: string): string {
    return this.#local(as)
  }

  /**
   * Holds, in the background, every DID an active policy names that is not in `held` (a policy
   * stored while its first hold failed or the node stopped): policies say which DIDs a node holds.
   * Config policies are left to {@link applyConfigPolicies}. Returns the DIDs it starts holding.
   */
  holdMissing(held: ReadonlySet<string>): string[] {
    const missing = [...new Set(this.#store.listPolicies().filter((p) => p.state === 'active' && p.type !== 'config' && !held.has(p.did)).map((p) => p.did))]
    for (const did of missing) this.#inBackground(async () => void (await this.#init.hold(did)))
    return missing
  }

  /** Every stored policy (every state). */
  policies(): Policy[] {
    return this.#store.listPolicies()
  }

  /**
   * Sets fields of an archive or reciprocal policy (see `editPolicy` for what is refused) and
   * announces it with `offers:changed`, on which the scheduler re-plans the account's next sync.
   */
  updatePolicy(input: PolicyUpdateDto): PolicyDto {
    const current = this.#store.getPolicy(input.id)
    if (current === undefined) throw new PolicyError(`There is no policy ${JSON.stringify(input.id)} on this node; the Policies panel and p2pds offers list them.`)
    const next = editPolicy(current, input, this.#now())
    this.#store.putPolicy(next)
    this.#init.emit('offers:changed', { did: next.did })
    return policyDto(next)
  }

  /**
   * Handles a `notifyOffer` push. The offer is read from the offerer's repo and verified; the
   * body only says where to look. Nothing is stored unless the offer is there and names the subject.
   */
  async receiveNotify(body: unknown): Promise<NotifyOfferResult> {
    let input: { offerer: string; subject: string; uri: string }
    try {
      input = lexicons().validateInput(NSID.notifyOffer, body)
    } catch (err) {
      return { error: 'InvalidRequest', message: (err as Error).message }
    }
    const { offerer, subject } = input
    if (!this.#init.auth.list().some((l) => l.did === subject)) return { error: 'UnknownSubject', message: `${subject} is not logged in on this node.` }
    const uri = new AtUri(input.uri)
    if (uri.host !== offerer || uri.collection !== NSID.offer) return { error: 'InvalidOffer', message: `The offer URI must name a ${NSID.offer} record in ${offerer}'s repo.` }
    let record: Record<string, unknown> | null
    try {
      record = await this.#readVerifiedRecord(offerer, NSID.offer, uri.rkey)
    } catch (err) {
      return { error: 'OfferNotFound', message: `The offer could not be read from ${offerer}'s repo: ${(err as Error).message}` }
    }
    if (record === null) {
      // A revoked offer: re-read an agreement this node already has with the offerer (its repo
      // says what is true), and store nothing new.
      if (this.#store.getPolicy(reciprocalId(subject, offerer)) !== undefined || this.#store.getOffer(offerer, subject) !== undefined) {
        this.#inBackground(() => this.#reconcile(subject, offerer))
      }
      return { error: 'OfferNotFound', message: `There is no such offer in ${offerer}'s repo.` }
    }
    let offer: OfferRecord
    try {
      offer = validateRecord(NSID.offer, record)
    } catch (err) {
      return { error: 'InvalidOffer', message: (err as InvalidRecordError).message }
    }
    if (offer.subject !== subject) return { error: 'InvalidOffer', message: `That offer is for ${offer.subject}, not ${subject}.` }
    const trusted = (this.#init.trustedDids ?? []).includes(offerer)
    const offeredBack = this.#store.getOffer(subject, offerer)?.direction === 'outgoing'
    this.#storeIncoming(offerer, subject, input.uri, offer, offeredBack || trusted ? 'accepted' : undefined)
    this.#inBackground(async () => {
      if (trusted && !offeredBack) await this.#publishOffer(subject, offerer, {}).then((row) => this.#notify(subject, offerer, row.uri))
      await this.#reconcile(subject, offerer)
    })
    return { status: offeredBack ? 'agreement' : trusted ? 'accepted' : 'stored' }
  }

  // --- internals ------------------------------------------------------------------------------

  /** The logged-in account to act as: `as` (DID or handle), else the only one. */
  #local(as: string | undefined): string {
    const logins = this.#init.auth.list()
    if (as !== undefined) {
      const key = as.replace(/^@/, '').toLowerCase()
      const found = logins.find((l) => l.did === as || l.handle === key)
      if (found === undefined) throw new NotLoggedInError(`${as} is not logged in on this node. Log in as it first.`)
      return found.did
    }
    if (logins.length === 0) throw new NotLoggedInError()
    if (logins.length > 1) throw new OfferError(`Several accounts are logged in (${logins.map((l) => l.handle ?? l.did).join(', ')}); say which one acts (as).`)
    return logins[0]!.did
  }

  async #publishOffer(local: string, subject: string, params: { intervalSec?: number; minCopies?: number; retentionDays?: number }): Promise<OfferRow> {
    const record = validateRecord(NSID.offer, {
      subject,
      createdAt: new Date(this.#now()).toISOString(),
      ...(params.intervalSec === undefined ? {} : { intervalSec: params.intervalSec }),
      ...(params.minCopies === undefined ? {} : { minCopies: params.minCopies }),
      ...(params.retentionDays === undefined ? {} : { retentionDays: params.retentionDays }),
    })
    const agent = await this.#init.auth.agent(local)
    const rkey = offerRkey(subject)
    const json = recordToJson(record)
    const written =
      rkey === null
        ? (await agent.com.atproto.repo.createRecord({ repo: local, collection: NSID.offer, record: json, validate: false })).data
        : (await agent.com.atproto.repo.putRecord({ repo: local, collection: NSID.offer, rkey, record: json, validate: false })).data
    const now = this.#now()
    const row: OfferRow = { offerer: local, subject, direction: 'outgoing', uri: written.uri, cid: written.cid, record: json, decision: 'accepted', createdAt: now, updatedAt: now }
    this.#store.putOffer(row)
    this.#init.emit('offers:changed', { did: subject })
    return row
  }

  #storeIncoming(offerer: string, subject: string, uri: string, offer: OfferRecord, decision: OfferRow['decision'] | undefined): void {
    const now = this.#now()
    const existing = this.#store.getOffer(offerer, subject)
    this.#store.putOffer({ offerer, subject, direction: 'incoming', uri, cid: null, record: recordToJson(offer), createdAt: existing?.createdAt ?? now, updatedAt: now, ...(decision === undefined ? {} : { decision }) })
    this.#init.emit('offers:changed', { did: offerer })
  }

  /** Tells `did`'s node about the offer at `uri` (best effort: the periodic check covers a miss). */
  async #notify(local: string, did: string, uri: string): Promise<void> {
    const peer = await this.#readVerifiedRecord(did, NSID.peer, 'self').catch(() => null)
    if (peer === null) return
    let endpoint: string | undefined
    try {
      endpoint = validateRecord(NSID.peer, peer).endpoint
    } catch {
      return // an invalid peer record is ignored
    }
    if (endpoint === undefined) return
    await this.#init
      .fetch(new URL(`/xrpc/${NSID.notifyOffer}`, endpoint), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ offerer: local, subject: did, uri }) })
      .then((r) => r.body?.cancel())
      .catch(() => undefined)
  }

  /**
   * Reads `did`'s offer to `local` from `did`'s repo (verified), or null when there is none.
   * Throws when the repo cannot be read (then nothing is concluded).
   */
  async #theirOffer(local: string, did: string): Promise<{ uri: string; offer: OfferRecord } | null> {
    const rkey = offerRkey(local) ?? this.#store.getOffer(did, local)?.uri.split('/').pop()
    if (rkey === undefined) return null
    const record = await this.#readVerifiedRecord(did, NSID.offer, rkey)
    if (record === null) return null
    try {
      const offer = validateRecord(NSID.offer, record)
      return offer.subject === local ? { uri: `at://${did}/${NSID.offer}/${rkey}`, offer } : null
    } catch {
      return null // an invalid record from someone else is ignored
    }
  }

  /** Re-reads the pair's offers and applies the policy they call for. */
  async #reconcile(local: string, did: string): Promise<void> {
    const mine = this.#store.getOffer(local, did)
    const offered = mine?.direction === 'outgoing'
    const theirs = await this.#theirOffer(local, did)
    const incoming = this.#store.getOffer(did, local)
    if (theirs !== null && incoming === undefined) {
      // Found without a push (the periodic check): stored like a pushed one.
      const trusted = (this.#init.trustedDids ?? []).includes(did)
      this.#storeIncoming(did, local, theirs.uri, theirs.offer, offered || trusted ? 'accepted' : 'pending')
      if (trusted && !offered) {
        const row = await this.#publishOffer(local, did, {})
        await this.#notify(local, did, row.uri)
        return this.#reconcile(local, did)
      }
    } else if (theirs === null && incoming?.direction === 'incoming') {
      this.#store.deleteOffer(did, local)
      this.#init.emit('offers:changed', { did })
    }
    const params = mine === undefined ? undefined : (mine.record as { minCopies?: number; intervalSec?: number; retentionDays?: number })
    const next = reconcilePair({ localDid: local, did, offered, offeredBack: theirs !== null, params }, this.#store.getPolicy(reciprocalId(local, did)), this.#now(), this.#init.purgeGraceSec * 1000)
    if (next === null) return
    this.#store.putPolicy(next)
    this.#init.emit('offers:changed', { did })
    if (next.state === 'active') {
      await this.#init.hold(did)
      await this.#rememberPartner(local, did)
    }
  }

  /** Hands an active partner's node addresses to {@link OffersServiceInit.partnerFound}; best effort. */
  async #rememberPartner(local: string, did: string): Promise<void> {
    if (this.#init.partnerFound === undefined) return
    try {
      const record = await this.#readVerifiedRecord(did, NSID.peer, 'self')
      if (record === null) return
      const peer = validateRecord(NSID.peer, record)
      if (peer.endpoint === undefined && peer.multiaddrs.length === 0) return
      await this.#init.partnerFound({ did, localDid: local, peerId: peer.peerId ?? null, multiaddrs: peer.multiaddrs, endpoint: peer.endpoint ?? null })
    } catch (err) {
      this.#init.emit('offers:changed', { did, error: toErrorDto(err) })
    }
  }

  async #checkAll(): Promise<void> {
    const failures: Array<{ did: string; err: unknown }> = []
    for (const login of this.#init.auth.list()) {
      const others = new Set<string>()
      for (const o of this.#store.listOffers()) {
        if (o.offerer === login.did) others.add(o.subject)
        if (o.subject === login.did) others.add(o.offerer)
      }
      for (const p of this.#store.listPolicies()) if (p.localDid === login.did && p.state !== 'purged') others.add(p.did)
      for (const did of others) {
        if (this.#stopped) return
        await this.#reconcile(login.did, did).catch((err: unknown) => failures.push({ did, err }))
      }
    }
    await this.#purgeDue()
    for (const f of failures) this.#init.emit('offers:changed', { did: f.did, error: toErrorDto(f.err) })
  }

  async #purgeDue(): Promise<void> {
    for (const p of duePurges(this.#store.listPolicies(), this.#now())) {
      if (!stillHeld(this.#store.listPolicies(), p.did, p.id)) {
        await this.#init.release(p.did).catch((err: unknown) => {
          if (!(err instanceof P2pdsError && err.code === 'ERR_UNKNOWN_ACCOUNT')) throw err
        })
      }
      this.#store.putPolicy({ ...p, state: 'purged', purgeAt: null, updatedAt: this.#now() })
      this.#init.emit('offers:changed', { did: p.did })
    }
  }

  async #checkQuietly(): Promise<void> {
    try {
      await this.check()
    } catch (err) {
      this.#init.emit('offers:changed', { did: '', error: toErrorDto(err) })
    }
  }

  #inBackground(fn: () => Promise<void>): void {
    const job = fn().catch((err: unknown) => {
      if (!this.#stopped) this.#init.emit('offers:changed', { did: '', error: toErrorDto(err) })
    })
    this.#background.add(job)
    void job.finally(() => this.#background.delete(job))
  }

  /**
   * A record read from `did`'s PDS with `com.atproto.sync.getRecord` and verified (commit
   * signature with the DID's key, MST path) with `@atproto/repo`; null when the repo proves it
   * absent or the PDS says it is not found.
   */
  async #readVerifiedRecord(did: string, collection: string, rkey: string): Promise<Record<string, unknown> | null> {
    const id = await this.#init.resolver.resolve(did)
    let res: Response
    try {
      res = await xrpcGet({ did, pdsUrl: id.pdsUrl, fetch: this.#init.fetch }, 'com.atproto.sync.getRecord', { did, collection, rkey }, 'application/vnd.ipld.car')
    } catch (err) {
      if (err instanceof PdsRequestError && (err.status === 404 || err.xrpcError === 'RecordNotFound')) return null
      throw err
    }
    const car = new Uint8Array(await res.arrayBuffer())
    const claims = await verifyRecords(car, did, id.signingKey)
    const claim = claims.find((c) => c.collection === collection && c.rkey === rkey)
    return claim === undefined || claim.record === null ? null : (claim.record as Record<string, unknown>)
  }
}

function offerDto(o: OfferRow): OfferDto {
  const r = o.record as { intervalSec?: number; minCopies?: number }
  return {
    offerer: o.offerer,
    subject: o.subject,
    direction: o.direction,
    uri: o.uri,
    decision: o.decision,
    createdAt: new Date(o.createdAt).toISOString(),
    intervalSec: r.intervalSec ?? null,
    minCopies: r.minCopies ?? null,
  }
}

export function agreementDto(p: Policy): AgreementDto {
  return {
    id: p.id,
    type: p.type,
    did: p.did,
    localDid: p.localDid,
    state: p.state,
    consent: p.consent,
    intervalSec: p.intervalSec,
    minCopies: p.minCopies,
    retentionDays: p.retentionDays,
    purgeAt: p.purgeAt === null ? null : new Date(p.purgeAt).toISOString(),
    updatedAt: new Date(p.updatedAt).toISOString(),
  }
}

/** A policy with everything it sets, as `policies.list` and `policies.update` return it. */
export function policyDto(p: Policy): PolicyDto {
  return { ...agreementDto(p), preferredPeers: p.preferredPeers }
}

/**
 * Offers and policies in `pds.db` (`offers`, `policies`). Each write is one statement or one
 * transaction.
 */
import type { Policy } from './policy/index.js'
import type { Database } from './storage/database.js'

/** An offer the node knows of. */
export interface OfferRow {
  offerer: string
  subject: string
  direction: 'outgoing' | 'incoming'
  uri: string
  cid: string | null
  record: Record<string, unknown>
  decision: 'pending' | 'accepted' | 'denied'
  createdAt: number
  updatedAt: number
}

interface DbOffer {
  offerer: string
  subject: string
  direction: 'outgoing' | 'incoming'
  uri: string
  cid: string | null
  record_json: string
  decision: 'pending' | 'accepted' | 'denied'
  created_at: number
  updated_at: number
}

interface DbPolicy {
  id: string
  type: Policy['type']
  did: string
  local_did: string | null
  state: Policy['state']
  consent: Policy['consent']
  min_copies: number | null
  interval_sec: number | null
  retention_days: number | null
  preferred_peers: string
  purge_at: number | null
  created_at: number
  updated_at: number
}

export class OffersStore {
  readonly #db: Database

  constructor(db: Database) {
    this.#db = db
  }

  /** Inserts or replaces an offer; an incoming offer keeps its decision unless one is given. */
  putOffer(row: Omit<OfferRow, 'decision'> & { decision?: OfferRow['decision'] }): void {
    this.#db
      .prepare(
        `INSERT INTO offers (offerer, subject, direction, uri, cid, record_json, decision, created_at, updated_at)
         VALUES (@offerer, @subject, @direction, @uri, @cid, @record_json, @decision, @created_at, @updated_at)
         ON CONFLICT (offerer, subject) DO UPDATE SET direction = excluded.direction, uri = excluded.uri, cid = excluded.cid,
           record_json = excluded.record_json, updated_at = excluded.updated_at,
           decision = CASE WHEN @keep = 1 THEN offers.decision ELSE excluded.decision END`,
      )
      .run({
        offerer: row.offerer,
        subject: row.subject,
        direction: row.direction,
        uri: row.uri,
        cid: row.cid,
        record_json: JSON.stringify(row.record),
        decision: row.decision ?? 'pending',
        keep: row.decision === undefined ? 1 : 0,
        created_at: row.createdAt,
        updated_at: row.updatedAt,
      })
  }

  getOffer(offerer: string, subject: string): OfferRow | undefined {
    const r = this.#db.prepare('SELECT * FROM offers WHERE offerer = ? AND subject = ?').get(offerer, subject) as DbOffer | undefined
    return r === undefined ? undefined : offerFromDb(r)
  }

  listOffers(): OfferRow[] {
    return (this.#db.prepare('SELECT * FROM offers ORDER BY created_at DESC, offerer, subject').all() as DbOffer[]).map(offerFromDb)
  }

  setDecision(offerer: string, subject: string, decision: OfferRow['decision'], now: number): boolean {
    return this.#db.prepare('UPDATE offers SET decision = ?, updated_at = ? WHERE offerer = ? AND subject = ?').run(decision, now, offerer, subject).changes > 0
  }

  deleteOffer(offerer: string, subject: string): void {
    this.#db.prepare('DELETE FROM offers WHERE offerer = ? AND subject = ?').run(offerer, subject)
  }

  putPolicy(p: Policy): void {
    this.#db
      .prepare(
        `INSERT INTO policies (id, type, did, local_did, state, consent, min_copies, interval_sec, retention_days, preferred_peers, purge_at, created_at, updated_at)
         VALUES (@id, @type, @did, @local_did, @state, @consent, @min_copies, @interval_sec, @retention_days, @preferred_peers, @purge_at, @created_at, @updated_at)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, consent = excluded.consent, min_copies = excluded.min_copies,
           interval_sec = excluded.interval_sec, retention_days = excluded.retention_days, preferred_peers = excluded.preferred_peers,
           purge_at = excluded.purge_at, updated_at = excluded.updated_at`,
      )
      .run(policyToDb(p))
  }

  listPolicies(): Policy[] {
    return (this.#db.prepare('SELECT * FROM policies ORDER BY created_at, id').all() as DbPolicy[]).map(policyFromDb)
  }

  getPolicy(id: string): Policy | undefined {
    const r = this.#db.prepare('SELECT * FROM policies WHERE id = ?').get(id) as DbPolicy | undefined
    return r === undefined ? undefined : policyFromDb(r)
  }
}

function offerFromDb(r: DbOffer): OfferRow {
  return {
    offerer: r.offerer,
    subject: r.subject,
    direction: r.direction,
    uri: r.uri,
    cid: r.cid,
    record: JSON.parse(r.record_json) as Record<string, unknown>,
    decision: r.decision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

function policyToDb(p: Policy): DbPolicy {
  return {
    id: p.id,
    type: p.type,
    did: p.did,
    local_did: p.localDid,
    state: p.state,
    consent: p.consent,
    min_copies: p.minCopies,
    interval_sec: p.intervalSec,
    retention_days: p.retentionDays,
    preferred_peers: JSON.stringify(p.preferredPeers),
    purge_at: p.purgeAt,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  }
}

function policyFromDb(r: DbPolicy): Policy {
  return {
    id: r.id,
    type: r.type,
    did: r.did,
    localDid: r.local_did,
    state: r.state,
    consent: r.consent,
    minCopies: r.min_copies,
    intervalSec: r.interval_sec,
    retentionDays: r.retention_days,
    preferredPeers: JSON.parse(r.preferred_peers) as string[],
    purgeAt: r.purge_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

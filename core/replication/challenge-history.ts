/**
 * `ChallengeHistory`: the `challenges` table of `pds.db` (migration 4). One row per challenge
 * sent, each written by one statement; rows go with their peer (`ON DELETE CASCADE`).
 */
import type { Database } from 'better-sqlite3'
import type { ChallengeFailure, ChallengeLevel } from './challenge.js'
import type { ChallengeRecord } from './challenge-score.js'

interface Row {
  id: number
  peer: number
  did: string
  level: string
  transport: string
  ok: number
  reason: string | null
  message: string | null
  commit_cid: string | null
  rev: string | null
  samples: number
  nonce: string
  duration_ms: number
  at: number
}

export class ChallengeHistory {
  readonly #db: Database

  constructor(db: Database) {
    this.#db = db
  }

  /** Appends one result; resolves with its id. */
  add(r: Omit<ChallengeRecord, 'id'>): number {
    return Number(
      this.#db
        .prepare(
          `INSERT INTO challenges (peer, did, level, transport, ok, reason, message, commit_cid, rev, samples, nonce, duration_ms, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.peer, r.did, r.level, r.transport, r.ok ? 1 : 0, r.reason, r.message, r.commit, r.rev, r.samples, r.nonce, r.durationMs, r.at).lastInsertRowid,
    )
  }

  /** A peer's challenges, newest first. */
  forPeer(peer: number, limit = 50): ChallengeRecord[] {
    return this.#db.prepare<[number, number], Row>('SELECT * FROM challenges WHERE peer = ? ORDER BY at DESC, id DESC LIMIT ?').all(peer, limit).map(toRecord)
  }

  /** Challenges about one DID, newest first. */
  forDid(did: string, limit = 50): ChallengeRecord[] {
    return this.#db.prepare<[string, number], Row>('SELECT * FROM challenges WHERE did = ? ORDER BY at DESC, id DESC LIMIT ?').all(did, limit).map(toRecord)
  }

  /** The latest challenge of each (peer, DID, level). */
  latest(): ChallengeRecord[] {
    return this.#db
      .prepare<[], Row>(
        `SELECT c.* FROM challenges c
         JOIN (SELECT MAX(id) AS id FROM challenges GROUP BY peer, did, level) m ON m.id = c.id
         ORDER BY c.did, c.peer, c.level`,
      )
      .all()
      .map(toRecord)
  }
}

function toRecord(r: Row): ChallengeRecord {
  return {
    id: r.id,
    peer: r.peer,
    did: r.did,
    level: r.level as ChallengeLevel,
    transport: r.transport as ChallengeRecord['transport'],
    ok: r.ok === 1,
    reason: r.reason as ChallengeFailure | null,
    message: r.message ?? '',
    commit: r.commit_cid,
    rev: r.rev,
    samples: r.samples,
    nonce: r.nonce,
    durationMs: r.duration_ms,
    at: r.at,
  }
}

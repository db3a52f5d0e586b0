/**
 * Login state in `pds.db`: the `logins` list and the sealed `auth_secrets` (OAuth states and
 * sessions, app-password sessions). Every secret is sealed with the node's {@link SecretBox}
 * for the purpose `<kind>:<key>`, so a row moved to another slot does not open.
 */
import type { Database } from '../storage/database.js'
import type { SecretBox } from './secret-box.js'

/** Which secret a row holds. */
export type AuthSecretKind = 'oauth-state' | 'oauth-session' | 'app-password'

/** How an account logged in. */
export type LoginMethod = 'oauth' | 'app-password'

/** A logged-in account. */
export interface LoginRow {
  did: string
  handle: string | null
  pdsUrl: string
  method: LoginMethod
  loggedInAt: number
}

/** A key–value store of sealed JSON values (the shape `@atproto/oauth-client-node` asks for). */
export interface SealedStore<V> {
  get(key: string): Promise<V | undefined>
  set(key: string, value: V): Promise<void>
  del(key: string): Promise<void>
}

export class AuthStore {
  readonly #db: Database
  readonly #box: () => SecretBox
  readonly #now: () => number

  /** `box` is asked for on first use, so a node that never logs in makes no data key. */
  constructor(db: Database, box: () => SecretBox, now: () => number = Date.now) {
    this.#db = db
    this.#box = box
    this.#now = now
  }

  /** A sealed store of one kind of secret. */
  secrets<V>(kind: AuthSecretKind): SealedStore<V> {
    const purpose = (key: string) => `${kind}:${key}`
    return {
      get: async (key) => {
        const row = this.#db.prepare('SELECT sealed FROM auth_secrets WHERE kind = ? AND key = ?').get(kind, key) as { sealed: string } | undefined
        return row === undefined ? undefined : (JSON.parse(this.#box().openText(row.sealed, purpose(key))) as V)
      },
      set: async (key, value) => {
        this.#db
          .prepare('INSERT INTO auth_secrets (kind, key, sealed, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at')
          .run(kind, key, this.#box().seal(JSON.stringify(value), purpose(key)), this.#now())
      },
      del: async (key) => {
        this.#db.prepare('DELETE FROM auth_secrets WHERE kind = ? AND key = ?').run(kind, key)
      },
    }
  }

  /** Records a login (replacing an earlier one of the same account). */
  putLogin(row: Omit<LoginRow, 'loggedInAt'>): LoginRow {
    const loggedInAt = this.#now()
    this.#db
      .prepare(
        `INSERT INTO logins (did, handle, pds_url, method, logged_in_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (did) DO UPDATE SET handle = excluded.handle, pds_url = excluded.pds_url, method = excluded.method, logged_in_at = excluded.logged_in_at`,
      )
      .run(row.did, row.handle, row.pdsUrl, row.method, loggedInAt)
    return { ...row, loggedInAt }
  }

  getLogin(did: string): LoginRow | undefined {
    const r = this.#db.prepare('SELECT * FROM logins WHERE did = ?').get(did) as DbLogin | undefined
    return r === undefined ? undefined : fromDb(r)
  }

  /** Logged-in accounts, first logged in first. */
  listLogins(): LoginRow[] {
    return (this.#db.prepare('SELECT * FROM logins ORDER BY logged_in_at, did').all() as DbLogin[]).map(fromDb)
  }

  /** Forgets a login and every secret of it, in one transaction. */
  removeLogin(did: string): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM logins WHERE did = ?').run(did)
      this.#db.prepare("DELETE FROM auth_secrets WHERE kind IN ('oauth-session', 'app-password') AND key = ?").run(did)
    })()
  }

  /** Drops OAuth states older than `maxAgeMs` (logins started and never finished). */
  pruneStates(maxAgeMs: number): void {
    this.#db.prepare("DELETE FROM auth_secrets WHERE kind = 'oauth-state' AND updated_at < ?").run(this.#now() - maxAgeMs)
  }
}

interface DbLogin {
  did: string
  handle: string | null
  pds_url: string
  method: LoginMethod
  logged_in_at: number
}

function fromDb(r: DbLogin): LoginRow {
  return { did: r.did, handle: r.handle, pdsUrl: r.pds_url, method: r.method, loggedInAt: r.logged_in_at }
}

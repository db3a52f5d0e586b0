/**
 * Groups: a named list of DIDs kept on this node (`groups` table). Joining one offers to every
 * other member as the acting account; the group view shows who holds a copy of whom, as far as
 * this node can know: what this node holds for its logged-in accounts (verified when its latest
 * verification passed), and the agreements in which a member promised a copy of a logged-in one.
 */
import { isValidDid } from '@atproto/syntax'
import type { GroupDto, GroupHoldingDto, GroupJoinDto } from './api.js'
import { GroupError, toErrorDto } from './errors.js'
import type { IdentityResolver } from './identity/index.js'
import type { OffersService } from './offers.js'
import type { Database } from './storage/database.js'

/** Longest group name. @default */
export const GROUP_NAME_MAX = 64
/** Most members of one group. @default */
export const GROUP_MEMBERS_MAX = 256

/** A group's name, trimmed; throws {@link GroupError} when empty, too long or with control characters. */
export function checkGroupName(name: string): string {
  const n = name.trim()
  // eslint-disable-next-line no-control-regex
  if (n === '' || n.length > GROUP_NAME_MAX || /[\u0000-\u001f\u007f]/.test(n)) throw new GroupError(`A group name is 1 to ${GROUP_NAME_MAX} characters without control characters, not ${JSON.stringify(name)}.`)
  return n
}

/** What this node knows about copies, for {@link groupHoldings}. */
export interface HoldingFacts {
  /** Accounts logged in here (this node holds copies on their behalf). */
  logins: readonly string[]
  /** Accounts this node holds: 'verified' when the latest verification passed. */
  held: ReadonlyMap<string, 'verified' | 'held'>
  /** Active agreements: `did` promised to hold a copy of the logged-in `localDid`. */
  agreements: ReadonlyArray<{ localDid: string; did: string }>
}

/** Who holds a copy of whom among `members`, as far as the facts tell (pure). Unknown pairs are left out. */
export function groupHoldings(members: readonly string[], facts: HoldingFacts): GroupHoldingDto[] {
  const inGroup = new Set(members)
  const out: GroupHoldingDto[] = []
  for (const holder of members) {
    if (!facts.logins.includes(holder)) continue
    for (const subject of members) {
      const status = subject === holder ? undefined : facts.held.get(subject)
      if (status !== undefined) out.push({ holder, subject, status })
    }
  }
  for (const a of facts.agreements) {
    if (!inGroup.has(a.localDid) || !inGroup.has(a.did)) continue
    if (out.some((h) => h.holder === a.did && h.subject === a.localDid)) continue
    out.push({ holder: a.did, subject: a.localDid, status: 'promised' })
  }
  return out.sort((x, y) => x.holder.localeCompare(y.holder) || x.subject.localeCompare(y.subject))
}

export interface GroupsServiceInit {
  db: Database
  resolver: IdentityResolver
  offers: Pick<OffersService, 'offer' | 'list' | 'actingAs' | 'policies'>
  /** The logged-in accounts. */
  logins(): ReadonlyArray<{ did: string }>
  /** Accounts held here with whether their latest verification passed. */
  held(): Promise<ReadonlyMap<string, 'verified' | 'held'>>
  /** Clock. @default Date.now */
  now?: () => number
}

interface Row {
  name: string
  members: string
  created_at: number
  updated_at: number
}

export class GroupsService {
  readonly #init: GroupsServiceInit
  readonly #now: () => number

  constructor(init: GroupsServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /** Every group with who holds a copy of whom, by name. */
  async list(): Promise<GroupDto[]> {
    const rows = this.#init.db.prepare('SELECT * FROM groups ORDER BY name').all() as Row[]
    const facts = await this.#facts()
    return rows.map((r) => this.#dto(r, facts))
  }

  /**
   * Makes a group of `members` (handles or DIDs, resolved now). Refused with {@link GroupError},
   * storing nothing, when the name is taken or bad, or a member is not an account.
   */
  async create(input: { name: string; members: readonly string[] }): Promise<GroupDto> {
    const name = checkGroupName(input.name)
    if (input.members.length === 0 || input.members.length > GROUP_MEMBERS_MAX) throw new GroupError(`A group has 1 to ${GROUP_MEMBERS_MAX} members, not ${input.members.length}.`)
    if (this.#row(name) !== undefined) throw new GroupError(`There is already a group named ${name}.`)
    const dids: string[] = []
    for (const m of input.members) {
      const key = m.trim().replace(/^@/, '')
      if (key.startsWith('did:') && !isValidDid(key)) throw new GroupError(`${m} is not a valid DID.`)
      let did: string
      try {
        did = key.startsWith('did:') ? key : (await this.#init.resolver.resolve(key)).did
      } catch (err) {
        throw new GroupError(`${m} could not be resolved to an account: ${(err as Error).message}`, { cause: err })
      }
      if (!dids.includes(did)) dids.push(did)
    }
    const now = this.#now()
    // The name is checked again by the primary key: a concurrent create of the same name fails here.
    try {
      this.#init.db.prepare('INSERT INTO groups (name, members, created_at, updated_at) VALUES (?, ?, ?, ?)').run(name, JSON.stringify(dids), now, now)
    } catch (err) {
      throw new GroupError(`There is already a group named ${name}.`, { cause: err })
    }
    return this.#dto(this.#row(name)!, await this.#facts())
  }

  /** Forgets a group (offers made when joining stay: revoke them one by one). */
  async remove(input: { name: string }): Promise<void> {
    const name = checkGroupName(input.name)
    if (this.#init.db.prepare('DELETE FROM groups WHERE name = ?').run(name).changes === 0) throw new GroupError(`There is no group named ${name}.`)
  }

  /**
   * Joins a group as the account `as` (the only one logged in when absent): offers to every other
   * member not offered to yet. A member whose offer fails is reported and the others still get theirs.
   */
  async join(input: { name: string; as?: string }): Promise<GroupJoinDto> {
    const name = checkGroupName(input.name)
    const row = this.#row(name)
    if (row === undefined) throw new GroupError(`There is no group named ${name}.`)
    const as = this.#init.offers.actingAs(input.as)
    const members = JSON.parse(row.members) as string[]
    const offeredAlready = new Set(this.#init.offers.list().outgoing.filter((o) => o.offerer === as).map((o) => o.subject))
    const result: GroupJoinDto = { name, as, offered: [], already: [], failed: [] }
    for (const did of members) {
      if (did === as) continue
      if (offeredAlready.has(did)) {
        result.already.push(did)
        continue
      }
      try {
        await this.#init.offers.offer({ target: did, as })
        result.offered.push(did)
      } catch (err) {
        result.failed.push({ did, error: toErrorDto(err) })
      }
    }
    return result
  }

  #row(name: string): Row | undefined {
    return this.#init.db.prepare('SELECT * FROM groups WHERE name = ?').get(name) as Row | undefined
  }

  async #facts(): Promise<HoldingFacts> {
    const agreements = this.#init.offers
      .policies()
      .filter((p) => p.type === 'reciprocal' && p.state === 'active' && p.localDid !== null)
      .map((p) => ({ localDid: p.localDid!, did: p.did }))
    return { logins: this.#init.logins().map((l) => l.did), held: await this.#init.held(), agreements }
  }

  #dto(r: Row, facts: HoldingFacts): GroupDto {
    const members = JSON.parse(r.members) as string[]
    return { name: r.name, members, createdAt: new Date(r.created_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString(), holdings: groupHoldings(members, facts) }
  }
}

/**
 * Policies taking effect on the node: each held account is shown with the kind of policy that
 * holds it, the merged interval drives its periodic sync, the merged retention prunes its kept
 * history after each sync, minCopies drives "is my data safe?" for each logged-in account, and
 * the preferred peers order the peers asked for blocks (`fetchOrder`).
 *
 * The rules are pure (`./policy/`); this file reads the node's stores and calls the history
 * pruning of `./replication/history.ts` (reference-counted GC of blocks nothing else needs).
 */
import type { AccountDto, DataSafetyDto, EffectivePolicyDto, PoliciesDto } from './api.js'
import { policyDto, type OffersService } from './offers.js'
import { dataSafety, effectivePolicies, holdingOf, mergePolicies, orderByPreference, retentionCutoff } from './policy/index.js'
import { allCommits, pruneHistory } from './replication/history.js'
import type { RepoStorage } from './storage/types.js'

export interface PolicyEffectsInit {
  offers: Pick<OffersService, 'policies'>
  storage: RepoStorage
  /** The logged-in accounts (their safety is shown). */
  logins(): ReadonlyArray<{ did: string }>
  /** Known peers holding a DID, in the peer directory's order. @default none */
  peersHolding?(did: string): Promise<ReadonlyArray<{ peerId: string | null }>>
  /** Each peer's latest storage challenge of a DID (newest first is fine). @default none */
  challenges?(did: string): ReadonlyArray<{ peer: number; ok: boolean }>
  /** Clock. @default Date.now */
  now?: () => number
}

export class PolicyEffects {
  readonly #init: PolicyEffectsInit
  readonly #now: () => number
  readonly #pruning = new Map<string, Promise<void>>()

  constructor(init: PolicyEffectsInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /** An account as listed, with why it is held (an account no policy holds yet shows as an unconsented archive). */
  decorate<T extends AccountDto>(account: T): T {
    return this.decorateAll([account])[0]!
  }

  /** {@link decorate} for a list, reading the policies once. */
  decorateAll<T extends AccountDto>(accounts: readonly T[]): T[] {
    const policies = this.#init.offers.policies()
    return accounts.map((account) => {
      const h = holdingOf(policies, account.did)
      return { ...account, kind: h?.kind ?? 'archive', consent: h?.consent ?? 'unconsented' }
    })
  }

  /** The account's own sync period from its merged policies, in ms, or undefined for the default. */
  intervalMs(did: string): number | undefined {
    const sec = mergePolicies(did, this.#init.offers.policies())?.intervalSec ?? null
    return sec === null ? undefined : sec * 1000
  }

  /** PeerIDs to fetch the DID's repository from first: union of its active policies' preferredPeers. */
  preferredPeers(did: string): string[] {
    return mergePolicies(did, this.#init.offers.policies())?.preferredPeers ?? []
  }

  /**
   * After a sync of `did`: prunes kept history older than the merged retentionDays (the head is
   * always kept). One pruning per account at a time; resolves with the commits removed (0 when
   * nothing was due). A sync storing a new head meanwhile makes it give up until the next sync.
   */
  async applyRetention(did: string): Promise<number> {
    const days = mergePolicies(did, this.#init.offers.policies())?.retentionDays ?? null
    if (days === null || this.#pruning.has(did)) return 0
    let removed = 0
    const job = (async () => {
      const before = retentionCutoff(await allCommits(this.#init.storage, did), this.#now(), days)
      if (before === null) return
      removed = (await pruneHistory(this.#init.storage, did, { before })).commitsRemoved
    })().finally(() => this.#pruning.delete(did))
    this.#pruning.set(did, job)
    await job
    return removed
  }

  /** Every policy, the merged policy of each held DID with its fetch order, and each logged-in account's safety. */
  async list(): Promise<PoliciesDto> {
    const policies = this.#init.offers.policies()
    const effective: EffectivePolicyDto[] = []
    for (const e of effectivePolicies(policies)) {
      const holding = (await this.#init.peersHolding?.(e.did)) ?? []
      const known = holding.map((p) => p.peerId).filter((id): id is string => id !== null)
      const fetchOrder = [...new Set(orderByPreference([...e.preferredPeers, ...known], e.preferredPeers, (id) => id))]
      effective.push({ did: e.did, minCopies: e.minCopies, intervalSec: e.intervalSec, retentionDays: e.retentionDays, preferredPeers: e.preferredPeers, fetchOrder, from: e.from })
    }
    return {
      policies: policies.map(policyDto),
      effective,
      safety: this.#init.logins().map((l) => this.safety(l.did)),
    }
  }

  /**
   * "Is my data safe?" for a logged-in account: peers whose latest challenge of it passed, or,
   * before any challenge, its active agreements; against max(minCopies) of its agreements.
   */
  safety(did: string): DataSafetyDto {
    const agreements = this.#init.offers.policies().filter((p) => p.type === 'reciprocal' && p.localDid === did && p.state === 'active')
    const wanted = agreements.reduce<number | null>((m, p) => (p.minCopies === null ? m : Math.max(m ?? 0, p.minCopies)), null)
    const latest = new Map<number, boolean>()
    for (const c of this.#init.challenges?.(did) ?? []) if (!latest.has(c.peer)) latest.set(c.peer, c.ok)
    const verifiedPeers = [...latest.values()].filter(Boolean).length
    return dataSafety({ did, wanted, verifiedPeers, challenged: latest.size > 0, agreements: agreements.length })
  }
}

/**
 * The accounts logged in on a node and their sessions: OAuth (primary) and app password
 * (servers and scripts). Several accounts may be logged in at once; the first is the node's
 * identity. Every secret is sealed with the node's SecretBox (see `store.ts`).
 *
 * Sessions are refreshed before they expire by a background check, which never rejects into the
 * host: a failure is reported as `auth:changed` and tried again at the next check.
 */
import type { Agent, AtpAgent, AtpSessionData } from '@atproto/api'
import type { NodeOAuthClient, NodeSavedSession, NodeSavedState } from '@atproto/oauth-client-node'
import type { AuthStatusDto, LoginDto, P2pdsEvents } from '../api.js'
import { LoginFailedError, NotLoggedInError, P2pdsError, toErrorDto } from '../errors.js'
import type { IdentityResolver } from '../identity/index.js'
import type { Database } from '../storage/database.js'
import type { OAuthClientInit } from './oauth.js'
import { publishPeerRecord, type PeerSelf } from './peer-record.js'
import { createRequestLock, type RequestLock } from './request-lock.js'
import type { SecretBox } from './secret-box.js'
import { AuthStore, type LoginRow } from './store.js'

/** What the app-password secret holds. */
interface AppPasswordSecret {
  session: AtpSessionData
  /** Kept (sealed) so the node can sign in again when the refresh token expires. */
  password: string
  pdsUrl: string
}

export interface AuthServiceInit {
  db: Database
  /** The node's SecretBox, asked for on first use (a node that never logs in makes no data key). */
  secrets: () => SecretBox
  /** Folder of the cross-process request lock (in the data dir). */
  lockDir: string
  resolver: IdentityResolver
  /** fetch for PDS and authorization-server requests (the SSRF-safe fetch). */
  fetch: typeof globalThis.fetch
  /** PLC directory. */
  plcUrl: string
  /** OAUTH_ENABLED. @default true */
  oauthEnabled?: boolean
  /** ALLOW_PRIVATE_NETWORK: http authorization servers are accepted. @default false */
  allowHttp?: boolean
  emit<E extends keyof P2pdsEvents>(event: E, data: P2pdsEvents[E]): void
  /** Period of the refresh check, in ms. @default 300000 */
  refreshCheckMs?: number
  /** A token expiring within this many ms is refreshed by the check. @default 600000 */
  refreshAheadMs?: number
  /**
   * What this node says about itself in `org.p2pds.peer/self`, published for each account on login
   * and refreshed at start. @default none (no peer record is published)
   */
  peerSelf?: () => PeerSelf
  /** Clock. @default Date.now */
  now?: () => number
}

/** OAuth states older than this are dropped (a login started and never finished). */
const STATE_MAX_AGE_MS = 60 * 60 * 1000

export class AuthService {
  readonly #init: AuthServiceInit
  readonly #store: AuthStore
  readonly #lock: RequestLock
  readonly #now: () => number
  /** How to make the OAuth client, once OAuth is enabled (it is made at first use). */
  #oauthInit: OAuthClientInit | undefined
  #oauth: Promise<NodeOAuthClient> | undefined
  readonly #appAgents = new Map<string, AtpAgent>()
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  readonly #background = new Set<Promise<void>>()

  constructor(init: AuthServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.#store = new AuthStore(init.db, init.secrets, this.#now)
    this.#lock = createRequestLock({ dir: init.lockDir })
  }

  /** Makes OAuth available, with the callback on the local UI listener's `port`. */
  enableOAuth(uiPort: number): void {
    if (this.#init.oauthEnabled === false) return
    this.#oauthInit = {
      uiPort,
      stateStore: this.#store.secrets<NodeSavedState>('oauth-state'),
      sessionStore: this.#store.secrets<NodeSavedSession>('oauth-session'),
      requestLock: this.#lock,
      resolver: this.#init.resolver,
      plcUrl: this.#init.plcUrl,
      allowHttp: this.#init.allowHttp ?? false,
      fetch: this.#init.fetch,
    }
  }

  /** Starts the background refresh check. */
  start(): void {
    this.#store.pruneStates(STATE_MAX_AGE_MS)
    this.#timer = setInterval(() => void this.refreshDue(), this.#init.refreshCheckMs ?? 300_000)
    this.#timer.unref()
    for (const row of this.#store.listLogins()) this.#publishPeer(row.did)
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#checking
    await Promise.all([...this.#background])
  }

  /** Settles when the background work started so far (peer records) has ended. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background])
  }

  /** Publishes or refreshes the account's peer record, in the background; never rejects. */
  #publishPeer(did: string): void {
    const self = this.#init.peerSelf
    if (self === undefined) return
    const job = (async () => {
      try {
        await publishPeerRecord(await this.agent(did), did, self(), this.#now)
      } catch (err) {
        this.#init.emit('auth:changed', { did, loggedIn: this.#store.getLogin(did) !== undefined, error: toErrorDto(err) })
      }
    })()
    this.#background.add(job)
    void job.finally(() => this.#background.delete(job))
  }

  status(): AuthStatusDto {
    return { oauth: this.#oauthInit !== undefined, accounts: this.list() }
  }

  list(): LoginDto[] {
    return this.#store.listLogins().map(toDto)
  }

  /** The node's identity: the first account logged in, or null. */
  identity(): { did: string; handle: string | null } | null {
    const first = this.#store.listLogins()[0]
    return first === undefined ? null : { did: first.did, handle: first.handle }
  }

  /** Starts an OAuth login; returns the URL the user opens. */
  async login(handle: string): Promise<{ url: string }> {
    const client = await this.#oauthClient()
    const input = handle.trim().replace(/^@/, '')
    // Checks the syntax and that the handle resolves, with the node's resolver and its messages.
    await this.#init.resolver.resolve(input)
    try {
      const url = await client.authorize(input, { scope: 'atproto transition:generic' })
      return { url: url.toString() }
    } catch (err) {
      throw new LoginFailedError(`Could not start the login of ${input}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Completes an OAuth login from the redirect's query. The state must be one this node issued
   * (checked by the client against its state store); anything else is refused.
   */
  async callback(params: URLSearchParams): Promise<LoginDto> {
    const client = await this.#oauthClient()
    let did: string
    try {
      const { session } = await client.callback(params)
      did = session.did
    } catch (err) {
      throw new LoginFailedError(`The login did not complete: ${(err as Error).message}`, { cause: err })
    }
    const id = await this.#init.resolver.resolve(did, { forceRefresh: true })
    const row = this.#store.putLogin({ did, handle: id.handle, pdsUrl: id.pdsUrl, method: 'oauth' })
    // An earlier app-password login of the same account is replaced.
    await this.#store.secrets('app-password').del(did)
    this.#appAgents.delete(did)
    this.#init.emit('auth:changed', { did, loggedIn: true })
    this.#publishPeer(did)
    return toDto(row)
  }

  /** Logs in with an app password. */
  async loginAppPassword(identifier: string, password: string): Promise<LoginDto> {
    const id = await this.#init.resolver.resolve(identifier.trim().replace(/^@/, ''))
    const secrets = this.#store.secrets<AppPasswordSecret>('app-password')
    const agent = await this.#newAppAgent(id.did, id.pdsUrl, password)
    try {
      await agent.login({ identifier: id.did, password })
    } catch (err) {
      throw new LoginFailedError(`The PDS refused the login of ${id.handle ?? id.did}: ${(err as Error).message}`, { cause: err })
    }
    if (agent.session === undefined || agent.session.did !== id.did) throw new LoginFailedError(`The PDS answered for another account than ${id.did}.`)
    await secrets.set(id.did, { session: agent.session, password, pdsUrl: id.pdsUrl })
    // An earlier OAuth session of the same account is revoked and replaced.
    if (this.#store.getLogin(id.did)?.method === 'oauth' && this.#oauthInit !== undefined) await (await this.#oauthClient()).revoke(id.did).catch(() => undefined)
    const row = this.#store.putLogin({ did: id.did, handle: id.handle, pdsUrl: id.pdsUrl, method: 'app-password' })
    this.#appAgents.set(id.did, agent)
    this.#init.emit('auth:changed', { did: id.did, loggedIn: true })
    this.#publishPeer(id.did)
    return toDto(row)
  }

  /** Logs out: revokes the session at the PDS (best effort) and forgets it here in any case. */
  async logout(did: string): Promise<void> {
    const row = this.#store.getLogin(did)
    if (row === undefined) throw new NotLoggedInError(`${did} is not logged in on this node.`)
    try {
      if (row.method === 'oauth') await (await this.#oauthClient()).revoke(did)
      else await (await this.#appAgent(did)).logout()
    } catch {
      // The PDS may be unreachable or the session already gone: forgetting it here is what counts.
    }
    this.#appAgents.delete(did)
    this.#store.removeLogin(did)
    this.#init.emit('auth:changed', { did, loggedIn: false })
  }

  /**
   * An agent acting as a logged-in account (writes go to its PDS with its session).
   * Throws {@link NotLoggedInError} when the account is not logged in or its session ended.
   */
  async agent(did: string): Promise<Agent> {
    const row = this.#store.getLogin(did)
    if (row === undefined) throw new NotLoggedInError(`${did} is not logged in on this node. Log in as it first.`)
    if (row.method === 'app-password') return this.#appAgent(did)
    try {
      const [{ Agent }, client] = await Promise.all([import('@atproto/api'), this.#oauthClient()])
      return new Agent(await client.restore(did, 'auto'))
    } catch (err) {
      if (err instanceof P2pdsError) throw err
      throw new NotLoggedInError(`The session of ${row.handle ?? did} has ended (${(err as Error).message}). Log in again.`)
    }
  }

  /** When the access token of an OAuth session expires (ms since the epoch), or null. */
  async tokenExpiresAt(did: string): Promise<number | null> {
    const session = await (await this.#oauthClient()).restore(did, false)
    const info = await session.getTokenInfo(false)
    return info.expiresAt === undefined ? null : info.expiresAt.getTime()
  }

  /** Refreshes an OAuth session now (tokens rotate). */
  async refresh(did: string): Promise<void> {
    const session = await (await this.#oauthClient()).restore(did, false)
    await session.getTokenInfo(true)
  }

  /** Refreshes every OAuth session whose token expires soon. Never rejects. */
  refreshDue(): Promise<void> {
    this.#checking ??= (async () => {
      const ahead = this.#init.refreshAheadMs ?? 600_000
      for (const row of this.#store.listLogins()) {
        if (row.method !== 'oauth' || this.#oauthInit === undefined) continue
        try {
          const expiresAt = await this.tokenExpiresAt(row.did)
          if (expiresAt !== null && expiresAt - this.#now() < ahead) await this.refresh(row.did)
        } catch (err) {
          // Reported, and tried again at the next check; `agent()` explains when it is used.
          this.#init.emit('auth:changed', { did: row.did, loggedIn: true, error: toErrorDto(err) })
        }
      }
    })().finally(() => {
      this.#checking = undefined
    })
    return this.#checking
  }

  /** The OAuth client, loaded and made at first use (its library is not loaded by a node that never needs it). */
  async #oauthClient(): Promise<NodeOAuthClient> {
    const init = this.#oauthInit
    if (init === undefined) {
      throw new LoginFailedError(
        this.#init.oauthEnabled === false
          ? 'OAuth login is off (OAUTH_ENABLED=false). Log in with an app password instead (p2pds login <handle> --app-password).'
          : 'OAuth login needs the node running with its local listener (p2pds serve, or the desktop app). Log in there, or use --app-password.',
      )
    }
    this.#oauth ??= import('./oauth.js').then((m) => m.createOAuthClient(init))
    return this.#oauth
  }

  /** An agent of `@atproto/api` (loaded at first use) for an app-password session. */
  async #newAppAgent(did: string, pdsUrl: string, password: string): Promise<AtpAgent> {
    const secrets = this.#store.secrets<AppPasswordSecret>('app-password')
    const { AtpAgent } = await import('@atproto/api')
    return new AtpAgent({
      service: pdsUrl,
      fetch: this.#init.fetch,
      // The PDS rotates tokens on refresh: keep the newest (sealed), or forget them when it ends.
      persistSession: (event, session) => {
        if ((event === 'update' || event === 'create') && session !== undefined) void secrets.set(did, { session, password, pdsUrl })
      },
    })
  }

  async #appAgent(did: string): Promise<AtpAgent> {
    const cached = this.#appAgents.get(did)
    if (cached !== undefined) return cached
    const secret = await this.#store.secrets<AppPasswordSecret>('app-password').get(did)
    if (secret === undefined) throw new NotLoggedInError(`The session of ${did} is gone. Log in again.`)
    const agent = await this.#newAppAgent(did, secret.pdsUrl, secret.password)
    try {
      await agent.resumeSession(secret.session)
    } catch {
      // The refresh token expired or was revoked: sign in again with the kept app password.
      try {
        await agent.login({ identifier: did, password: secret.password })
      } catch (err) {
        throw new NotLoggedInError(`The app-password session of ${did} has ended and signing in again failed (${(err as Error).message}). Log in again.`)
      }
    }
    this.#appAgents.set(did, agent)
    return agent
  }
}

function toDto(row: LoginRow): LoginDto {
  return { did: row.did, handle: row.handle, pdsUrl: row.pdsUrl, method: row.method, loggedInAt: new Date(row.loggedInAt).toISOString() }
}

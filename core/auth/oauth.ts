/**
 * The OAuth client of a node: a native (loopback) client of `@atproto/oauth-client-node`.
 *
 * The callback lands on the node's local UI listener (`http://127.0.0.1:<UI port>/oauth/callback`).
 * The client ID is built from the port-less redirect URI, so it stays the same from one launch to
 * the next while the UI port changes: authorization servers accept any port on a registered
 * loopback redirect URI without one (RFC 8252 §7.3, §8.4), and sessions (bound to the client ID)
 * survive a restart.
 */
import { buildAtprotoLoopbackClientMetadata, NodeOAuthClient, type HandleResolver, type NodeSavedSession, type NodeSavedState } from '@atproto/oauth-client-node'
import type { IdentityResolver } from '../identity/index.js'
import type { RequestLock } from './request-lock.js'
import type { SealedStore } from './store.js'

/** Path of the OAuth redirect on the local UI listener. */
export const OAUTH_CALLBACK_PATH = '/oauth/callback'

/** Scopes asked for: `transition:generic` lets the node write its records (offers, peer, consent). */
export const OAUTH_SCOPE = 'atproto transition:generic'

export interface OAuthClientInit {
  /** Port of the local UI listener, where the callback lands. */
  uiPort: number
  stateStore: SealedStore<NodeSavedState>
  sessionStore: SealedStore<NodeSavedSession>
  requestLock: RequestLock
  /** Resolves handles (the node's own resolver: HANDLE_RESOLVER_URL, else DNS and `/.well-known`). */
  resolver: IdentityResolver
  /** PLC directory. */
  plcUrl: string
  /** Allow http PDS and authorization servers (ALLOW_PRIVATE_NETWORK: tests, LANs). @default false */
  allowHttp?: boolean
  /** fetch for every request of the client (the SSRF-safe fetch). @default globalThis.fetch */
  fetch?: typeof globalThis.fetch
}

/** The redirect URI of a UI listener on `port`. */
export function oauthRedirectUri(port: number): string {
  return `http://127.0.0.1:${port}${OAUTH_CALLBACK_PATH}`
}

/** Makes the node's OAuth client. */
export function createOAuthClient(init: OAuthClientInit): NodeOAuthClient {
  // The client ID names the redirect URI without a port (stable across launches) ...
  const stable = buildAtprotoLoopbackClientMetadata({ scope: OAUTH_SCOPE, redirect_uris: [`http://127.0.0.1${OAUTH_CALLBACK_PATH}`] })
  // ... and the client sends this launch's port with each authorization request.
  const clientMetadata = { ...stable, redirect_uris: [oauthRedirectUri(init.uiPort)] as [string] }
  const handleResolver: HandleResolver = {
    async resolve(handle) {
      try {
        const id = await init.resolver.resolve(handle)
        return id.did as `did:plc:${string}`
      } catch {
        return null
      }
    },
  }
  return new NodeOAuthClient({
    clientMetadata: clientMetadata as typeof stable,
    allowHttp: init.allowHttp ?? false,
    stateStore: init.stateStore,
    sessionStore: init.sessionStore,
    requestLock: init.requestLock,
    handleResolver,
    plcDirectoryUrl: init.plcUrl,
    ...(init.fetch === undefined ? {} : { fetch: init.fetch }),
  })
}

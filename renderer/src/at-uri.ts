/**
 * AT-URIs as records refer to each other (`at://did:plc:abc/app.bsky.feed.post/3k…`). Only what
 * the record browser needs: the authority and, when present, the collection and record key. The
 * renderer cannot use `@atproto/syntax` at runtime, so this is a small reader of its own.
 */
import { accountHref, recordsHref } from './route.js'

export interface AtUri {
  /** A DID or a handle. */
  authority: string
  collection: string | null
  rkey: string | null
}

/** The parts of an AT-URI, or null when the string is not one. */
export function parseAtUri(uri: string): AtUri | null {
  if (typeof uri !== 'string' || !uri.startsWith('at://')) return null
  const path = uri.slice('at://'.length).split(/[?#]/, 1)[0] ?? ''
  const [authority = '', collection, rkey, ...more] = path.split('/')
  if (authority === '' || more.some((s) => s !== '')) return null
  if (authority.startsWith('did:') ? !/^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/.test(authority) : !/^[a-zA-Z0-9.-]+$/.test(authority))
    return null
  const c = collection === undefined || collection === '' ? null : collection
  const r = rkey === undefined || rkey === '' || c === null ? null : rkey
  return { authority, collection: c, rkey: r }
}

/** Whether a string looks like a DID (syntax only). */
export function isDid(s: unknown): s is string {
  return typeof s === 'string' && /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/.test(s)
}

/**
 * Where an AT-URI leads in this app: into the record browser when the node holds that account
 * (at `rev` for the account being browsed, at the head for another), to an account's page for a
 * bare DID, or nowhere (null) for accounts not held, which would need the network.
 */
export function atUriHref(uri: string, at: { did: string; rev: string | null; holds: (did: string) => boolean }): string | null {
  const p = parseAtUri(uri)
  if (p === null || !isDid(p.authority)) return null
  const same = p.authority === at.did
  if (!same && !at.holds(p.authority)) return null
  const rev = same ? at.rev : null
  if (p.collection === null) return same ? recordsHref({ did: p.authority, rev }) : accountHref(p.authority)
  return recordsHref({ did: p.authority, collection: p.collection, rkey: p.rkey, rev })
}

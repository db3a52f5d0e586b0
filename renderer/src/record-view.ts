/**
 * What the record browser shows for a record, taken from its JSON (atproto's JSON form: CIDs as
 * `{ $link }`, bytes as `{ $bytes }`). Records come from anyone and any version of a lexicon, so
 * every reader here accepts missing or mistyped fields and falls back to nothing, never throws.
 */
import type { RecordDto } from '../../core/api.js'

type Json = Record<string, unknown>

function obj(v: unknown): Json | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}

/** A blob a record points at. */
export interface BlobRef {
  cid: string
  mimeType: string | null
  size: number | null
}

/**
 * A blob reference: `{ $type: 'blob', ref: { $link }, mimeType, size }`, or the legacy
 * `{ cid, mimeType }` that old records still carry.
 */
export function blobRefOf(v: unknown): BlobRef | null {
  const o = obj(v)
  if (o === null) return null
  const mimeType = str(o.mimeType)
  const size = typeof o.size === 'number' ? o.size : null
  const link = str(obj(o.ref)?.$link)
  if (link !== null && link !== '') return { cid: link, mimeType, size }
  const legacy = str(o.cid)
  if (legacy !== null && legacy !== '') return { cid: legacy, mimeType, size }
  return null
}

/** One image of a post. */
export interface ImageView {
  /** null when the record names no readable blob. */
  blob: BlobRef | null
  alt: string
  aspectRatio: { width: number; height: number } | null
}

/** What a post shows. */
export interface PostView {
  text: string
  createdAt: string | null
  langs: string[]
  images: ImageView[]
  /** The post this one answers, and the first post of its thread. */
  reply: { parent: string; root: string } | null
  /** A quoted record's AT-URI. */
  quote: string | null
  external: { uri: string; title: string; description: string } | null
  /** A video is attached (not played here). */
  hasVideo: boolean
}

function imagesOf(embed: Json | null): ImageView[] {
  if (embed === null) return []
  return arr(embed.images).flatMap((item) => {
    const i = obj(item)
    if (i === null) return []
    const ar = obj(i.aspectRatio)
    const width = ar?.width
    const height = ar?.height
    const aspectRatio = typeof width === 'number' && typeof height === 'number' && width > 0 && height > 0 ? { width, height } : null
    return [{ blob: blobRefOf(i.image), alt: str(i.alt) ?? '', aspectRatio }]
  })
}

/** Reads an `app.bsky.feed.post`. */
export function postView(value: Json): PostView {
  const embed = obj(value.embed)
  const type = str(embed?.$type)
  // recordWithMedia: the media (images, video, link card) plus a quoted record.
  const media = type === 'app.bsky.embed.recordWithMedia' ? obj(embed?.media) : embed
  const mediaType = str(media?.$type)
  const quoted =
    type === 'app.bsky.embed.record' ? obj(embed?.record) : type === 'app.bsky.embed.recordWithMedia' ? obj(obj(embed?.record)?.record) : null
  const ext = mediaType === 'app.bsky.embed.external' ? obj(media?.external) : null
  const extUri = str(ext?.uri)
  const reply = obj(value.reply)
  const parent = str(obj(reply?.parent)?.uri)
  const root = str(obj(reply?.root)?.uri)
  return {
    text: str(value.text) ?? '',
    createdAt: str(value.createdAt),
    langs: arr(value.langs).filter((l): l is string => typeof l === 'string'),
    images: mediaType === 'app.bsky.embed.images' ? imagesOf(media) : [],
    reply: parent !== null ? { parent, root: root ?? parent } : null,
    quote: str(quoted?.uri),
    external: extUri === null ? null : { uri: extUri, title: str(ext?.title) ?? '', description: str(ext?.description) ?? '' },
    hasVideo: mediaType === 'app.bsky.embed.video',
  }
}

/** What a profile shows. */
export interface ProfileView {
  displayName: string
  description: string
  avatar: BlobRef | null
  banner: BlobRef | null
  createdAt: string | null
  pinnedPost: string | null
}

/** Reads an `app.bsky.actor.profile`. */
export function profileView(value: Json): ProfileView {
  return {
    displayName: str(value.displayName) ?? '',
    description: str(value.description) ?? '',
    avatar: blobRefOf(value.avatar),
    banner: blobRefOf(value.banner),
    createdAt: str(value.createdAt),
    pinnedPost: str(obj(value.pinnedPost)?.uri),
  }
}

/** What a follow, block, like or repost points at. */
export type SubjectView = { kind: 'did'; did: string } | { kind: 'uri'; uri: string; cid: string | null }

/** The subject of a follow or block (a DID) or a like or repost (a strong reference). */
export function subjectOf(value: Json): SubjectView | null {
  const s = value.subject
  if (typeof s === 'string') return s.startsWith('at://') ? { kind: 'uri', uri: s, cid: null } : { kind: 'did', did: s }
  const ref = obj(s)
  const uri = str(ref?.uri)
  return uri === null ? null : { kind: 'uri', uri, cid: str(ref?.cid) }
}

/** How a record is drawn. */
export type RecordKind = 'post' | 'profile' | 'follow' | 'block' | 'like' | 'repost' | 'other'

const KINDS: Record<string, RecordKind> = {
  'app.bsky.feed.post': 'post',
  'app.bsky.actor.profile': 'profile',
  'app.bsky.graph.follow': 'follow',
  'app.bsky.graph.block': 'block',
  'app.bsky.feed.like': 'like',
  'app.bsky.feed.repost': 'repost',
}

/** The kind of a record, from its `$type`. */
export function recordKind(value: Json): RecordKind {
  return KINDS[str(value.$type) ?? ''] ?? 'other'
}

const COLLECTION_LABELS: Record<string, string> = {
  'app.bsky.feed.post': 'Posts',
  'app.bsky.feed.like': 'Likes',
  'app.bsky.feed.repost': 'Reposts',
  'app.bsky.feed.generator': 'Feeds',
  'app.bsky.feed.threadgate': 'Thread rules',
  'app.bsky.feed.postgate': 'Post rules',
  'app.bsky.actor.profile': 'Profile',
  'app.bsky.graph.follow': 'Follows',
  'app.bsky.graph.block': 'Blocks',
  'app.bsky.graph.list': 'Lists',
  'app.bsky.graph.listitem': 'List members',
  'app.bsky.graph.listblock': 'Blocked lists',
  'app.bsky.graph.starterpack': 'Starter packs',
  'chat.bsky.actor.declaration': 'Chat settings',
}

const RECORD_NOUNS: Record<string, string> = {
  'app.bsky.feed.post': 'Post',
  'app.bsky.feed.like': 'Like',
  'app.bsky.feed.repost': 'Repost',
  'app.bsky.actor.profile': 'Profile',
  'app.bsky.graph.follow': 'Follow',
  'app.bsky.graph.block': 'Block',
  'app.bsky.graph.list': 'List',
}

/** What one record of a collection is called (`Post`), or `Record`. */
export function recordNoun(nsid: string): string {
  return RECORD_NOUNS[nsid] ?? 'Record'
}

/** A name for a well-known collection, or null. */
export function collectionLabel(nsid: string): string | null {
  return COLLECTION_LABELS[nsid] ?? null
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1).trimEnd()}…` : flat
}

/** One line for a list of records, and the record's own time when it has one. */
export function recordSummary(record: Pick<RecordDto, 'value' | 'collection'>, max = 140): { text: string; createdAt: string | null } {
  const v = record.value
  const createdAt = str(v.createdAt)
  switch (recordKind(v)) {
    case 'post': {
      const p = postView(v)
      const media = p.images.length > 0 ? `${p.images.length} image${p.images.length === 1 ? '' : 's'}` : p.hasVideo ? 'video' : null
      const text = oneLine(p.text, max)
      return { text: text !== '' ? text : media !== null ? `(${media})` : '(no text)', createdAt }
    }
    case 'profile': {
      const p = profileView(v)
      return { text: p.displayName !== '' ? p.displayName : oneLine(p.description, max) || '(no name)', createdAt }
    }
    case 'follow':
    case 'block':
    case 'like':
    case 'repost': {
      const s = subjectOf(v)
      return { text: s === null ? '(no subject)' : s.kind === 'did' ? s.did : s.uri, createdAt }
    }
    case 'other': {
      const name = str(v.name) ?? str(v.displayName) ?? str(v.text) ?? str(v.title)
      return { text: name !== null ? oneLine(name, max) : (str(v.$type) ?? record.collection), createdAt }
    }
  }
}

/** Top-level fields of a record of unknown type, as short text (`$type` left out). */
export function genericFields(value: Json, max = 200): Array<{ key: string; text: string }> {
  return Object.entries(value)
    .filter(([key]) => key !== '$type')
    .map(([key, v]) => {
      const blob = blobRefOf(v)
      const text =
        typeof v === 'string'
          ? v
          : blob !== null
            ? `blob ${blob.cid}${blob.mimeType === null ? '' : ` (${blob.mimeType})`}`
            : (JSON.stringify(v) ?? String(v))
      return { key, text: text.length > max ? `${text.slice(0, max - 1)}…` : text }
    })
}

/** The record's JSON, indented for reading. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2)
}

/** Decodes base64 (standard or URL-safe, padded or not) to bytes. */
export function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const std = b64.replace(/\s+/g, '').replaceAll('-', '+').replaceAll('_', '/')
  const padded = std + '='.repeat((4 - (std.length % 4)) % 4)
  const bin = atob(padded)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/**
 * Error codes meaning "this blob is not in the local store" (not fetched yet, or failed). The
 * node's exact code for `blobs.get` of a missing blob is matched loosely on purpose.
 */
const NOT_STORED = new Set(['ERR_MISSING_BLOCK', 'ERR_MISSING_BLOB', 'ERR_BLOB_NOT_FOUND', 'ERR_BLOB_NOT_STORED', 'ERR_NOT_FOUND'])

/** Whether a failed `blobs.get` means the blob is simply not backed up (yet). */
export function isNotStored(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' && NOT_STORED.has(err.code)
}

/**
 * Builders that fill a {@link TestNetwork} with accounts and content through the PDS's real XRPC
 * API (`AtpAgent`), the way a Bluesky client would: one commit per record, blobs uploaded with
 * `com.atproto.repo.uploadBlob` and referenced from records.
 *
 * Every builder returns what it created (URIs, CIDs, blob CIDs and bytes) so a test can compare
 * a backup against it.
 */
import { AtpAgent, type BlobRef } from '@atproto/api'
import { makeTestPng, TEST_PNG_PATTERNS, type TestPngInit, type TestPngPattern } from './images.js'
import type { TestNetwork } from './network.js'

// --- Accounts ----------------------------------------------------------------------------------

/** An account on the test PDS, with a logged-in agent. */
export interface TestAccount {
  /** `did:plc:…`, registered in the network's PLC directory. */
  did: string
  /** Full handle, e.g. `alice.test`. */
  handle: string
  /** Account password (sign-in page, `createSession`). */
  password: string
  /** Unverified email given at sign-up. */
  email: string
  /** The PDS the account lives on (`http://localhost:PORT`). */
  pdsUrl: string
  /** Logged in as this account (app-password-free session from `createAccount`). */
  agent: AtpAgent
}

/** What {@link createAccount} needs. */
export interface CreateAccountOptions {
  /** `alice` (the network's handle domain is appended) or a full handle such as `alice.test`. */
  handle: string
  /** @default `${name}-pass` where name is the handle's first label */
  password?: string
  /** @default `${name}@test.com` */
  email?: string
}

/** Creates an account on the network's PDS (`com.atproto.server.createAccount`). */
export async function createAccount(
  net: Pick<TestNetwork, 'pdsUrl' | 'handleDomain'>,
  options: CreateAccountOptions,
): Promise<TestAccount> {
  const handle = options.handle.includes('.') ? options.handle : `${options.handle}${net.handleDomain}`
  const name = handle.split('.')[0] ?? handle
  const password = options.password ?? `${name}-pass`
  const email = options.email ?? `${name}@test.com`
  const agent = new AtpAgent({ service: net.pdsUrl })
  const res = await agent.createAccount({ handle, email, password })
  return { did: res.data.did, handle: res.data.handle, password, email, pdsUrl: net.pdsUrl, agent }
}

// --- Content -----------------------------------------------------------------------------------

/** A record as `createRecord` / `putRecord` answered. */
export interface RecordRef {
  /** `at://did/collection/rkey` */
  uri: string
  /** CID of the record block. */
  cid: string
}

/** A post, with its thread root when it is a reply (so replies to it keep the right root). */
export interface PostRef extends RecordRef {
  /** The thread's first post; absent for a top-level post. */
  root?: RecordRef
}

/** A blob uploaded with `uploadBlob`, with the exact bytes sent. */
export interface UploadedBlob {
  /** The blob's CID as the PDS reported it. */
  cid: string
  mimeType: string
  size: number
  bytes: Uint8Array
  /** What it was uploaded for. */
  use: 'avatar' | 'banner' | 'post-image'
}

/** A post or reply that was created. */
export interface CreatedPost extends PostRef {
  text: string
  createdAt: string
  /** Images embedded (`app.bsky.embed.images`), in order. */
  images: UploadedBlob[]
  /** Alt text of each image, in order. */
  alts: string[]
  /** The post replied to, for replies. */
  parent?: RecordRef
}

/** A follow record and whom it follows. */
export interface CreatedFollow extends RecordRef {
  subject: string
}

/** A like record and what it likes. */
export interface CreatedLike extends RecordRef {
  subject: RecordRef
}

/** The profile record (`app.bsky.actor.profile/self`). */
export interface CreatedProfile extends RecordRef {
  displayName: string
  description: string
  avatar: UploadedBlob | null
  banner: UploadedBlob | null
}

/** Everything {@link populateAccount} created, by kind. */
export interface PopulatedAccount {
  did: string
  handle: string
  /** Top-level posts, text-only and with images, in creation order. */
  posts: CreatedPost[]
  /** Replies (own threads and replies to others), in creation order. */
  replies: CreatedPost[]
  follows: CreatedFollow[]
  likes: CreatedLike[]
  /** The latest profile written, or null when none was. */
  profile: CreatedProfile | null
  /** Every blob uploaded and referenced (avatar, banner, post images), in upload order. */
  blobs: UploadedBlob[]
}

/** Profile content. */
export interface ProfileOptions {
  /** @default the handle's first label, capitalised */
  displayName?: string
  /** @default a sentence naming the handle */
  description?: string
  /** Upload an avatar: true for the default 128×128 image, or how to draw it. @default true */
  avatar?: boolean | TestPngInit
  /** Upload a banner: true for the default 300×100 image, or how to draw it. @default true */
  banner?: boolean | TestPngInit
}

/** What {@link populateAccount} creates. Nothing is created unless asked for. */
export interface PopulateOptions {
  /** Write the profile (with avatar and banner unless turned off). @default false */
  profile?: boolean | ProfileOptions
  /** Text-only top-level posts. @default 0 */
  posts?: number
  /** Top-level posts with images (`app.bsky.embed.images`, each with alt text). @default 0 */
  imagePosts?: number
  /**
   * Most images in one image post (1–4); image post i carries `1 + i % imagesPerPost` images.
   * @default 1
   */
  imagesPerPost?: number
  /** Size of post images. @default { width: 96, height: 72 } */
  imageSize?: { width: number; height: number }
  /**
   * Self-replies forming one thread, each replying to the previous, under the first post made
   * by this call (or `threadRoot`). @default 0
   */
  threadReplies?: number
  /** Post to start the self-reply thread under. @default the first post made by this call */
  threadRoot?: PostRef
  /** Posts (anyone's) to reply to, once each; the reply keeps the post's thread root. @default [] */
  replyTo?: PostRef[]
  /** Accounts or DIDs to follow. @default [] */
  follows?: Array<string | { did: string }>
  /** Posts to like. @default [] */
  likes?: RecordRef[]
  /**
   * Base of image seeds; images get `seed + n` so each blob is distinct. Use different bases for
   * different accounts. @default a hash of the handle
   */
  seed?: number
  /** `createdAt` of the first record; later ones follow a few minutes apart. @default a day ago */
  startAt?: Date
}

/**
 * Creates content in an account's repo through its agent, one record per commit: profile first,
 * then posts, image posts, the self-reply thread, replies to others, follows and likes.
 */
export async function populateAccount(account: TestAccount, options: PopulateOptions): Promise<PopulatedAccount> {
  const { agent, did, handle } = account
  const out: PopulatedAccount = emptyPopulated(did, handle)
  const name = handle.split('.')[0] ?? handle
  let seed = options.seed ?? stringSeed(handle)
  const clock = new CreatedAtClock(options.startAt ?? new Date(Date.now() - 24 * 3600_000))
  let textIndex = stringSeed(did) % TOPICS.length

  const upload = async (png: TestPngInit, use: UploadedBlob['use']): Promise<{ ref: BlobRef; blob: UploadedBlob }> => {
    const bytes = makeTestPng({ ...png, seed: png.seed ?? seed++ })
    const res = await agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'image/png' })
    const ref = res.data.blob
    const blob: UploadedBlob = { cid: ref.ref.toString(), mimeType: ref.mimeType, size: ref.size, bytes, use }
    return { ref, blob }
  }
  const create = async (collection: string, record: Record<string, unknown>): Promise<RecordRef> => {
    const res = await agent.com.atproto.repo.createRecord({ repo: did, collection, record: { $type: collection, ...record } })
    return { uri: res.data.uri, cid: res.data.cid }
  }
  const post = async (text: string, extra: PostExtras): Promise<CreatedPost> => {
    const createdAt = clock.next()
    const record: Record<string, unknown> = { text, createdAt, langs: ['en'] }
    if (extra.images !== undefined && extra.images.length > 0) {
      record.embed = {
        $type: 'app.bsky.embed.images',
        images: extra.images.map((i) => ({ image: i.ref, alt: i.alt, aspectRatio: { width: i.w, height: i.h } })),
      }
    }
    if (extra.reply !== undefined) record.reply = { root: extra.reply.root, parent: extra.reply.parent }
    const ref = await create('app.bsky.feed.post', record)
    const images = extra.images ?? []
    const created: CreatedPost = { ...ref, text, createdAt, images: images.map((i) => i.blob), alts: images.map((i) => i.alt) }
    if (extra.reply !== undefined) {
      created.root = extra.reply.root
      created.parent = extra.reply.parent
    }
    return created
  }

  // Profile.
  if (options.profile !== undefined && options.profile !== false) {
    const p: ProfileOptions = options.profile === true ? {} : options.profile
    const displayName = p.displayName ?? name.charAt(0).toUpperCase() + name.slice(1)
    const description = p.description ?? `Hi, I'm ${displayName} (@${handle}). Test account on a local P2PDS network.`
    const avatar = (p.avatar ?? true) === false ? null : await upload(pngInit(p.avatar, { width: 128, height: 128 }), 'avatar')
    const banner = (p.banner ?? true) === false ? null : await upload(pngInit(p.banner, { width: 300, height: 100 }), 'banner')
    const record: Record<string, unknown> = { $type: 'app.bsky.actor.profile', displayName, description, createdAt: clock.next() }
    if (avatar !== null) record.avatar = avatar.ref
    if (banner !== null) record.banner = banner.ref
    const res = await agent.com.atproto.repo.putRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record })
    for (const b of [avatar, banner]) if (b !== null) out.blobs.push(b.blob)
    out.profile = {
      uri: res.data.uri,
      cid: res.data.cid,
      displayName,
      description,
      avatar: avatar?.blob ?? null,
      banner: banner?.blob ?? null,
    }
  }

  // Top-level text posts.
  for (let i = 0; i < (options.posts ?? 0); i++) {
    out.posts.push(await post(postText(textIndex++, i), {}))
  }

  // Image posts.
  const perPost = Math.min(4, Math.max(1, options.imagesPerPost ?? 1))
  const size = options.imageSize ?? { width: 96, height: 72 }
  for (let i = 0; i < (options.imagePosts ?? 0); i++) {
    const images = []
    const count = 1 + (i % perPost)
    for (let k = 0; k < count; k++) {
      // The pattern is chosen here, so the alt text can say what is drawn; it follows the image
      // seed, so the same seed draws the same image (and blob) in any account.
      const pattern = TEST_PNG_PATTERNS[seed % TEST_PNG_PATTERNS.length] ?? 'checker'
      const { ref, blob } = await upload({ width: size.width, height: size.height, pattern }, 'post-image')
      images.push({ ref, blob, alt: altText(pattern, k), w: size.width, h: size.height })
    }
    const created = await post(`${imageCaption(textIndex++)} (${count} ${count === 1 ? 'photo' : 'photos'})`, { images })
    out.blobs.push(...created.images)
    out.posts.push(created)
  }

  // A self-reply thread.
  const threadReplies = options.threadReplies ?? 0
  if (threadReplies > 0) {
    const root = options.threadRoot ?? out.posts[0]
    if (root === undefined) throw new RangeError('threadReplies needs a post to reply under: ask for posts too, or give threadRoot')
    const rootRef = root.root ?? { uri: root.uri, cid: root.cid }
    let parent: RecordRef = { uri: root.uri, cid: root.cid }
    for (let i = 0; i < threadReplies; i++) {
      const line = THREAD_LINES[(textIndex++ + i) % THREAD_LINES.length]
      const reply = await post(`${i + 1}/${threadReplies} ${line}`, { reply: { root: rootRef, parent } })
      out.replies.push(reply)
      parent = { uri: reply.uri, cid: reply.cid }
    }
  }

  // Replies to others.
  for (const [i, target] of (options.replyTo ?? []).entries()) {
    const root = target.root ?? { uri: target.uri, cid: target.cid }
    const text = REPLY_LINES[(textIndex++ + i) % REPLY_LINES.length] ?? 'Nice!'
    out.replies.push(await post(text, { reply: { root, parent: { uri: target.uri, cid: target.cid } } }))
  }

  // Follows and likes.
  for (const f of options.follows ?? []) {
    const subject = typeof f === 'string' ? f : f.did
    const ref = await create('app.bsky.graph.follow', { subject, createdAt: clock.next() })
    out.follows.push({ ...ref, subject })
  }
  for (const target of options.likes ?? []) {
    const subject = { uri: target.uri, cid: target.cid }
    const ref = await create('app.bsky.feed.like', { subject, createdAt: clock.next() })
    out.likes.push({ ...ref, subject })
  }
  return out
}

/** Records created, by collection NSID, as `com.atproto.repo.listRecords` should count them. */
export function recordCounts(created: PopulatedAccount): Record<string, number> {
  return {
    'app.bsky.actor.profile': created.profile === null ? 0 : 1,
    'app.bsky.feed.post': created.posts.length + created.replies.length,
    'app.bsky.graph.follow': created.follows.length,
    'app.bsky.feed.like': created.likes.length,
  }
}

/** Combines the results of several {@link populateAccount} calls on one account (later profile wins). */
export function mergePopulated(first: PopulatedAccount, ...more: PopulatedAccount[]): PopulatedAccount {
  const out = emptyPopulated(first.did, first.handle)
  for (const p of [first, ...more]) {
    if (p.did !== first.did) throw new RangeError(`cannot merge content of ${p.did} into ${first.did}`)
    out.posts.push(...p.posts)
    out.replies.push(...p.replies)
    out.follows.push(...p.follows)
    out.likes.push(...p.likes)
    out.blobs.push(...p.blobs)
    if (p.profile !== null) out.profile = p.profile
  }
  return out
}

// --- Sample accounts ---------------------------------------------------------------------------

/** A sample account and everything made in it. */
export interface SampleAccount extends TestAccount {
  created: PopulatedAccount
}

/** The three sample accounts. */
export interface SampleAccounts {
  alice: SampleAccount
  bob: SampleAccount
  carol: SampleAccount
  /** alice, bob, carol. */
  all: SampleAccount[]
}

/**
 * Creates alice, bob and carol with a realistic mix: profiles with avatar and banner, tens of
 * posts each (some with 1–4 images), self-threads, replies across accounts (threads spanning
 * all three), follows and likes. About 160 records and 30 blobs; the accounts are written in
 * parallel.
 */
export async function createSampleAccounts(net: Pick<TestNetwork, 'pdsUrl' | 'handleDomain'>): Promise<SampleAccounts> {
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((handle) => createAccount(net, { handle })))
  if (alice === undefined || bob === undefined || carol === undefined) throw new Error('unreachable')
  const day = 24 * 3600_000
  const start = Date.now() - 3 * day

  // 1. Own content.
  const [a1, b1, c1] = await Promise.all([
    populateAccount(alice, {
      profile: { description: 'Gardener, amateur astronomer. Posts about tomatoes and Jupiter.' },
      posts: 24,
      imagePosts: 6,
      imagesPerPost: 3,
      threadReplies: 4,
      seed: 1000,
      startAt: new Date(start),
    }),
    populateAccount(bob, {
      profile: { description: 'Cyclist and bread baker. Sourdough opinions.' },
      posts: 18,
      imagePosts: 4,
      imagesPerPost: 2,
      threadReplies: 3,
      seed: 2000,
      startAt: new Date(start + 3600_000),
    }),
    populateAccount(carol, {
      profile: { description: 'Photographer. Mostly skies.' },
      posts: 12,
      imagePosts: 5,
      imagesPerPost: 4,
      threadReplies: 2,
      seed: 3000,
      startAt: new Date(start + 7200_000),
    }),
  ])

  // 2. Reactions: follows, likes, replies to each other's posts.
  const later = new Date(start + day)
  const [a2, b2, c2] = await Promise.all([
    populateAccount(alice, {
      follows: [bob, carol],
      likes: [...pick(b1.posts, 5), ...pick(c1.posts, 3)],
      replyTo: pick(c1.posts, 2, 1),
      startAt: later,
    }),
    populateAccount(bob, {
      follows: [alice, carol],
      likes: [...pick(a1.posts, 8), ...pick(c1.posts, 2)],
      replyTo: [...pick(a1.posts, 3), a1.replies[0]].filter(isDefined),
      startAt: later,
    }),
    populateAccount(carol, {
      follows: [alice],
      likes: [...pick(a1.posts, 4), ...pick(b1.posts, 4)],
      replyTo: [...pick(a1.posts, 2, 2), ...pick(b1.posts, 2)],
      startAt: later,
    }),
  ])

  // 3. Conversation: replies to the replies, so threads span all three accounts.
  const latest = new Date(start + 2 * day)
  const [a3, c3] = await Promise.all([
    populateAccount(alice, { replyTo: b2.replies.slice(0, 2), likes: c2.replies.slice(0, 2), startAt: latest }),
    populateAccount(carol, { replyTo: b2.replies.slice(0, 1), likes: b2.replies.slice(0, 1), startAt: latest }),
  ])
  if (a3 === undefined || c3 === undefined) throw new Error('unreachable')

  const withCreated = (account: TestAccount, ...parts: PopulatedAccount[]): SampleAccount => {
    const [first, ...rest] = parts
    if (first === undefined) throw new Error('unreachable')
    return { ...account, created: mergePopulated(first, ...rest) }
  }
  const sample = {
    alice: withCreated(alice, a1, a2, a3),
    bob: withCreated(bob, b1, b2),
    carol: withCreated(carol, c1, c2, c3),
  }
  return { ...sample, all: [sample.alice, sample.bob, sample.carol] }
}

// --- Helpers -----------------------------------------------------------------------------------

interface PostExtras {
  images?: Array<{ ref: BlobRef; blob: UploadedBlob; alt: string; w: number; h: number }>
  reply?: { root: RecordRef; parent: RecordRef }
}

function emptyPopulated(did: string, handle: string): PopulatedAccount {
  return { did, handle, posts: [], replies: [], follows: [], likes: [], profile: null, blobs: [] }
}

function pngInit(spec: boolean | TestPngInit | undefined, size: { width: number; height: number }): TestPngInit {
  return typeof spec === 'object' ? { ...size, ...spec } : size
}

function isDefined<T>(v: T | undefined): v is T {
  return v !== undefined
}

/** `count` items spread over `items`, starting at `offset`. */
function pick<T>(items: readonly T[], count: number, offset = 0): T[] {
  if (items.length === 0) return []
  const step = Math.max(1, Math.floor(items.length / count))
  const out: T[] = []
  for (let i = 0; i < count && i < items.length; i++) {
    const item = items[(offset + i * step) % items.length]
    if (item !== undefined && !out.includes(item)) out.push(item)
  }
  return out
}

function stringSeed(s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return (h >>> 0) % 100_000
}

/** Increasing `createdAt` values a few (varying) minutes apart. */
class CreatedAtClock {
  #t: number
  #n = 0
  constructor(start: Date) {
    this.#t = start.getTime()
  }
  next(): string {
    const at = new Date(this.#t).toISOString()
    this.#t += (3 + ((this.#n++ * 7) % 23)) * 60_000 + ((this.#n * 1_337) % 60_000)
    return at
  }
}

const TOPICS = [
  'the tomatoes finally turned red',
  'Jupiter and its moons were clear tonight',
  'new sourdough starter is alive',
  'rode 40 km along the river',
  'the café on the corner has a new espresso machine ☕',
  'fog over the hills this morning',
  'reading about content-addressed storage',
  'my backup drive died, glad I had a second copy',
  'repotted the basil 🌱',
  'sunset looked like a painting',
  'fixed a flaky test by removing a sleep',
  'first frost of the year',
  'trying a rye loaf this weekend',
  'the library has a seed exchange now',
  'long walk, no phone, very good',
  'Saturn rings visible with the small telescope',
]

const OPENERS = ['Today:', 'Quick note:', 'PSA:', 'Small win —', 'Honestly,', 'Update:', '', 'Thought of the day:']

function postText(topicIndex: number, i: number): string {
  const topic = TOPICS[topicIndex % TOPICS.length] ?? 'hello'
  const opener = OPENERS[(topicIndex + i) % OPENERS.length] ?? ''
  const tail = i % 5 === 0 ? ' What do you all think?' : i % 7 === 3 ? ' #localnet' : ''
  return `${opener} ${topic}.${tail}`.trim()
}

function imageCaption(i: number): string {
  return ['Look at this', 'Some photos from today', 'Colour study', 'From the window', 'Pattern I noticed'][i % 5] ?? 'Photo'
}

/** What each test pattern looks like, for alt text. */
const PATTERN_ALT: Record<TestPngPattern, string> = {
  checker: 'A checkerboard in two colours',
  stripes: 'Diagonal stripes in two colours',
  gradient: 'A soft diagonal gradient between two colours',
  rings: 'Concentric rings in two colours',
}

function altText(pattern: TestPngPattern, k: number): string {
  return `${PATTERN_ALT[pattern]} (image ${k + 1})`
}

const THREAD_LINES = [
  'Some context on how this started.',
  'The tricky part was the timing.',
  'In the end it worked out fine.',
  'Lessons learned: write things down.',
  'Will post an update next week.',
]

const REPLY_LINES = ['Love this!', 'Same here 😄', 'Where was this?', 'Great point.', 'Wow, nice colours.', 'Tell me more?', 'Agreed.', 'Ha, classic.']

import { useId, useState, type ReactNode } from 'react'
import type { RecordDto } from '../../../../core/api.js'
import { useAccounts } from '../../accounts-store.js'
import { atUriHref, parseAtUri } from '../../at-uri.js'
import { formatDateTime, middleEllipsis } from '../../format.js'
import { genericFields, postView, prettyJson, profileView, recordKind, subjectOf, type PostView } from '../../record-view.js'
import { accountHref } from '../../route.js'
import { useLoad } from '../../use-load.js'
import { Fact } from '../Panel.js'
import { BlobImage } from './BlobImage.js'

/** Where links from a record lead: the account being browsed, at the rev being browsed. */
interface Place {
  did: string
  rev: string | null
}

/** An AT-URI, as a link when the node holds its account, as text otherwise. */
function UriLink({ uri, at }: { uri: string; at: Place }) {
  const accounts = useAccounts((s) => s.accounts)
  const href = atUriHref(uri, { ...at, holds: (did) => accounts?.some((a) => a.did === did) ?? false })
  return href === null ? (
    <span className="mono selectable uri">{uri}</span>
  ) : (
    <a className="mono uri" href={href}>
      {uri}
    </a>
  )
}

function DidLink({ did }: { did: string }) {
  const held = useAccounts((s) => s.accounts?.find((a) => a.did === did) ?? null)
  if (held === null) return <span className="mono selectable">{did}</span>
  return (
    <a href={accountHref(did)}>
      {held.handle ?? <span className="mono">{did}</span>}
      {held.handle !== null && <span className="mono muted"> {did}</span>}
    </a>
  )
}

function Meta({ children }: { children: ReactNode[] }) {
  const items = children.filter((c) => c !== null && c !== false)
  return (
    <p className="record-meta">
      {items.map((c, i) => (
        <span key={i}>{c}</span>
      ))}
    </p>
  )
}

function PostBody({ post, at }: { post: PostView; at: Place }) {
  const n = post.images.length
  return (
    <div className="post">
      {post.text !== '' ? (
        <p className="post-text" data-testid="post-text">
          {post.text}
        </p>
      ) : (
        <p className="post-text muted" data-testid="post-text">
          (no text)
        </p>
      )}
      {n > 0 && (
        <div className={`post-images post-images-${Math.min(n, 4)}`}>
          {post.images.map((img, i) => (
            <figure key={`${img.blob?.cid ?? 'none'}-${i}`} className="post-figure">
              <BlobImage did={at.did} blob={img.blob} alt={img.alt} testId="post-image" />
              <figcaption className={img.alt === '' ? 'muted' : undefined}>
                <span className="alt-label">ALT</span>
                {img.alt === '' ? 'none given' : img.alt}
              </figcaption>
            </figure>
          ))}
        </div>
      )}
      {post.external !== null && (
        <div className="post-card">
          {/^https?:\/\//.test(post.external.uri) ? (
            <a href={post.external.uri} target="_blank" rel="noreferrer noopener">
              {post.external.title !== '' ? post.external.title : post.external.uri}
            </a>
          ) : (
            <span>{post.external.title !== '' ? post.external.title : post.external.uri}</span>
          )}
          {post.external.description !== '' && <p className="muted">{post.external.description}</p>}
          <p className="mono muted post-card-uri">{post.external.uri}</p>
        </div>
      )}
      {post.quote !== null && (
        <p className="post-quote">
          Quotes <UriLink uri={post.quote} at={at} />
        </p>
      )}
      {post.hasVideo && <p className="muted">A video is attached. It is kept with the blobs but not played here.</p>}
      <Meta>
        {[
          post.createdAt !== null && <time dateTime={post.createdAt}>{formatDateTime(post.createdAt)}</time>,
          post.langs.length > 0 && <>Language: {post.langs.join(', ')}</>,
        ]}
      </Meta>
    </div>
  )
}

/** The post a reply answers: loaded from this backup when it is the same account's, else its URI. */
function ReplyContext({ reply, at }: { reply: NonNullable<PostView['reply']>; at: Place }) {
  const bridge = useAccounts((s) => s.bridge)
  const parent = parseAtUri(reply.parent)
  const local = parent !== null && parent.authority === at.did && parent.collection !== null && parent.rkey !== null ? parent : null
  const load = useLoad(bridge === null || local === null ? null : `parent:${reply.parent}:${at.rev ?? ''}`, () =>
    bridge!.records.get({ did: at.did, collection: local!.collection!, rkey: local!.rkey!, ...(at.rev === null ? {} : { rev: at.rev }) }),
  )
  return (
    <div className="reply-context" data-testid="reply-context">
      {reply.root !== reply.parent && (
        <p className="reply-line">
          In the thread started by <UriLink uri={reply.root} at={at} />
        </p>
      )}
      {local === null ? (
        <p className="reply-line">
          In reply to <UriLink uri={reply.parent} at={at} />
        </p>
      ) : load.state === 'ok' ? (
        <div className="reply-parent" data-testid="reply-parent">
          <p className="reply-line">
            In reply to <UriLink uri={reply.parent} at={at} />
          </p>
          <ParentPost record={load.value} />
        </div>
      ) : (
        <p className="reply-line">
          In reply to <UriLink uri={reply.parent} at={at} />
          {load.state === 'error' && <span className="muted"> — not in this backup ({load.sentence})</span>}
        </p>
      )}
    </div>
  )
}

function ParentPost({ record }: { record: RecordDto }) {
  const p = postView(record.value)
  return (
    <blockquote className="parent-post">
      <p className="post-text">{p.text !== '' ? p.text : <span className="muted">(no text)</span>}</p>
      <Meta>
        {[
          p.createdAt !== null && <time dateTime={p.createdAt}>{formatDateTime(p.createdAt)}</time>,
          p.images.length > 0 && <>{p.images.length === 1 ? '1 image' : `${p.images.length} images`}</>,
        ]}
      </Meta>
    </blockquote>
  )
}

function Profile({ value, at }: { value: Record<string, unknown>; at: Place }) {
  const p = profileView(value)
  const handle = useAccounts((s) => s.accounts?.find((a) => a.did === at.did)?.handle ?? null)
  return (
    <div className="profile">
      <div className="profile-banner-wrap">
        {p.banner !== null ? (
          <BlobImage did={at.did} blob={p.banner} alt="Banner" className="profile-banner" testId="profile-banner" />
        ) : (
          <div className="profile-banner profile-banner-empty" />
        )}
      </div>
      <div className="profile-main">
        {p.avatar !== null ? (
          <BlobImage did={at.did} blob={p.avatar} alt="Avatar" className="profile-avatar" testId="profile-avatar" />
        ) : (
          <div className="profile-avatar profile-avatar-empty" aria-hidden="true" />
        )}
        <div className="profile-names">
          <h2 className="profile-name" data-testid="profile-name">
            {p.displayName !== '' ? p.displayName : <span className="muted">No display name</span>}
          </h2>
          <span className="muted">{handle !== null ? `@${handle}` : <span className="mono">{at.did}</span>}</span>
        </div>
      </div>
      {p.description !== '' && (
        <p className="profile-description" data-testid="profile-description">
          {p.description}
        </p>
      )}
      {p.pinnedPost !== null && (
        <p className="record-meta">
          Pinned: <UriLink uri={p.pinnedPost} at={at} />
        </p>
      )}
    </div>
  )
}

const SUBJECT_VERB = { follow: 'Follows', block: 'Blocks', like: 'Liked', repost: 'Reposted' } as const

function Subject({ kind, value, at }: { kind: keyof typeof SUBJECT_VERB; value: Record<string, unknown>; at: Place }) {
  const s = subjectOf(value)
  const createdAt = typeof value.createdAt === 'string' ? value.createdAt : null
  return (
    <div className="subject">
      <p className="subject-line" data-testid="record-subject">
        <span className="subject-verb">{SUBJECT_VERB[kind]}</span>{' '}
        {s === null ? (
          <span className="muted">nothing (the record names no subject)</span>
        ) : s.kind === 'did' ? (
          <DidLink did={s.did} />
        ) : (
          <UriLink uri={s.uri} at={at} />
        )}
      </p>
      <Meta>{[createdAt !== null && <time dateTime={createdAt}>{formatDateTime(createdAt)}</time>]}</Meta>
    </div>
  )
}

function Generic({ value }: { value: Record<string, unknown> }) {
  const fields = genericFields(value)
  if (fields.length === 0) return <p className="muted">This record has no fields besides its type.</p>
  return (
    <dl className="facts generic-fields">
      {fields.map((f) => (
        <Fact key={f.key} term={f.key}>
          <span className="selectable">{f.text}</span>
        </Fact>
      ))}
    </dl>
  )
}

/** One record, drawn by its type, with its raw JSON a click away. */
export function RecordView({ record, at }: { record: RecordDto; at: Place }) {
  const [raw, setRaw] = useState(false)
  const rawId = useId()
  const value = record.value
  const type = typeof value.$type === 'string' ? value.$type : record.collection
  const kind = recordKind(value)
  let body: ReactNode
  switch (kind) {
    case 'post': {
      const post = postView(value)
      body = (
        <>
          {post.reply !== null && <ReplyContext reply={post.reply} at={at} />}
          <PostBody post={post} at={at} />
        </>
      )
      break
    }
    case 'profile':
      body = <Profile value={value} at={at} />
      break
    case 'follow':
    case 'block':
    case 'like':
    case 'repost':
      body = <Subject kind={kind} value={value} at={at} />
      break
    case 'other':
      body = <Generic value={value} />
  }
  return (
    <article className={`record-card record-${kind}`} data-testid="record-view" data-type={type}>
      <header className="record-head">
        <span className="type-tag mono">{type}</span>
        <span className="mono muted record-uri selectable">{record.uri}</span>
      </header>
      <div className="record-body">{body}</div>
      <footer className="record-foot">
        <button
          type="button"
          className="button button-small"
          data-testid="raw-json-toggle"
          aria-expanded={raw}
          aria-controls={rawId}
          onClick={() => setRaw(!raw)}
        >
          {raw ? 'Hide raw JSON' : 'Raw JSON'}
        </button>
        <span className="mono muted" title={record.cid}>
          cid {middleEllipsis(record.cid, 14, 6)}
        </span>
      </footer>
      {raw && (
        <pre id={rawId} className="raw-json selectable" data-testid="raw-json">
          {prettyJson(value)}
        </pre>
      )}
    </article>
  )
}

import { useEffect, useRef, useState } from 'react'
import type { LexiconDto, LexiconStatsDto } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { formatCount, formatDateTime, formatRelativeTime, plural } from '../format.js'
import { PAGE_TITLES } from '../route.js'
import { useLoad } from '../use-load.js'
import { useNow } from '../use-now.js'
import { PageHeader } from './PageHeader.js'
import { Panel } from './Panel.js'

/** Rows read per page of the table. */
const PAGE_SIZE = 200

/** What may be typed in the search box: the start of an NSID. */
const QUERY = /^[A-Za-z0-9.-]*$/

function Stats({ stats }: { stats: LexiconStatsDto }) {
  return (
    <p className="muted" data-testid="lexicon-stats">
      {plural(stats.nsids, 'record type')} in {plural(stats.records, 'record')} of {plural(stats.repos, 'repo')}
      {stats.updatedAt !== null && <> · updated {formatDateTime(stats.updatedAt)}</>}
    </p>
  )
}

function Row({ l, now }: { l: LexiconDto; now: number }) {
  return (
    <tr data-testid={`lexicon-row-${l.nsid}`} className={l.records === 0 ? 'muted' : undefined}>
      <td className="mono">{l.nsid}</td>
      <td data-testid="lexicon-records">{formatCount(l.records)}</td>
      <td data-testid="lexicon-repos">{formatCount(l.repos)}</td>
      <td title={formatDateTime(l.firstSeenAt)}>{formatRelativeTime(l.firstSeenAt, now)}</td>
      <td title={formatDateTime(l.lastSeenAt)}>{formatRelativeTime(l.lastSeenAt, now)}</td>
    </tr>
  )
}

/** The lexicon index: every record type found in the repos held, searchable by NSID prefix. */
export function LexiconsPage() {
  const bridge = useAccounts((s) => s.bridge)
  const now = useNow(30_000)
  const [query, setQuery] = useState('')
  const [version, setVersion] = useState(0)
  const [more, setMore] = useState<{ key: string; rows: LexiconDto[]; cursor: string | null } | null>(null)
  useEffect(() => {
    if (bridge === null) return
    return bridge.on('lexicons:changed', () => setVersion((n) => n + 1))
  }, [bridge])
  const valid = QUERY.test(query)
  const q = valid ? query.trim() : ''
  const key = bridge === null ? null : `lexicons:${q}`
  const stats = useLoad(bridge === null ? null : 'lexicon-stats', () => bridge!.lexicons.stats(), version)
  const first = useLoad(key, () => bridge!.lexicons.list({ ...(q === '' ? {} : { q }), limit: PAGE_SIZE }), version)
  // While the rows of a new filter load, the previous ones stay (no flicker on every keystroke).
  const lastShown = useRef<{ lexicons: LexiconDto[]; cursor: string | null } | null>(null)
  if (first.state === 'ok') lastShown.current = first.value
  const shown = first.state === 'ok' ? first.value : first.state === 'loading' ? lastShown.current : null

  // Rows of later pages belong to the query (and index version) they were read for.
  const extra = more !== null && more.key === `${key}:${version}` ? more : null
  const rows = shown !== null ? [...shown.lexicons, ...(extra?.rows ?? [])] : []
  const cursor = extra !== null ? extra.cursor : first.state === 'ok' ? first.value.cursor : null
  const loadMore = async () => {
    if (bridge === null || cursor === null) return
    const page = await bridge.lexicons.list({ ...(q === '' ? {} : { q }), limit: PAGE_SIZE, cursor })
    setMore({ key: `${key}:${version}`, rows: [...(extra?.rows ?? []), ...page.lexicons], cursor: page.cursor })
  }

  return (
    <section className="page" data-testid="page-lexicons">
      <PageHeader title={PAGE_TITLES.lexicons} />
      <Panel title="Record types in the repos held">
        <p className="muted">
          Every lexicon (NSID) found in the records this node backs up, with how many records and repos use it. Other nodes can
          query this index too (org.p2pds.lexicon.search, .list and .stats), to find who stores what.
        </p>
        {stats.state === 'ok' && <Stats stats={stats.value} />}
        <label htmlFor="lexicon-search" className="visually-hidden">
          Search by NSID prefix
        </label>
        <input
          id="lexicon-search"
          className="input"
          data-testid="lexicon-search"
          type="search"
          placeholder="Filter by NSID prefix, e.g. app.bsky.feed"
          value={query}
          maxLength={317}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => setQuery(e.target.value)}
        />
        {!valid && <p className="warn-text">An NSID has only letters, digits, dots and hyphens.</p>}
        {first.state === 'loading' && shown === null && <p className="muted">Reading…</p>}
        {first.state === 'error' && <p className="warn-text">{first.sentence}</p>}
        {first.state === 'ok' && rows.length === 0 && (
          <p className="muted" data-testid="lexicon-empty">
            {q === '' ? 'No records are held yet: back up an account to fill the index.' : `No record type starts with ${q}.`}
          </p>
        )}
        {rows.length > 0 && (
          <table className="config-table" data-testid="lexicon-table">
            <thead>
              <tr>
                <th>NSID</th>
                <th>Records</th>
                <th>Repos</th>
                <th>First seen</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((l) => (
                <Row key={l.nsid} l={l} now={now} />
              ))}
            </tbody>
          </table>
        )}
        {cursor !== null && (
          <button type="button" className="button" onClick={() => void loadMore()}>
            Show more
          </button>
        )}
      </Panel>
    </section>
  )
}

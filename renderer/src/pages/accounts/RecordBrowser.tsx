import { useEffect, useRef, useState } from 'react'
import type { RecordDto } from '../../../../core/api.js'
import { accountName } from '../../account-view.js'
import { useAccounts } from '../../accounts-store.js'
import { formatCount, formatDateTime, plural } from '../../format.js'
import { actionSentence } from '../../problem.js'
import { collectionLabel, recordNoun, recordSummary } from '../../record-view.js'
import { accountHref, hrefFor, recordsHref } from '../../route.js'
import { useLoad } from '../../use-load.js'
import { ActionLine } from './ActionLine.js'
import { Breadcrumbs } from './Breadcrumbs.js'
import { RecordView } from './RecordView.js'
import { useExport } from './use-export.js'
import { Sentence } from '../../Sentence.js'

const PAGE_SIZE = 50

/** `{ rev }` when browsing a kept rev, nothing at the head (the node reads the head then). */
function revInput(rev: string | null): { rev?: string } {
  return rev === null ? {} : { rev }
}

function Problem({ sentence }: { sentence: string }) {
  return (
    <div className="banner banner-error" role="alert">
      <span className="banner-icon" aria-hidden="true" />
      <p>
        <Sentence text={sentence} />
      </p>
    </div>
  )
}

function PastRevBanner({ did, rev, collection, rkey }: { did: string; rev: string; collection: string | null; rkey: string | null }) {
  const exporter = useExport(did)
  return (
    <div className="banner banner-info" data-testid="past-rev-banner">
      <span className="banner-icon banner-icon-info" aria-hidden="true" />
      <div className="banner-text">
        <p>
          You are browsing revision <code>{rev}</code>, an earlier version of this backup. Records deleted since then still show here.
        </p>
        <p className="banner-actions">
          <a href={recordsHref({ did, collection, rkey })} data-testid="back-to-head">
            Back to the latest version
          </a>
          <button
            type="button"
            className="button button-small"
            data-testid="export-car"
            onClick={() => exporter.saveCar(rev)}
            disabled={exporter.busy !== null}
          >
            {exporter.busy === 'car' ? 'Exporting…' : 'Export CAR of this revision…'}
          </button>
        </p>
        <ActionLine result={exporter.result} testId="export-result" />
      </div>
    </div>
  )
}

function Collections({ did, rev }: { did: string; rev: string | null }) {
  const bridge = useAccounts((s) => s.bridge)
  // At the head, a sync may add collections: read again after one.
  const version = useAccounts((s) => (rev === null ? (s.changes[did] ?? 0) : 0))
  const load = useLoad(
    bridge === null ? null : `collections:${did}:${rev ?? ''}`,
    () => bridge!.records.collections({ did, ...revInput(rev) }),
    version,
  )
  if (load.state === 'loading') return <p className="muted">Loading collections…</p>
  if (load.state === 'error') return <Problem sentence={load.sentence} />
  if (load.value.length === 0) return <p className="muted">No records {rev === null ? 'yet' : 'at this revision'}.</p>
  return (
    <ul className="link-list link-list-card" aria-label="Collections">
      {load.value.map((c) => {
        const label = collectionLabel(c.nsid)
        return (
          <li key={c.nsid}>
            <a href={recordsHref({ did, collection: c.nsid, rev })} data-testid={`collection-${c.nsid}`}>
              <span className="link-list-main">
                {label ?? <span className="mono">{c.nsid}</span>}
                {label !== null && <span className="mono muted link-list-sub">{c.nsid}</span>}
              </span>
              <span className="count">{formatCount(c.records)}</span>
            </a>
          </li>
        )
      })}
    </ul>
  )
}

interface Paged {
  key: string
  records: RecordDto[]
  cursor: string | null
  loading: boolean
  problem: string | null
}

function RecordList({ did, collection, rev }: { did: string; collection: string; rev: string | null }) {
  const bridge = useAccounts((s) => s.bridge)
  const key = `${did} ${collection} ${rev ?? ''}`
  const [paged, setPaged] = useState<Paged>({ key, records: [], cursor: null, loading: true, problem: null })
  // An answer for another collection or rev (the route moved on while it loaded) is dropped.
  const keyRef = useRef(key)

  const loadPage = (cursor: string | null, cancelled: () => boolean) => {
    if (bridge === null) return
    setPaged((p) => ({ ...(p.key === key ? p : { key, records: [], cursor: null }), loading: true, problem: null }))
    bridge.records.list({ did, collection, limit: PAGE_SIZE, ...revInput(rev), ...(cursor === null ? {} : { cursor }) }).then(
      (page) => {
        if (cancelled()) return
        setPaged((p) => ({
          key,
          records: [...(p.key === key ? p.records : []), ...page.records],
          cursor: page.cursor,
          loading: false,
          problem: null,
        }))
      },
      (err: unknown) => {
        if (cancelled()) return
        setPaged((p) => ({ ...(p.key === key ? p : { key, records: [], cursor: null }), loading: false, problem: actionSentence(err) }))
      },
    )
  }

  useEffect(() => {
    let cancelled = false
    keyRef.current = key
    setPaged({ key, records: [], cursor: null, loading: true, problem: null })
    loadPage(null, () => cancelled)
    return () => {
      cancelled = true
    }
    // `loadPage` reads only what `key` names.
  }, [key, bridge])

  const current = paged.key === key ? paged : { key, records: [], cursor: null, loading: true, problem: null }
  return (
    <>
      {current.records.length === 0 && !current.loading && current.problem === null && <p className="muted">This collection is empty.</p>}
      {current.records.length > 0 && (
        <ul className="record-list" aria-label="Records">
          {current.records.map((r) => {
            const s = recordSummary(r)
            return (
              <li key={r.rkey}>
                <a href={recordsHref({ did, collection, rkey: r.rkey, rev })} data-testid={`record-${r.rkey}`}>
                  <span className="record-list-text">{s.text}</span>
                  <span className="record-list-meta">
                    {s.createdAt !== null && <span>{formatDateTime(s.createdAt)}</span>}
                    <span className="mono">{r.rkey}</span>
                  </span>
                </a>
              </li>
            )
          })}
        </ul>
      )}
      {current.problem !== null && <Problem sentence={current.problem} />}
      <div className="list-foot">
        {current.loading ? (
          <span className="muted">Loading records…</span>
        ) : current.cursor !== null ? (
          <button type="button" className="button" data-testid="load-more" onClick={() => loadPage(current.cursor, () => keyRef.current !== key)}>
            Load more
          </button>
        ) : (
          current.records.length > 0 && <span className="muted">{plural(current.records.length, 'record')}, all shown.</span>
        )}
      </div>
    </>
  )
}

function OneRecord({ did, collection, rkey, rev }: { did: string; collection: string; rkey: string; rev: string | null }) {
  const bridge = useAccounts((s) => s.bridge)
  const load = useLoad(bridge === null ? null : `record:${did}:${collection}:${rkey}:${rev ?? ''}`, () =>
    bridge!.records.get({ did, collection, rkey, ...revInput(rev) }),
  )
  if (load.state === 'loading') return <p className="muted">Loading the record…</p>
  if (load.state === 'error') return <Problem sentence={load.sentence} />
  return <RecordView record={load.value} at={{ did, rev }} />
}

/**
 * The backed-up records of one account, read from the node only (works offline): collections,
 * then a collection's records, then one record; at the head or at a kept rev.
 */
export function RecordBrowser({ did, collection, rkey, rev }: { did: string; collection: string | null; rkey: string | null; rev: string | null }) {
  const account = useAccounts((s) => s.accounts?.find((a) => a.did === did) ?? null)
  const name = account === null ? did : accountName(account)
  const headRev = account?.head?.rev ?? null
  const past = rev !== null && rev !== headRev
  const label = collection === null ? null : (collectionLabel(collection) ?? collection)

  const crumbs: Array<{ label: string; href?: string; mono?: boolean }> = [
    { label: 'Accounts', href: hrefFor('accounts') },
    { label: name, href: accountHref(did), mono: account?.handle == null },
    { label: 'Records', href: recordsHref({ did, rev }) },
  ]
  if (collection !== null && label !== null) crumbs.push({ label, href: recordsHref({ did, collection, rev }) })
  if (rkey !== null) crumbs.push({ label: rkey, mono: true })

  return (
    <div className="record-browser" data-testid="record-browser">
      <Breadcrumbs items={crumbs} />
      <header className="page-head">
        <h1>{rkey !== null && collection !== null ? recordNoun(collection) : label !== null ? label : 'Records'}</h1>
        {collection !== null && rkey === null && label !== collection && <span className="mono muted">{collection}</span>}
      </header>
      {past && <PastRevBanner did={did} rev={rev} collection={collection} rkey={rkey} />}
      {rev !== null && !past && (
        <p className="muted rev-note">
          Revision <code>{rev}</code> is the latest.
        </p>
      )}
      {collection === null ? (
        <Collections did={did} rev={rev} />
      ) : rkey === null ? (
        <RecordList did={did} collection={collection} rev={rev} />
      ) : (
        <OneRecord did={did} collection={collection} rkey={rkey} rev={rev} />
      )}
      {account !== null && account.lastSyncAt !== null && rev === null && (
        <p className="muted foot-note">As of the last sync, {formatDateTime(account.lastSyncAt)}. Read from this computer only.</p>
      )}
    </div>
  )
}

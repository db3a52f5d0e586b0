import { useState, type ReactNode } from 'react'
import type { AccountDetailDto, VerificationDto } from '../../../../core/api.js'
import { accountName, accountStatus, syncResultSentence, syncSourceLabel } from '../../account-view.js'
import { accountsStore, useAccounts } from '../../accounts-store.js'
import { formatBytes, formatCount, formatDateTime, formatRelativeTime, middleEllipsis, plural } from '../../format.js'
import { actionSentence } from '../../problem.js'
import { collectionLabel } from '../../record-view.js'
import { hrefFor, recordsHref } from '../../route.js'
import { useApp } from '../../store.js'
import { useLoad } from '../../use-load.js'
import { accountLive } from '../../live-view.js'
import { isAccountPaused, nextSyncLine, nodeSyncPaused } from '../../sync-view.js'
import { LiveBadge } from './LiveBadge.js'
import { useNow } from '../../use-now.js'
import { navigate } from '../../use-route.js'
import { Fact, Panel } from '../Panel.js'
import { AccountStatusBadge } from './AccountStatusBadge.js'
import { ActionLine, type ActionResult } from './ActionLine.js'
import { Breadcrumbs } from './Breadcrumbs.js'
import { HoldingBadge } from './HoldingBadge.js'
import { ConfirmDialog } from './ConfirmDialog.js'
import { SyncPauseToggle } from './SyncPauseToggle.js'
import { SyncProgress } from './SyncProgress.js'
import { useExport } from './use-export.js'
import { Sentence } from '../../Sentence.js'

const LEVELS: Array<{ level: VerificationDto['level']; title: string; what: string }> = [
  { level: 'L0', title: 'L0 · Head matches the PDS', what: 'The newest commit here is the one the account’s PDS reports.' },
  { level: 'L1', title: 'L1 · Stored blocks are intact', what: 'A random sample of stored blocks still hashes to their CIDs.' },
]

const HISTORY_SHOWN = 15

function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{children}</div>
    </div>
  )
}

function Verification({ did, results, now }: { did: string; results: VerificationDto[]; now: number }) {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [busy, setBusy] = useState(false)
  const [fresh, setFresh] = useState<VerificationDto[] | null>(null)
  const [problem, setProblem] = useState<string | null>(null)
  // Results of "Verify now" show at once; the account's own list catches up when it is read again.
  const latest = (level: VerificationDto['level']) =>
    [...(fresh ?? []), ...results]
      .filter((v) => v.level === level)
      .reduce<VerificationDto | null>((a, b) => (a === null || b.at > a.at ? b : a), null)

  const verify = async () => {
    if (bridge === null) return
    setBusy(true)
    setProblem(null)
    try {
      setFresh(await bridge.accounts.verify({ did }))
      accountsStore.getState().changed(did)
    } catch (err) {
      setProblem(actionSentence(err, host))
    } finally {
      setBusy(false)
    }
  }

  return (
    <Panel
      title="Verification"
      action={
        <button
          type="button"
          className="button button-small"
          data-testid="verify-now"
          onClick={() => void verify()}
          disabled={busy || bridge === null}
        >
          {busy ? 'Verifying…' : 'Verify now'}
        </button>
      }
    >
      <ul className="checks">
        {LEVELS.map(({ level, title, what }) => {
          const r = latest(level)
          const state = r === null ? 'none' : r.ok ? 'ok' : 'failed'
          return (
            <li key={level} className={`check check-${state}`} data-testid={`verification-${level}`} data-state={state}>
              <span className="check-icon" aria-hidden="true" />
              <div className="check-body">
                <div className="check-title">
                  <span>{title}</span>
                  <span className="check-time" title={r === null ? undefined : formatDateTime(r.at)}>
                    {r === null ? 'not run yet' : formatRelativeTime(r.at, now)}
                  </span>
                </div>
                <p className="check-summary">{r === null ? what : `${r.ok ? 'Passed' : 'Failed'}: ${r.summary}`}</p>
              </div>
            </li>
          )
        })}
      </ul>
      {problem !== null && (
        <p className="action-line action-line-error" role="alert">
          <Sentence text={problem} />
        </p>
      )}
    </Panel>
  )
}

function History({ detail, now }: { detail: AccountDetailDto; now: number }) {
  const [all, setAll] = useState(false)
  const headRev = detail.head?.rev ?? null
  const shown = all ? detail.history : detail.history.slice(0, HISTORY_SHOWN)
  return (
    <Panel title="History" className="panel-wide">
      {detail.history.length === 0 ? (
        <p className="muted">No commits kept yet; they appear after the first sync.</p>
      ) : (
        <>
          <p className="panel-note">
            Every synced commit is kept. Choose one to browse the records as they were then; deleted records stay readable there.
          </p>
          <table className="table history">
            <thead>
              <tr>
                <th scope="col">Revision</th>
                <th scope="col">First seen</th>
                <th scope="col">Commit</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((c) => (
                <tr key={c.rev}>
                  <td>
                    <a
                      className="mono"
                      href={c.rev === headRev ? recordsHref({ did: detail.did }) : recordsHref({ did: detail.did, rev: c.rev })}
                      data-testid={`history-rev-${c.rev}`}
                    >
                      {c.rev}
                    </a>
                    {c.rev === headRev && <span className="tag">latest</span>}
                  </td>
                  <td title={formatDateTime(c.seenAt)}>{formatRelativeTime(c.seenAt, now)}</td>
                  <td className="mono muted" title={c.cid}>
                    {middleEllipsis(c.cid, 14, 6)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {detail.history.length > HISTORY_SHOWN && (
            <button type="button" className="button button-link" onClick={() => setAll(!all)}>
              {all ? 'Show fewer' : `Show all ${formatCount(detail.history.length)} commits`}
            </button>
          )}
        </>
      )}
    </Panel>
  )
}

function Detail({ detail }: { detail: AccountDetailDto }) {
  const bridge = useAccounts((s) => s.bridge)
  const live = useAccounts((s) => s.accounts?.find((a) => a.did === detail.did) ?? null)
  const progress = useAccounts((s) => s.progress[detail.did] ?? null)
  const host = useApp((s) => s.status?.host ?? null)
  const nodeStatus = useApp((s) => s.status)
  const syncState = useAccounts((s) => s.syncState)
  const now = useNow(15_000)
  const exporter = useExport(detail.did)
  const [syncing, setSyncing] = useState(false)
  const [syncResult, setSyncResult] = useState<ActionResult | null>(null)
  const [removing, setRemoving] = useState<'ask' | 'busy' | null>(null)
  const [removeProblem, setRemoveProblem] = useState<string | null>(null)

  // The list's copy is kept current by events; the detail is read again after them.
  const summary = live ?? detail
  const nodePaused = nodeSyncPaused(syncState, nodeStatus)
  const status = accountStatus(summary, progress, isAccountPaused(summary, nodePaused))
  const next = status.kind === 'paused' ? null : nextSyncLine(summary.nextSyncAt, now)
  const name = accountName(summary)
  const liveState = accountLive(syncState, detail.did)

  const syncNow = async () => {
    if (bridge === null) return
    setSyncing(true)
    setSyncResult(null)
    try {
      const r = await bridge.accounts.sync({ did: detail.did })
      setSyncResult({ ok: true, text: syncResultSentence(r) })
    } catch (err) {
      setSyncResult({ ok: false, text: actionSentence(err, host) })
    } finally {
      setSyncing(false)
      accountsStore.getState().changed(detail.did)
    }
  }

  const remove = async () => {
    if (bridge === null) return
    setRemoving('busy')
    setRemoveProblem(null)
    try {
      await bridge.accounts.remove({ did: detail.did })
      accountsStore.getState().accountRemoved(detail.did)
      navigate(hrefFor('accounts'))
    } catch (err) {
      setRemoveProblem(actionSentence(err, host))
      setRemoving('ask')
    }
  }

  const blobs = summary.blobs
  return (
    <div data-testid="account-detail">
      <Breadcrumbs items={[{ label: 'Accounts', href: hrefFor('accounts') }, { label: name }]} />
      <header className="page-head account-head">
        <div className="account-title">
          <h1>{name}</h1>
          <span className="mono muted selectable">{detail.did}</span>
        </div>
        <div className="account-badges">
          <HoldingBadge account={summary} />
          <AccountStatusBadge status={status} />
        </div>
      </header>

      <div className="toolbar">
        <button
          type="button"
          className="button button-primary"
          data-testid="sync-now"
          onClick={() => void syncNow()}
          disabled={syncing || summary.syncing || bridge === null}
        >
          {syncing || summary.syncing ? 'Syncing…' : 'Sync now'}
        </button>
        <SyncPauseToggle paused={summary.paused === true} did={detail.did} />
        <a className="button" href={recordsHref({ did: detail.did })} data-testid="browse-records">
          Browse records
        </a>
        <button
          type="button"
          className="button"
          data-testid="export-car"
          onClick={() => exporter.saveCar()}
          disabled={exporter.busy !== null || detail.head === null}
        >
          {exporter.busy === 'car' ? 'Exporting…' : 'Export CAR…'}
        </button>
        <button type="button" className="button" data-testid="export-blobs" onClick={() => exporter.saveBlobs()} disabled={exporter.busy !== null}>
          {exporter.busy === 'blobs' ? 'Exporting…' : 'Export blobs…'}
        </button>
        <span className="toolbar-spacer" />
        <button type="button" className="button button-danger-quiet" data-testid="remove-account" onClick={() => setRemoving('ask')}>
          Remove account…
        </button>
      </div>

      {(next !== null || (nodePaused && summary.paused !== true)) && (
        <p className="muted" data-testid="account-next-sync">
          {nodePaused && summary.paused !== true ? 'Syncing is paused for all accounts.' : <span title={formatDateTime(summary.nextSyncAt ?? null)}>{next}</span>}
        </p>
      )}
      <ActionLine result={syncResult} testId="sync-result" />
      <ActionLine result={exporter.result} testId="export-result" />
      {status.kind === 'syncing' && <SyncProgress progress={progress} />}
      {status.sentence !== null && status.kind !== 'syncing' && (
        <div className="banner banner-error" role="alert" data-testid="account-error">
          <span className="banner-icon" aria-hidden="true" />
          <p>
            <Sentence text={status.sentence} />
          </p>
        </div>
      )}

      <div className="stats">
        <Stat label="Records">{formatCount(summary.records)}</Stat>
        <Stat label="Blobs stored">{formatCount(blobs.stored)}</Stat>
        <Stat label="Storage used">{formatBytes(summary.storageBytes)}</Stat>
        <Stat label="Last sync">
          <span title={formatDateTime(summary.lastSyncAt)}>{formatRelativeTime(summary.lastSyncAt, now)}</span>
        </Stat>
      </div>

      <div className="panels">
        <Panel title="Repository">
          <dl className="facts">
            <Fact term="Handle">{summary.handle ?? <span className="muted">none</span>}</Fact>
            <Fact term="DID" mono>
              <span className="selectable">{detail.did}</span>
            </Fact>
            <Fact term="PDS" mono>
              {summary.pdsUrl === null ? <span className="muted">unknown</span> : <span className="selectable">{summary.pdsUrl}</span>}
            </Fact>
            <Fact term="Head rev" mono>
              <span className="selectable" data-testid="head-rev">
                {summary.head?.rev ?? '–'}
              </span>
            </Fact>
            <Fact term="Head commit" mono>
              <span className="selectable">{summary.head?.cid ?? '–'}</span>
            </Fact>
            <Fact term="Last sync">
              {formatDateTime(summary.lastSyncAt)}
              {syncSourceLabel(summary.lastSyncSource) !== null && (
                <span className="muted" data-testid="last-sync-source">
                  {' '}
                  from {syncSourceLabel(summary.lastSyncSource)}
                </span>
              )}
            </Fact>
            {liveState !== null && (
              <Fact term="Live sync">
                <LiveBadge live={liveState} />
                {liveState.reason !== null && (
                  <span className="muted" data-testid="account-live-reason">
                    {' '}
                    {liveState.reason}
                  </span>
                )}
                {liveState.lastEventAt !== null && <span className="muted"> · last event {formatRelativeTime(liveState.lastEventAt, now)}</span>}
              </Fact>
            )}
          </dl>
        </Panel>

        <Verification did={detail.did} results={detail.verifications} now={now} />

        <Panel title="Collections">
          {detail.collections.length === 0 ? (
            <p className="muted">No records yet.</p>
          ) : (
            <ul className="link-list">
              {detail.collections.map((c) => (
                <li key={c.nsid}>
                  <a href={recordsHref({ did: detail.did, collection: c.nsid })} data-testid={`collection-${c.nsid}`}>
                    <span className="link-list-main">
                      {collectionLabel(c.nsid) ?? <span className="mono">{c.nsid}</span>}
                      {collectionLabel(c.nsid) !== null && <span className="mono muted link-list-sub">{c.nsid}</span>}
                    </span>
                    <span className="count">{formatCount(c.records)}</span>
                  </a>
                </li>
              ))}
            </ul>
          )}
        </Panel>

        <Panel title="Blobs">
          <dl className="facts">
            <Fact term="Stored">{formatCount(blobs.stored)}</Fact>
            <Fact term="Missing">
              {blobs.missing === 0 ? '0' : <span title="Listed by the PDS but not fetched yet.">{formatCount(blobs.missing)} not fetched yet</span>}
            </Fact>
            <Fact term="Failed">{blobs.failed === 0 ? '0' : <span className="warn-text">{formatCount(blobs.failed)}</span>}</Fact>
          </dl>
          {detail.failedBlobs.length > 0 && (
            <ul className="failed-blobs" data-testid="failed-blobs">
              {detail.failedBlobs.map((b) => (
                <li key={b.cid}>
                  <span className="mono" title={b.cid}>
                    {middleEllipsis(b.cid, 14, 6)}
                  </span>
                  <span className="failed-reason">{b.error}</span>
                  <span className="muted">{plural(b.attempts, 'attempt')}</span>
                </li>
              ))}
            </ul>
          )}
        </Panel>

        <History detail={detail} now={now} />
      </div>

      {removing !== null && (
        <ConfirmDialog
          title={`Remove ${name}?`}
          confirmLabel="Remove account"
          busyLabel="Removing…"
          busy={removing === 'busy'}
          problem={removeProblem}
          confirmTestId="confirm-remove"
          onConfirm={() => void remove()}
          onCancel={() => {
            setRemoving(null)
            setRemoveProblem(null)
          }}
        >
          <p>
            This node will stop backing up <strong>{name}</strong>
            {summary.handle !== null && <span className="mono"> ({detail.did})</span>} and delete its backed-up data from this computer:{' '}
            {plural(summary.records, 'record')}, {plural(blobs.stored, 'blob')}, the kept history, {formatBytes(summary.storageBytes)} in all.
          </p>
          <p className="muted">
            Blocks that other backed-up accounts share stay. The account itself, on its PDS, is not touched. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  )
}

/** One account: head, history, verification, collections, blobs, and what can be done with it. */
export function AccountDetail({ did }: { did: string }) {
  const bridge = useAccounts((s) => s.bridge)
  const version = useAccounts((s) => s.changes[did] ?? 0)
  const load = useLoad(bridge === null ? null : `account:${did}`, () => bridge!.accounts.get({ did }), version)
  if (load.state === 'ok') return <Detail key={did} detail={load.value} />
  return (
    <div data-testid="account-detail">
      <Breadcrumbs
        items={[
          { label: 'Accounts', href: hrefFor('accounts') },
          { label: did, mono: true },
        ]}
      />
      {load.state === 'loading' ? (
        <p className="muted">Loading…</p>
      ) : (
        <div className="banner banner-error" role="alert">
          <span className="banner-icon" aria-hidden="true" />
          <p>
            <Sentence text={load.sentence} />
          </p>
        </div>
      )}
    </div>
  )
}

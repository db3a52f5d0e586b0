import { useEffect, useState } from 'react'
import type { PlcLogStatusDto } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { formatDateTime, formatRelativeTime, plural } from '../format.js'
import { actionSentence } from '../problem.js'
import { accountHref, PAGE_TITLES } from '../route.js'
import { Sentence } from '../Sentence.js'
import { useApp } from '../store.js'
import { useLoad } from '../use-load.js'
import { useNow } from '../use-now.js'
import { PageHeader } from './PageHeader.js'
import { Fact, Panel } from './Panel.js'

const VALIDATION_TEXT: Record<PlcLogStatusDto['validation'], { label: string; className: string }> = {
  valid: { label: 'Valid', className: 'badge badge-ok' },
  invalid: { label: 'Invalid copy refused', className: 'badge badge-error' },
  unavailable: { label: 'Unreachable', className: 'badge badge-error' },
  pending: { label: 'Not fetched yet', className: 'badge badge-busy' },
}

/** One held did:plc: what its mirrored PLC log says, and a button to fetch it again now. */
function PlcRow({ status, name, now }: { status: PlcLogStatusDto; name: string; now: number }) {
  const bridge = useAccounts((s) => s.bridge)
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)
  const v = VALIDATION_TEXT[status.validation]
  const refresh = async () => {
    if (bridge === null) return
    setBusy(true)
    setProblem(null)
    try {
      await bridge.plc.refresh({ did: status.did })
    } catch (err) {
      setProblem(actionSentence(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <tr data-testid={`plc-row-${status.did}`}>
      <td>
        <a href={accountHref(status.did)}>{name}</a>
        <div className="mono muted">{status.did}</div>
      </td>
      <td data-testid="plc-operations">
        {plural(status.operations, 'operation')}
        {status.nullified > 0 && <div className="muted">{status.nullified} nullified</div>}
      </td>
      <td title={formatDateTime(status.lastFetchAt)}>
        {status.lastFetchAt === null ? 'never' : formatRelativeTime(status.lastFetchAt, now)}
        {status.source !== null && <div className="muted mono">{status.source}</div>}
      </td>
      <td>{status.tombstoned ? <span className="warn-text">Yes: the DID is deactivated</span> : 'No'}</td>
      <td>
        <span className={v.className} data-testid="plc-validation">
          <span className="badge-dot" />
          {v.label}
        </span>
        {status.error !== null && (
          <p className="muted" data-testid="plc-error">
            <Sentence text={status.error.message} />
          </p>
        )}
        {problem !== null && <p className="warn-text">{problem}</p>}
      </td>
      <td>
        <button type="button" className="button" disabled={busy || bridge === null} onClick={() => void refresh()} data-testid="plc-refresh">
          {busy ? 'Fetching…' : 'Refresh now'}
        </button>
      </td>
    </tr>
  )
}

/** The PLC mirror: per held did:plc, the archived operation log and its validation. */
function PlcMirrorPanel() {
  const bridge = useAccounts((s) => s.bridge)
  const accounts = useAccounts((s) => s.accounts)
  const now = useNow(15_000)
  const [version, setVersion] = useState(0)
  useEffect(() => {
    if (bridge === null) return
    // A refresh ended, or accounts came or went: read again.
    const offs = [bridge.on('plc:changed', () => setVersion((n) => n + 1)), bridge.on('accounts:changed', () => setVersion((n) => n + 1))]
    return () => offs.forEach((off) => off())
  }, [bridge])
  const load = useLoad(bridge === null ? null : 'plc', () => bridge!.plc.list(), version)
  const nameOf = (did: string) => accounts?.find((a) => a.did === did)?.handle ?? did
  return (
    <Panel title="PLC log mirror">
      <p className="muted">
        Your DID’s history lives in the PLC directory. This node keeps a checked copy of that history for every account it
        backs up, refreshes it regularly, and shares it with other nodes, so the identity can still be looked up and proven if
        the directory is unreachable or loses it.
      </p>
      {load.state === 'loading' && <p className="muted">Reading…</p>}
      {load.state === 'error' && <p className="warn-text">{load.sentence}</p>}
      {load.state === 'ok' && load.value.length === 0 && <p className="muted">No did:plc account is backed up yet.</p>}
      {load.state === 'ok' && load.value.length > 0 && (
        <table className="config-table" data-testid="plc-table">
          <thead>
            <tr>
              <th>Account</th>
              <th>Operations</th>
              <th>Last fetch</th>
              <th>Tombstoned</th>
              <th>Validation</th>
              <th>
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {load.value.map((s) => (
              <PlcRow key={s.did} status={s} name={nameOf(s.did)} now={now} />
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  )
}

/** Who is logged in, and the PLC logs kept for every account held. */
export function IdentityPage() {
  const info = useApp((s) => s.info)
  return (
    <section className="page" data-testid="page-identity">
      <PageHeader title={PAGE_TITLES.identity} />
      {info !== null && (
        <Panel title="Logged-in identity">
          {info.identity === null ? (
            <p className="muted">No account has logged in on this node yet.</p>
          ) : (
            <dl className="facts">
              <Fact term="Handle">{info.identity.handle ?? 'none'}</Fact>
              <Fact term="DID" mono>
                {info.identity.did}
              </Fact>
            </dl>
          )}
        </Panel>
      )}
      <PlcMirrorPanel />
    </section>
  )
}

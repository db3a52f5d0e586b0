import { useEffect, useState, type FormEvent } from 'react'
import type { AuthStatusDto, GroupDto, OfferDto, OffersDto, PoliciesDto } from '../../../core/api.js'
import { actingDid, asInput, useChosenAccount } from '../acting-account.js'
import { consentLabel } from '../policy-view.js'
import { useAccounts } from '../accounts-store.js'
import { formatDateTime } from '../format.js'
import { actionSentence } from '../problem.js'
import { PAGE_TITLES } from '../route.js'
import { Sentence } from '../Sentence.js'
import { useApp } from '../store.js'
import { useLoad } from '../use-load.js'
import { AccountSwitcher } from './AccountSwitcher.js'
import { GroupsPanel } from './GroupsPanel.js'
import { LoginPanel } from './LoginPanel.js'
import { PageHeader } from './PageHeader.js'
import { Panel } from './Panel.js'
import { PoliciesPanel } from './PoliciesPanel.js'

/** Offers received and made, agreements, policies, and the login they act as (the account switcher). */
export function OffersPage() {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [version, setVersion] = useState(0)
  const [problem, setProblem] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [target, setTarget] = useState('')
  useEffect(() => {
    if (bridge === null) return
    const offs = [bridge.on('offers:changed', () => setVersion((n) => n + 1)), bridge.on('auth:changed', () => setVersion((n) => n + 1)), bridge.on('challenge:completed', () => setVersion((n) => n + 1))]
    return () => offs.forEach((off) => off())
  }, [bridge])
  const offers = useLoad<OffersDto>(bridge === null ? null : 'offers', () => bridge!.offers.list(), version)
  const auth = useLoad<AuthStatusDto>(bridge === null ? null : 'offers-auth', () => bridge!.auth.status(), version)
  const policies = useLoad<PoliciesDto>(bridge === null ? null : 'offers-policies', () => bridge!.policies.list(), version)
  const groups = useLoad<GroupDto[]>(bridge === null ? null : 'offers-groups', () => bridge!.groups.list(), version)
  const logins = auth.state === 'ok' ? auth.value.accounts : []
  const [chosen] = useChosenAccount()
  const acting = actingDid(logins, chosen)
  const name = (did: string) => logins.find((l) => l.did === did)?.handle ?? did

  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true)
    setProblem(null)
    try {
      await fn()
    } catch (err) {
      setProblem(actionSentence(err, host))
    } finally {
      setBusy(false)
      setVersion((n) => n + 1)
    }
  }

  const submitOffer = (e: FormEvent) => {
    e.preventDefault()
    const t = target.trim()
    if (bridge === null || t === '') return
    void act(async () => {
      await bridge.offers.offer({ target: t, ...asInput(logins, chosen) })
      setTarget('')
    })
  }

  const incoming = offers.state === 'ok' ? offers.value.incoming : []
  const outgoing = offers.state === 'ok' ? offers.value.outgoing : []
  const agreements = offers.state === 'ok' ? offers.value.agreements.filter((a) => a.state !== 'purged') : []

  return (
    <section className="page" data-testid="page-offers">
      <PageHeader title={PAGE_TITLES.offers} />
      <LoginPanel />
      <AccountSwitcher logins={logins} />
      {problem !== null && (
        <p className="action-line action-line-error" role="alert" data-testid="offers-error">
          <Sentence text={problem} />
        </p>
      )}
      <Panel title="Offers to you">
        {incoming.length === 0 ? (
          <p className="muted" data-testid="incoming-none">
            No offers yet. When someone offers to back up your account, it shows here.
          </p>
        ) : (
          <table className="table" data-testid="incoming-offers">
            <thead>
              <tr>
                <th>From</th>
                <th>To</th>
                <th>Received</th>
                <th>Decision</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {incoming.map((o: OfferDto) => (
                <tr key={o.uri} data-testid={`incoming-${o.offerer}`}>
                  <td className="mono">{o.offerer}</td>
                  <td>{name(o.subject)}</td>
                  <td>{formatDateTime(o.createdAt)}</td>
                  <td data-testid="incoming-decision">{o.decision}</td>
                  <td>
                    {o.decision !== 'accepted' && (
                      <button type="button" className="button button-primary button-small" data-testid="offer-accept" disabled={busy} onClick={() => void act(() => bridge!.offers.accept({ did: o.offerer, as: o.subject }))}>
                        Accept
                      </button>
                    )}{' '}
                    {o.decision === 'pending' && (
                      <button type="button" className="button button-small" data-testid="offer-deny" disabled={busy} onClick={() => void act(() => bridge!.offers.deny({ did: o.offerer, as: o.subject }))}>
                        Deny
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      <Panel title="Your offers">
        {outgoing.length > 0 && (
          <table className="table" data-testid="outgoing-offers">
            <thead>
              <tr>
                <th>To</th>
                <th>From</th>
                <th>Published</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {outgoing.map((o) => (
                <tr key={o.uri} data-testid={`outgoing-${o.subject}`}>
                  <td className="mono">{o.subject}</td>
                  <td>{name(o.offerer)}</td>
                  <td>{formatDateTime(o.createdAt)}</td>
                  <td>
                    <button type="button" className="button button-danger-quiet button-small" data-testid="offer-revoke" disabled={busy} onClick={() => void act(() => bridge!.offers.revoke({ did: o.subject, as: o.offerer }))}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {logins.length > 0 && (
          <form className="add-account" onSubmit={submitOffer} aria-label="Offer a backup">
            <label htmlFor="offer-input" className="add-account-label">
              Offer to back up someone (they back you up when they accept)
            </label>
            <div className="add-account-row">
              <input id="offer-input" className="input" data-testid="offer-input" type="text" autoCapitalize="off" spellCheck={false} placeholder="bob.bsky.social or did:plc:…" value={target} onChange={(e) => setTarget(e.target.value)} />
              <button type="submit" className="button button-primary" data-testid="offer-submit" disabled={busy || target.trim() === ''}>
                Offer
              </button>
            </div>
          </form>
        )}
      </Panel>
      <Panel title="Agreements and archives">
        {agreements.length === 0 ? (
          <p className="muted" data-testid="agreements-none">
            None yet. Two offers naming each other form an agreement, and each node then holds the other&apos;s account.
          </p>
        ) : (
          <table className="table" data-testid="agreements">
            <thead>
              <tr>
                <th>Account</th>
                <th>Type</th>
                <th>State</th>
                <th>Consent</th>
                <th>Purge</th>
              </tr>
            </thead>
            <tbody>
              {agreements.map((a) => (
                <tr key={a.id} data-testid={`agreement-${a.did}`}>
                  <td className="mono">{a.did}</td>
                  <td>{a.type}</td>
                  <td data-testid="agreement-state">{a.state}</td>
                  <td data-testid="agreement-consent">{consentLabel(a)}</td>
                  <td>
                    {a.purgeAt === null ? (
                      '-'
                    ) : (
                      <>
                        {formatDateTime(a.purgeAt)}{' '}
                        <button type="button" className="button button-small" data-testid="purge-now" disabled={busy} onClick={() => void act(() => bridge!.offers.purgeNow({ did: a.did }))}>
                          Purge now
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {logins.length > 0 && (
          <p className="muted">
            Consent of {name(acting!)} to one-way archiving by any node:{' '}
            <button type="button" className="button button-small" data-testid="consent-on" disabled={busy} onClick={() => void act(() => bridge!.offers.consent({ on: true, as: acting! }))}>
              Publish consent
            </button>{' '}
            <button type="button" className="button button-small" data-testid="consent-off" disabled={busy} onClick={() => void act(() => bridge!.offers.consent({ on: false, as: acting! }))}>
              Withdraw
            </button>
          </p>
        )}
      </Panel>
      {policies.state === 'ok' && <PoliciesPanel value={policies.value} name={name} />}
      {bridge !== null && groups.state === 'ok' && <GroupsPanel bridge={bridge} groups={groups.value} acting={asInput(logins, chosen)} busy={busy} act={act} />}
    </section>
  )
}

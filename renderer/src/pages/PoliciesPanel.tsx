import { Fragment, useState } from 'react'
import type { PoliciesDto } from '../../../core/api.js'
import { canEditPolicy, consentLabel, copiesLabel, fetchOrderLabel, intervalLabel, retentionLabel, shownPolicies } from '../policy-view.js'
import { Panel } from './Panel.js'
import { PolicyEditForm } from './PolicyEditForm.js'

/**
 * "Is my data safe?" for each logged-in account, every policy (each but config ones with an Edit
 * form inline), and what they add up to per DID.
 */
export function PoliciesPanel({ value, name }: { value: PoliciesDto; name: (did: string) => string }) {
  const policies = shownPolicies(value.policies)
  const [editing, setEditing] = useState<string | null>(null)
  const [saved, setSaved] = useState<{ id: string; text: string } | null>(null)
  return (
    <>
      {value.safety.length > 0 && (
        <Panel title="Is my data safe?">
          <ul className="plain-list" data-testid="safety">
            {value.safety.map((s) => (
              <li key={s.did} data-testid={`safety-${s.did}`} data-safe={s.safe}>
                <span className={`badge ${s.safe ? 'badge-ok' : 'badge-error'}`}>{s.safe ? 'Safe' : 'Not yet'}</span> {name(s.did)}: {s.sentence}
              </li>
            ))}
          </ul>
        </Panel>
      )}
      <Panel title="Policies">
        {policies.length === 0 ? (
          <p className="muted" data-testid="policies-none">
            No policies: this node holds no account yet.
          </p>
        ) : (
          <table className="table" data-testid="policies">
            <thead>
              <tr>
                <th>Account</th>
                <th>Type</th>
                <th>State</th>
                <th>Consent</th>
                <th>Interval</th>
                <th>Retention</th>
                <th>Copies</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {policies.map((p) => (
                <Fragment key={p.id}>
                  <tr data-testid={`policy-${p.id}`}>
                    <td className="mono">{p.did}</td>
                    <td>{p.type}</td>
                    <td data-testid="policy-state">{p.state}</td>
                    <td data-testid="policy-consent">{consentLabel(p)}</td>
                    <td data-testid="policy-interval-value">{intervalLabel(p.intervalSec)}</td>
                    <td data-testid="policy-retention-value">{retentionLabel(p.retentionDays)}</td>
                    <td data-testid="policy-copies-value">{copiesLabel(p.minCopies)}</td>
                    <td>
                      {canEditPolicy(p) ? (
                        editing !== p.id && (
                          <button
                            type="button"
                            className="button button-small"
                            data-testid="policy-edit"
                            onClick={() => {
                              setEditing(p.id)
                              setSaved(null)
                            }}
                          >
                            Edit
                          </button>
                        )
                      ) : (
                        p.type === 'config' && (
                          <span className="muted" title="Set by REPLICATE_DIDS or POLICY_FILE: change it there and restart the node.">
                            from config
                          </span>
                        )
                      )}
                    </td>
                  </tr>
                  {editing === p.id && (
                    <tr data-testid={`policy-editing-${p.id}`}>
                      <td colSpan={8}>
                        <PolicyEditForm
                          policy={p}
                          done={(text) => {
                            setEditing(null)
                            setSaved(text === null ? null : { id: p.id, text })
                          }}
                        />
                      </td>
                    </tr>
                  )}
                  {saved?.id === p.id && editing !== p.id && (
                    <tr>
                      <td colSpan={8}>
                        <p className="action-line action-line-ok" role="status" data-testid="policy-saved">
                          {saved.text}
                        </p>
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        )}
        {value.effective.length > 0 && (
          <>
            <h3>What they add up to, per held account</h3>
            <table className="table" data-testid="effective-policies">
              <thead>
                <tr>
                  <th>Held account</th>
                  <th>Syncs</th>
                  <th>Keeps</th>
                  <th>Copies wanted</th>
                  <th>Peers to ask, in order</th>
                </tr>
              </thead>
              <tbody>
                {value.effective.map((e) => (
                  <tr key={e.did} data-testid={`effective-${e.did}`}>
                    <td className="mono">{e.did}</td>
                    <td>{intervalLabel(e.intervalSec)}</td>
                    <td>{retentionLabel(e.retentionDays)}</td>
                    <td>{copiesLabel(e.minCopies)}</td>
                    <td className="mono">{fetchOrderLabel(e)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Panel>
    </>
  )
}

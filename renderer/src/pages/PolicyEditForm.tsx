import { useState, type FormEvent } from 'react'
import type { PolicyDto } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { policyDraft, policySavedSentence, policyUpdate, type PolicyDraft, type PolicyDraftErrors } from '../policy-view.js'
import { actionSentence } from '../problem.js'
import { Sentence } from '../Sentence.js'
import { useApp } from '../store.js'

const FIELDS: Array<{ key: keyof PolicyDraft; label: string; unit: string; hint: string; testId: string; wide?: boolean }> = [
  { key: 'intervalMin', label: 'Sync every', unit: 'minutes', hint: 'Empty: the node’s sync interval.', testId: 'policy-interval' },
  { key: 'retentionDays', label: 'Keep history for', unit: 'days', hint: 'Empty: keep all history. Older commits are pruned after the next sync.', testId: 'policy-retention' },
  { key: 'minCopies', label: 'Copies wanted', unit: 'copies', hint: 'Empty: no number wanted.', testId: 'policy-min-copies' },
  { key: 'preferredPeers', label: 'Preferred peers', unit: '', hint: 'PeerIDs to fetch blocks from first, separated by commas.', testId: 'policy-peers', wide: true },
]

/**
 * The Edit form of one policy: its interval, retention, copies and preferred peers, checked as
 * they are typed (a sentence beside the field), then saved with `policies.update`.
 */
export function PolicyEditForm({ policy, done }: { policy: PolicyDto; done(saved: string | null): void }) {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [draft, setDraft] = useState<PolicyDraft>(() => policyDraft(policy))
  const [errors, setErrors] = useState<PolicyDraftErrors>({})
  const [problem, setProblem] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const check = policyUpdate(policy, draft)
  const dirty = check.input !== null || Object.keys(check.errors).length > 0

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const r = policyUpdate(policy, draft)
    setErrors(r.errors)
    if (bridge === null || r.input === null) return
    setBusy(true)
    setProblem(null)
    try {
      done(policySavedSentence(await bridge.policies.update(r.input)))
    } catch (err) {
      setProblem(actionSentence(err, host))
      setBusy(false)
    }
  }

  return (
    <form className="policy-form" onSubmit={(e) => void submit(e)} noValidate data-testid="policy-form" aria-label={`Edit the policy for ${policy.did}`}>
      <div className="policy-form-fields">
        {FIELDS.map((f) => {
          const id = `${f.testId}-${policy.id}`
          const error = errors[f.key]
          return (
            <div className={f.wide === true ? 'policy-field policy-field-wide' : 'policy-field'} key={f.key}>
              <label htmlFor={id} className="policy-label">
                {f.label}
              </label>
              <div className="policy-input-row">
                <input
                  id={id}
                  className={f.wide === true ? 'input mono' : 'input policy-input-number'}
                  data-testid={f.testId}
                  type="text"
                  inputMode={f.wide === true ? 'text' : 'decimal'}
                  autoComplete="off"
                  autoCapitalize="off"
                  spellCheck={false}
                  placeholder={f.wide === true ? '12D3KooW…, 12D3KooW…' : 'default'}
                  value={draft[f.key]}
                  disabled={busy}
                  aria-invalid={error !== undefined}
                  aria-describedby={`${id}-hint`}
                  onChange={(e) => {
                    const next = { ...draft, [f.key]: e.target.value }
                    setDraft(next)
                    // Checked as typed: a field's sentence goes as soon as its value is acceptable.
                    setErrors((old) => ({ ...old, [f.key]: old[f.key] === undefined ? undefined : policyUpdate(policy, next).errors[f.key] }))
                    setProblem(null)
                  }}
                  onBlur={() => setErrors((old) => ({ ...old, [f.key]: policyUpdate(policy, draft).errors[f.key] }))}
                />
                {f.unit !== '' && <span className="policy-unit">{f.unit}</span>}
              </div>
              {error !== undefined ? (
                <p className="policy-error" role="alert" data-testid={`${f.testId}-error`}>
                  {error}
                </p>
              ) : (
                <p className="policy-hint" id={`${id}-hint`}>
                  {f.hint}
                </p>
              )}
            </div>
          )
        })}
      </div>
      <div className="policy-actions">
        <button type="submit" className="button button-primary button-small" data-testid="policy-save" disabled={busy || !dirty || bridge === null}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="button button-small" data-testid="policy-cancel" disabled={busy} onClick={() => done(null)}>
          Cancel
        </button>
      </div>
      {problem !== null && (
        <p className="action-line action-line-error" role="alert" data-testid="policy-form-error">
          <Sentence text={problem} />
        </p>
      )}
    </form>
  )
}

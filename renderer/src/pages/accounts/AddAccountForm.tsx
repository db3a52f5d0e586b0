import { useState, type FormEvent } from 'react'
import { accountName, accountStatus, addedLine, normalizeAccountInput } from '../../account-view.js'
import { accountsStore, useAccounts } from '../../accounts-store.js'
import { actionSentence } from '../../problem.js'
import { useApp } from '../../store.js'
import { Sentence } from '../../Sentence.js'
import { ActionLine } from './ActionLine.js'

/** Add an account by handle or DID; the node resolves it and starts the first sync. */
export function AddAccountForm() {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)
  // The account just added; what is said about it follows its sync (started, then done or failed).
  const [added, setAdded] = useState<{ did: string; name: string } | null>(null)
  const addedAccount = useAccounts((s) => (added === null ? null : (s.accounts?.find((a) => a.did === added.did) ?? null)))
  const addedProgress = useAccounts((s) => (added === null ? null : (s.progress[added.did] ?? null)))
  const addedResult = added === null ? null : addedLine(added.name, addedAccount === null ? null : accountStatus(addedAccount, addedProgress))
  const input = normalizeAccountInput(text)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    if (bridge === null || input === '' || busy) return
    setBusy(true)
    setProblem(null)
    setAdded(null)
    try {
      const account = await bridge.accounts.add({ handleOrDid: input })
      accountsStore.getState().accountAdded(account)
      setText('')
      setAdded({ did: account.did, name: accountName(account) })
    } catch (err) {
      setProblem(actionSentence(err, host))
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="add-account" onSubmit={(e) => void submit(e)} aria-label="Add an account">
      <label htmlFor="add-account-input" className="add-account-label">
        Back up an account
      </label>
      <div className="add-account-row">
        <input
          id="add-account-input"
          className="input"
          data-testid="add-account-input"
          type="text"
          inputMode="url"
          autoComplete="off"
          autoCapitalize="off"
          spellCheck={false}
          placeholder="alice.bsky.social or did:plc:…"
          value={text}
          onChange={(e) => {
            setText(e.target.value)
            setProblem(null)
          }}
          aria-describedby="add-account-hint"
          aria-invalid={problem !== null}
        />
        <button type="submit" className="button button-primary" data-testid="add-account-submit" disabled={busy || input === '' || bridge === null}>
          {busy ? 'Adding…' : 'Add account'}
        </button>
      </div>
      {problem !== null ? (
        <p className="action-line action-line-error" role="alert" data-testid="add-account-error">
          <Sentence text={problem} />
        </p>
      ) : addedResult !== null ? (
        <ActionLine result={addedResult} testId="add-account-result" />
      ) : (
        <p id="add-account-hint" className="add-account-hint">
          A handle or a DID. Public data is copied without logging in; the first sync starts right away.
        </p>
      )}
    </form>
  )
}

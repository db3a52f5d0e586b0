import { useEffect, useState, type FormEvent } from 'react'
import type { AuthStatusDto } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { formatDateTime } from '../format.js'
import { actionSentence } from '../problem.js'
import { Sentence } from '../Sentence.js'
import { useApp } from '../store.js'
import { useLoad } from '../use-load.js'
import { Panel } from './Panel.js'

/**
 * Log in with an atproto account (OAuth: the PDS's own sign-in page opens in a new tab or the
 * system browser) and the accounts logged in, each with Log out. Offers and the peer record are
 * published as these accounts.
 */
export function LoginPanel() {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [version, setVersion] = useState(0)
  const [handle, setHandle] = useState('')
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)
  const [pendingUrl, setPendingUrl] = useState<string | null>(null)
  useEffect(() => {
    if (bridge === null) return
    return bridge.on('auth:changed', (e) => {
      setVersion((n) => n + 1)
      if (e.loggedIn && e.error === undefined) {
        setPendingUrl(null)
        setHandle('')
      }
      if (e.error !== undefined) setProblem(e.error.message)
    })
  }, [bridge])
  const status = useLoad<AuthStatusDto>(bridge === null ? null : 'auth-status', () => bridge!.auth.status(), version)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const input = handle.trim().replace(/^@/, '')
    if (bridge === null || input === '' || busy) return
    // Opened now, while the click counts as the user's: a tab opened after an await is blocked.
    const tab = bridge.host.kind === 'browser' ? window.open('about:blank', '_blank') : null
    setBusy(true)
    setProblem(null)
    try {
      const { url } = await bridge.auth.login({ handle: input })
      setPendingUrl(url)
      if (tab !== null) {
        tab.opener = null
        tab.location.href = url
      } else {
        // Electron opens https links in the system browser.
        window.open(url, '_blank', 'noopener')
      }
    } catch (err) {
      tab?.close()
      setProblem(actionSentence(err, host))
    } finally {
      setBusy(false)
    }
  }

  const logout = async (did: string) => {
    if (bridge === null) return
    setProblem(null)
    try {
      await bridge.auth.logout({ did })
    } catch (err) {
      setProblem(actionSentence(err, host))
    }
    setVersion((n) => n + 1)
  }

  const accounts = status.state === 'ok' ? status.value.accounts : []
  return (
    <Panel title="Your accounts">
      {accounts.length === 0 ? (
        <p className="muted" data-testid="login-none">
          No account is logged in. Log in with your atproto account to offer backups to others and accept theirs.
        </p>
      ) : (
        <table className="table" data-testid="login-list">
          <thead>
            <tr>
              <th>Account</th>
              <th>Login</th>
              <th>Since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {accounts.map((a) => (
              <tr key={a.did} data-testid={`login-row-${a.did}`}>
                <td>
                  <span data-testid="login-handle">{a.handle ?? a.did}</span>
                  <div className="muted mono">{a.did}</div>
                </td>
                <td>{a.method === 'oauth' ? 'OAuth' : 'app password'}</td>
                <td>{formatDateTime(a.loggedInAt)}</td>
                <td>
                  <button type="button" className="button button-small" data-testid="logout" onClick={() => void logout(a.did)}>
                    Log out
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {status.state === 'ok' && !status.value.oauth ? (
        <p className="muted">OAuth login is off on this node; log in from the command line with p2pds login &lt;handle&gt; --app-password.</p>
      ) : (
        <form className="add-account" onSubmit={(e) => void submit(e)} aria-label="Log in">
          <label htmlFor="login-handle-input" className="add-account-label">
            Log in
          </label>
          <div className="add-account-row">
            <input
              id="login-handle-input"
              className="input"
              data-testid="login-input"
              type="text"
              autoComplete="username"
              autoCapitalize="off"
              spellCheck={false}
              placeholder="alice.bsky.social"
              value={handle}
              onChange={(e) => {
                setHandle(e.target.value)
                setProblem(null)
              }}
              aria-invalid={problem !== null}
            />
            <button type="submit" className="button button-primary" data-testid="login-submit" disabled={busy || handle.trim() === '' || bridge === null}>
              {busy ? 'Opening…' : 'Log in'}
            </button>
          </div>
          {problem !== null ? (
            <p className="action-line action-line-error" role="alert" data-testid="login-error">
              <Sentence text={problem} />
            </p>
          ) : pendingUrl !== null ? (
            <p className="add-account-hint" data-testid="login-pending">
              Sign in on your PDS&apos;s page to finish.{' '}
              <a href={pendingUrl} target="_blank" rel="noopener noreferrer" data-testid="login-link">
                Open it again
              </a>
            </p>
          ) : (
            <p className="add-account-hint">Your PDS&apos;s sign-in page opens; P2PDS never sees your password.</p>
          )}
        </form>
      )}
    </Panel>
  )
}

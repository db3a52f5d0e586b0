import { useEffect, useState } from 'react'
import type { NewRotationKeyDto, RestorePlanDto, RestoreProgressDto, RestoreStatusDto, RestoreStepName } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { actionSentence } from '../problem.js'
import { PAGE_TITLES } from '../route.js'
import { useLoad } from '../use-load.js'
import { PageHeader } from './PageHeader.js'
import { Panel } from './Panel.js'

const STEP_TEXT: Record<RestoreStepName, string> = {
  check: 'Check the backup and the key',
  'signing-key': 'Take control of the identity with your rotation key',
  'create-account': 'Create the account on the new PDS',
  'import-repo': 'Import your posts, likes, follows and profile',
  'upload-blobs': 'Upload images and media',
  'point-did': 'Point your identity at the new PDS',
  activate: 'Activate the account',
  verify: 'Check everything arrived',
}

/** What a rotation key is, in plain words, and why a backup alone cannot move an identity. */
function Explainer() {
  return (
    <Panel title="Why a rotation key matters">
      <p>
        Your backup holds your data: posts, likes, follows, profile and images. Your <strong>identity</strong> — the DID your
        followers follow — is something else. It is written in a public directory (PLC), and only a <strong>rotation key</strong>{' '}
        listed there can change it, for example to say “this account now lives on another server”.
      </p>
      <p>
        Today your PDS holds the rotation keys for you. If it disappears, so do they, and then nobody can move your identity:
        the data survives, but it cannot come back as the same account. Holding a rotation key of your own closes that gap.
        Make one here, save its phrase or key file somewhere safe (offline), and add it to your identity while your PDS still
        works. Your PDS will email you a code to confirm.
      </p>
    </Panel>
  )
}

/** Downloads text as a file through the browser (works in both modes). */
function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/octet-stream' }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

function RotationKeysPanel({ did, name }: { did: string; name: string }) {
  const bridge = useAccounts((s) => s.bridge)
  const [version, setVersion] = useState(0)
  const load = useLoad(bridge === null ? null : `rotation-keys:${did}`, () => bridge!.recovery.listRotationKeys({ did }), version)
  const [made, setMade] = useState<NewRotationKeyDto | null>(null)
  const [saved, setSaved] = useState(false)
  const [password, setPassword] = useState('')
  const [code, setCode] = useState('')
  const [codeSent, setCodeSent] = useState(false)
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)

  const run = async (fn: () => Promise<void>) => {
    setBusy(true)
    setMessage(null)
    try {
      await fn()
    } catch (err) {
      setMessage({ ok: false, text: actionSentence(err) })
    } finally {
      setBusy(false)
    }
  }
  const make = () =>
    run(async () => {
      setMade(await bridge!.recovery.newRotationKey({ did }))
      setSaved(false)
      setCodeSent(false)
      setVersion((n) => n + 1)
    })
  const add = () =>
    run(async () => {
      if (made === null) return
      const r = await bridge!.recovery.addRotationKey({ did, didKey: made.didKey, password, ...(codeSent ? { token: code.trim() } : {}) })
      if (r.status === 'token-sent') {
        setCodeSent(true)
        setMessage({ ok: true, text: 'Your PDS emailed a confirmation code to the account’s address. Enter it below.' })
      } else {
        setMessage({ ok: true, text: 'Added: your key is now the first rotation key of this identity.' })
        setMade(null)
        setPassword('')
        setCode('')
      }
      setVersion((n) => n + 1)
    })

  return (
    <Panel title={`Rotation keys of ${name}`}>
      {load.state === 'loading' && <p className="muted">Reading the PLC directory…</p>}
      {load.state === 'error' && <p className="warn-text">{load.sentence}</p>}
      {load.state === 'ok' && (
        <table className="config-table" data-testid="rotation-keys">
          <thead>
            <tr>
              <th>#</th>
              <th>Key</th>
              <th>Held here</th>
            </tr>
          </thead>
          <tbody>
            {load.value.keys.map((k) => (
              <tr key={k.didKey}>
                <td>{k.position === null ? 'not listed' : k.position + 1}</td>
                <td className="mono">{k.didKey}</td>
                <td>{k.heldHere ? 'Yes' : 'No'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {load.state === 'ok' && !load.value.keys.some((k) => k.heldHere && k.position !== null) && (
        <p className="warn-text" data-testid="no-held-key">
          No rotation key of this identity is held here: if the PDS disappears, the identity cannot be moved.
        </p>
      )}
      {made === null ? (
        <button type="button" className="button button-primary" disabled={busy || bridge === null} onClick={() => void make()} data-testid="make-key">
          Make a rotation key
        </button>
      ) : (
        <div data-testid="new-key">
          <p>
            <strong>Save this now: it is shown only once.</strong> Write the 24 words down, or download the key file, and keep
            them offline. Anyone who has them can move your identity.
          </p>
          <p className="mono" data-testid="new-key-phrase">
            {made.phrase}
          </p>
          <p className="muted mono">{made.didKey}</p>
          <button type="button" className="button" onClick={() => download(`${name.replace(/[^\w.-]+/g, '_')}-rotation.key`, made.keyFile)}>
            Download key file
          </button>{' '}
          <label>
            <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} data-testid="key-saved" /> I saved it
          </label>
          {saved && (
            <div>
              <p>Add it to your identity. Your PDS asks for the account password (not an app password) and emails a code.</p>
              <input className="input" type="password" placeholder="Account password" value={password} onChange={(e) => setPassword(e.target.value)} aria-label="Account password" />
              {codeSent && <input className="input" placeholder="Code from the email" value={code} onChange={(e) => setCode(e.target.value)} aria-label="Code from the email" />}
              <button type="button" className="button button-primary" disabled={busy || password === '' || (codeSent && code.trim() === '')} onClick={() => void add()} data-testid="add-key">
                {codeSent ? 'Add the key' : 'Send me the code'}
              </button>
            </div>
          )}
        </div>
      )}
      {message !== null && <p className={message.ok ? 'muted' : 'warn-text'}>{message.text}</p>}
    </Panel>
  )
}

function StepList({ status, live }: { status: RestoreStatusDto | null; live: Record<string, RestoreProgressDto> }) {
  const steps = (Object.keys(STEP_TEXT) as RestoreStepName[]).map((name) => live[name] ?? status?.steps.find((s) => s.name === name) ?? { name, state: 'pending', detail: null, done: null, total: null })
  return (
    <ol className="restore-steps" data-testid="restore-steps">
      {steps.map((s) => (
        <li key={s.name} data-state={s.state}>
          <strong>{STEP_TEXT[s.name]}</strong> — {s.state}
          {s.total !== null && s.done !== null && ` (${s.done} of ${s.total})`}
          {s.detail !== null && <div className="muted">{s.detail}</div>}
        </li>
      ))}
    </ol>
  )
}

/** Dry run first, then the steps with their progress. */
function RestoreWizard({ did }: { did: string }) {
  const bridge = useAccounts((s) => s.bridge)
  const [to, setTo] = useState('')
  const [rotationKey, setRotationKey] = useState('')
  const [email, setEmail] = useState('')
  const [handle, setHandle] = useState('')
  const [inviteCode, setInviteCode] = useState('')
  const [password, setPassword] = useState('')
  const [plan, setPlan] = useState<RestorePlanDto | null>(null)
  const [status, setStatus] = useState<RestoreStatusDto | null>(null)
  const [live, setLive] = useState<Record<string, RestoreProgressDto>>({})
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)

  useEffect(() => {
    if (bridge === null) return
    void bridge.recovery.restoreStatus({ did }).then(setStatus, () => undefined)
    return bridge.on('recovery:progress', (p) => {
      if (p.did === did) setLive((l) => ({ ...l, [p.name]: p }))
    })
  }, [bridge, did])

  const input = () => ({
    did,
    to: to.trim(),
    rotationKey: rotationKey.trim(),
    ...(email.trim() === '' ? {} : { email: email.trim() }),
    ...(handle.trim() === '' ? {} : { handle: handle.trim() }),
    ...(inviteCode.trim() === '' ? {} : { inviteCode: inviteCode.trim() }),
  })
  const act = async (fn: () => Promise<void>) => {
    setBusy(true)
    setProblem(null)
    try {
      await fn()
    } catch (err) {
      setProblem(actionSentence(err))
    } finally {
      setBusy(false)
    }
  }
  const check = () => act(async () => setPlan(await bridge!.recovery.restorePlan(input())))
  const start = () =>
    act(async () => {
      setLive({})
      try {
        setStatus(await bridge!.recovery.restoreStart({ ...input(), email: email.trim(), password }))
      } finally {
        setStatus(await bridge!.recovery.restoreStatus({ did }))
      }
    })

  return (
    <Panel title="Restore to a new PDS">
      <p className="muted">
        Moves this account to another PDS from the backup alone — it works even if the old PDS is gone — using a rotation key
        you hold. Check first: the check changes nothing. If a restore stops halfway, start it again: it picks up where it was.
      </p>
      <div className="restore-form">
        <input className="input" placeholder="New PDS address, e.g. https://pds.example.com" value={to} onChange={(e) => setTo(e.target.value)} aria-label="New PDS address" />
        <textarea className="input" placeholder="Your rotation key: the 24 words, or the key file’s 64 characters" value={rotationKey} onChange={(e) => setRotationKey(e.target.value)} aria-label="Rotation key" rows={2} />
        <input className="input" placeholder="Email for the new account" value={email} onChange={(e) => setEmail(e.target.value)} aria-label="Email" />
        <input className="input" placeholder="Handle (default: the current one)" value={handle} onChange={(e) => setHandle(e.target.value)} aria-label="Handle" />
        <input className="input" placeholder="Invite code, if the PDS needs one" value={inviteCode} onChange={(e) => setInviteCode(e.target.value)} aria-label="Invite code" />
        <button type="button" className="button" disabled={busy || bridge === null || to.trim() === '' || rotationKey.trim() === ''} onClick={() => void check()} data-testid="restore-check">
          Check (changes nothing)
        </button>
      </div>
      {plan !== null && (
        <ul className="restore-checks" data-testid="restore-plan">
          {plan.checks.map((c) => (
            <li key={c.name} className={c.ok ? undefined : 'warn-text'}>
              {c.ok ? '✓' : '✗'} {c.detail}
            </li>
          ))}
        </ul>
      )}
      {plan?.ok === true && (
        <div className="restore-form">
          <input className="input" type="password" placeholder="Password for the new account (8 characters or more)" value={password} onChange={(e) => setPassword(e.target.value)} aria-label="New password" />
          <button type="button" className="button button-primary" disabled={busy || password.length < 8} onClick={() => void start()} data-testid="restore-start">
            {status !== null && status.state !== 'done' ? 'Resume the restore' : 'Restore'}
          </button>
        </div>
      )}
      {(status !== null || Object.keys(live).length > 0) && <StepList status={status} live={live} />}
      {status?.state === 'done' && <p data-testid="restore-done">Done: the account lives on {status.targetUrl}. Sign in there with the new password.</p>}
      {problem !== null && <p className="warn-text">{problem}</p>}
    </Panel>
  )
}

/** Rotation keys and restoring an account to a new PDS. */
export function RecoveryPage() {
  const accounts = useAccounts((s) => s.accounts)
  const [picked, setPicked] = useState<string | null>(null)
  const did = picked ?? accounts?.[0]?.did ?? null
  const name = accounts?.find((a) => a.did === did)?.handle ?? did ?? ''
  return (
    <section className="page" data-testid="page-recovery">
      <PageHeader title={PAGE_TITLES.recovery}>
        {accounts !== null && accounts.length > 1 && (
          <select className="input" value={did ?? ''} onChange={(e) => setPicked(e.target.value)} aria-label="Account">
            {accounts.map((a) => (
              <option key={a.did} value={a.did}>
                {a.handle ?? a.did}
              </option>
            ))}
          </select>
        )}
      </PageHeader>
      <Explainer />
      {did === null ? (
        <Panel title="No account yet">
          <p className="muted">Back up an account first (Accounts); its rotation keys and the restore appear here.</p>
        </Panel>
      ) : (
        <>
          <RotationKeysPanel did={did} name={name} />
          <RestoreWizard did={did} />
        </>
      )}
    </section>
  )
}

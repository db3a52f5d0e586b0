import type { LoginDto } from '../../../core/api.js'
import { actingDid, useChosenAccount } from '../acting-account.js'

/** Which logged-in account acts on this page; shown only when several are logged in. */
export function AccountSwitcher({ logins }: { logins: readonly LoginDto[] }) {
  const [chosen, choose] = useChosenAccount()
  if (logins.length < 2) return null
  const acting = actingDid(logins, chosen)
  return (
    <p className="muted" data-testid="account-switcher">
      <label htmlFor="acting-account">Acting as </label>
      <select id="acting-account" className="input" data-testid="acting-account" value={acting ?? ''} onChange={(e) => choose(e.target.value)}>
        {logins.map((l) => (
          <option key={l.did} value={l.did}>
            {l.handle ?? l.did}
          </option>
        ))}
      </select>
    </p>
  )
}

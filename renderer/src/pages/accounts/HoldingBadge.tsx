import type { AccountDto } from '../../../../core/api.js'
import { holdingView } from '../../account-view.js'

/** Why the node holds an account (agreement, archive with or without consent, configuration), as a badge whose tooltip explains it. */
export function HoldingBadge({ account }: { account: Pick<AccountDto, 'kind' | 'consent'> }) {
  const view = holdingView(account)
  return (
    <span className={`badge badge-holding badge-${view.tone}`} title={view.title} data-testid="account-holding" data-kind={account.kind} data-consent={account.consent ?? ''}>
      {view.label}
    </span>
  )
}

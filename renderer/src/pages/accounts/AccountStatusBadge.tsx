import type { AccountStatus } from '../../account-view.js'

/** Syncing, Up to date, Sync failed or Not synced yet, as a badge (`data-status` for tests). */
export function AccountStatusBadge({ status }: { status: AccountStatus }) {
  return (
    <span className={`badge badge-${status.tone}`} data-testid="account-status" data-status={status.kind}>
      <span className="badge-dot" aria-hidden="true" />
      {status.label}
    </span>
  )
}

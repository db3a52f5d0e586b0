import type { AccountDto, AccountLiveDto, SyncProgressDto } from '../../../../core/api.js'
import { accountName, accountStatus } from '../../account-view.js'
import { useAccounts } from '../../accounts-store.js'
import { formatBytes, formatCount, formatDateTime, formatRelativeTime, plural } from '../../format.js'
import { accountHref } from '../../route.js'
import { useApp } from '../../store.js'
import { accountLive } from '../../live-view.js'
import { isAccountPaused, nextSyncLine, nodeSyncPaused } from '../../sync-view.js'
import { useNow } from '../../use-now.js'
import { PageHeader } from '../PageHeader.js'
import { AccountStatusBadge } from './AccountStatusBadge.js'
import { AddAccountForm } from './AddAccountForm.js'
import { HoldingBadge } from './HoldingBadge.js'
import { LiveBadge } from './LiveBadge.js'
import { SyncPauseToggle } from './SyncPauseToggle.js'
import { SyncProgress } from './SyncProgress.js'
import { Sentence } from '../../Sentence.js'

function BlobCounts({ blobs }: { blobs: AccountDto['blobs'] }) {
  return (
    <span>
      {plural(blobs.stored, 'blob')}
      {blobs.missing > 0 && `, ${formatCount(blobs.missing)} missing`}
      {blobs.failed > 0 && (
        <>
          , <span className="warn-text">{formatCount(blobs.failed)} failed</span>
        </>
      )}
    </span>
  )
}

function AccountRow({
  account,
  progress,
  now,
  nodePaused,
  live,
}: {
  account: AccountDto
  progress: SyncProgressDto | null
  now: number
  nodePaused: boolean
  live: AccountLiveDto | null
}) {
  const status = accountStatus(account, progress, isAccountPaused(account, nodePaused))
  const next = status.kind === 'paused' ? null : nextSyncLine(account.nextSyncAt, now)
  const name = accountName(account)
  return (
    <li>
      <a className="account-row" href={accountHref(account.did)} data-testid={`account-row-${account.did}`}>
        <div className="account-row-head">
          <div className="account-names">
            <span className="account-name">{name}</span>
            {account.handle !== null && <span className="account-did mono">{account.did}</span>}
          </div>
          <div className="account-badges">
            <HoldingBadge account={account} />
            <AccountStatusBadge status={status} />
          </div>
        </div>
        <ul className="account-facts">
          <li title={account.head?.cid}>
            <span className="fact-label">Rev</span> <span className="mono">{account.head?.rev ?? '–'}</span>
          </li>
          <li title={formatDateTime(account.lastSyncAt)}>
            <span className="fact-label">Synced</span> {formatRelativeTime(account.lastSyncAt, now)}
          </li>
          <li>{plural(account.records, 'record')}</li>
          <li>
            <BlobCounts blobs={account.blobs} />
          </li>
          <li>{formatBytes(account.storageBytes)}</li>
          {next !== null && (
            <li title={formatDateTime(account.nextSyncAt ?? null)} data-testid="account-next-sync">
              {next}
            </li>
          )}
          {live !== null && (
            <li>
              <LiveBadge live={live} />
            </li>
          )}
        </ul>
        {status.kind === 'syncing' && <SyncProgress progress={progress} />}
        {status.sentence !== null && status.kind !== 'syncing' && (
          <p className="account-error" data-testid="account-error">
            <Sentence text={status.sentence} />
          </p>
        )}
      </a>
    </li>
  )
}

/** Every account held, with the form to add one. */
export function AccountList() {
  const accounts = useAccounts((s) => s.accounts)
  const listProblem = useAccounts((s) => s.listProblem)
  const progress = useAccounts((s) => s.progress)
  const now = useNow(15_000)
  const syncState = useAccounts((s) => s.syncState)
  const status = useApp((s) => s.status)
  const nodePaused = nodeSyncPaused(syncState, status)

  return (
    <>
      <PageHeader title="Accounts">
        <SyncPauseToggle paused={nodePaused} className="button page-head-action" />
      </PageHeader>
      <p className="lede">Complete, verified copies of AT Protocol accounts, kept on this computer and browsable offline.</p>
      <div className="panel add-panel">
        <AddAccountForm />
      </div>
      {listProblem !== null && (
        <p className="action-line action-line-error" role="alert">
          Could not read the list of accounts: <Sentence text={listProblem} />
        </p>
      )}
      {accounts === null ? (
        listProblem === null && <p className="muted">Loading accounts…</p>
      ) : accounts.length === 0 ? (
        <div className="empty">
          <p>No accounts are backed up yet.</p>
          <p className="muted">Add one above by its handle (such as alice.bsky.social) or its DID.</p>
        </div>
      ) : (
        <ul className="account-list" aria-label="Accounts backed up">
          {accounts.map((a) => (
            <AccountRow key={a.did} account={a} progress={progress[a.did] ?? null} now={now} nodePaused={nodePaused} live={accountLive(syncState, a.did)} />
          ))}
        </ul>
      )}
    </>
  )
}

import { accountsView } from '../route.js'
import { useRoute } from '../use-route.js'
import { AccountDetail } from './accounts/AccountDetail.js'
import { AccountList } from './accounts/AccountList.js'
import { RecordBrowser } from './accounts/RecordBrowser.js'

/** Accounts: the list (`#/accounts`), one account (`#/accounts/<did>`), or its records (`…/records/…`). */
export function AccountsPage() {
  const route = useRoute()
  const v = accountsView(route)
  return (
    <section className="page" data-testid="page-accounts">
      {v.view === 'list' ? (
        <AccountList />
      ) : v.view === 'account' ? (
        <AccountDetail key={v.did} did={v.did} />
      ) : (
        <RecordBrowser key={v.did} did={v.did} collection={v.collection} rkey={v.rkey} rev={v.rev} />
      )}
    </section>
  )
}

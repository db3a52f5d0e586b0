import { ConnectionBanner } from './ConnectionBanner.js'
import { AccountsPage } from './pages/AccountsPage.js'
import { IdentityPage } from './pages/IdentityPage.js'
import { OverviewPage } from './pages/OverviewPage.js'
import { PlannedPage } from './pages/PlannedPage.js'
import { SettingsPage } from './pages/SettingsPage.js'
import type { Page } from './route.js'
import { Sidebar } from './Sidebar.js'
import { useRoute } from './use-route.js'

function PageView({ page }: { page: Page }) {
  switch (page) {
    case 'overview':
      return <OverviewPage />
    case 'identity':
      return <IdentityPage />
    case 'settings':
      return <SettingsPage />
    case 'accounts':
      return <AccountsPage />
    case 'offers':
    case 'verification':
    case 'lexicons':
      return <PlannedPage page={page} />
  }
}

/** The shell: sidebar, connection banner, and the page the fragment names. */
export function App() {
  const { page } = useRoute()
  return (
    <div className="app">
      <Sidebar current={page} />
      <main className="content">
        <ConnectionBanner />
        <PageView page={page} />
      </main>
    </div>
  )
}

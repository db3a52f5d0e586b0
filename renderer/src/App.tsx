import { ConnectionBanner } from './ConnectionBanner.js'
import { AccountsPage } from './pages/AccountsPage.js'
import { IdentityPage } from './pages/IdentityPage.js'
import { LexiconsPage } from './pages/LexiconsPage.js'
import { OffersPage } from './pages/OffersPage.js'
import { OverviewPage } from './pages/OverviewPage.js'
import { RecoveryPage } from './pages/RecoveryPage.js'
import { SettingsPage } from './pages/SettingsPage.js'
import { VerificationPage } from './pages/VerificationPage.js'
import type { Page } from './route.js'
import { Sidebar } from './Sidebar.js'
import { useRoute } from './use-route.js'

function PageView({ page }: { page: Page }) {
  switch (page) {
    case 'overview':
      return <OverviewPage />
    case 'identity':
      return <IdentityPage />
    case 'recovery':
      return <RecoveryPage />
    case 'settings':
      return <SettingsPage />
    case 'accounts':
      return <AccountsPage />
    case 'offers':
      return <OffersPage />
    case 'verification':
      return <VerificationPage />
    case 'lexicons':
      return <LexiconsPage />
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

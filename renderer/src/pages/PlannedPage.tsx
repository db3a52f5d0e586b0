import type { ReactNode } from 'react'
import { PAGE_TITLES, type Page } from '../route.js'
import { PageHeader } from './PageHeader.js'

/** What each page will hold, for pages not built yet. */
export const PLANNED: Partial<Record<Page, string>> = {
  offers:
    'Backup offers you have published and received: who archives whom, and whether each is pending, accepted or revoked.',
  verification:
    'Checks that the copies this node holds are complete and intact: block verification and challenge proofs, and when each last ran.',
  identity:
    'Your atproto identity on this node: DID, handle, PDS, and the PLC history and rotation keys kept as a local mirror.',
  lexicons: 'The record types (lexicons) found in the repos you back up, and the org.p2pds schemas this node uses to coordinate.',
}

/** A page that is not built yet: its title and an honest sentence about what it will show. */
export function PlannedPage({ page, children }: { page: Page; children?: ReactNode }) {
  return (
    <section className="page" data-testid={`page-${page}`}>
      <PageHeader title={PAGE_TITLES[page]} />
      <div className="planned">
        <p>{PLANNED[page]}</p>
        <p className="muted">This page is not built yet.</p>
      </div>
      {children}
    </section>
  )
}

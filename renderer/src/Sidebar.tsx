import { ConnectionIndicator } from './ConnectionIndicator.js'
import { NavIcon } from './NavIcon.js'
import { PAGES, PAGE_TITLES, hrefFor, type Page } from './route.js'

/** App name, one link per page, and whether the node answers. */
export function Sidebar({ current }: { current: Page }) {
  return (
    <aside className="sidebar">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true" />
        <span className="brand-name">P2PDS</span>
      </div>
      <nav aria-label="Main">
        <ul className="nav">
          {PAGES.map((page) => (
            <li key={page}>
              <a
                className="nav-link"
                href={hrefFor(page)}
                data-testid={`nav-${page}`}
                aria-current={page === current ? 'page' : undefined}
              >
                <NavIcon page={page} />
                {PAGE_TITLES[page]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <div className="sidebar-foot">
        <ConnectionIndicator />
      </div>
    </aside>
  )
}

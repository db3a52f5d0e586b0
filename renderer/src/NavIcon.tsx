import type { Page } from './route.js'

// 20×20 stroke icons, drawn with currentColor so they follow the theme.
const PATHS: Record<Page, string[]> = {
  overview: ['M3 10.5 10 4l7 6.5', 'M5 9v7h4v-4h2v4h4V9'],
  accounts: ['M10 10a3 3 0 1 0 0-6 3 3 0 0 0 0 6Z', 'M4 17c.6-3 3-4.5 6-4.5s5.4 1.5 6 4.5'],
  offers: ['M3 8h11l-3-3', 'M17 12H6l3 3'],
  verification: ['M10 3 4 5.5V10c0 3.5 2.6 6 6 7 3.4-1 6-3.5 6-7V5.5Z', 'm7.5 10 2 2 3.5-4'],
  identity: ['M3 5h14v10H3Z', 'M7.5 10.5a1.8 1.8 0 1 0 0-3.6 1.8 1.8 0 0 0 0 3.6Z', 'M5 13.5c.4-1.2 1.3-1.8 2.5-1.8s2.1.6 2.5 1.8', 'M12 8h3M12 11h3'],
  recovery: ['M4 10a6 6 0 1 0 2-4.5', 'M4 3.5V6h2.5', 'M10 7v3.5l2.5 1.5'],
  lexicons: ['M5 3.5h8.5L16 6v10.5H5Z', 'M8 8.5h5M8 11.5h5M8 14h3'],
  settings: [
    'M10 12.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5Z',
    'M10 2.5v2M10 15.5v2M2.5 10h2M15.5 10h2M4.7 4.7l1.4 1.4M13.9 13.9l1.4 1.4M4.7 15.3l1.4-1.4M13.9 6.1l1.4-1.4',
  ],
}

export function NavIcon({ page }: { page: Page }) {
  return (
    <svg className="nav-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      {PATHS[page].map((d) => (
        <path key={d} d={d} fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round" />
      ))}
    </svg>
  )
}

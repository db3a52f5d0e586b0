import { Fragment } from 'react'

/** Where this view sits: links back up, the last crumb is the current view. */
export function Breadcrumbs({ items }: { items: Array<{ label: string; href?: string; mono?: boolean }> }) {
  return (
    <nav className="crumbs" aria-label="Breadcrumb">
      {items.map((item, i) => (
        <Fragment key={i}>
          {i > 0 && (
            <span className="crumb-sep" aria-hidden="true">
              /
            </span>
          )}
          {item.href !== undefined && i < items.length - 1 ? (
            <a href={item.href} className={item.mono === true ? 'mono' : undefined}>
              {item.label}
            </a>
          ) : (
            <span aria-current="page" className={item.mono === true ? 'mono' : undefined}>
              {item.label}
            </span>
          )}
        </Fragment>
      ))}
    </nav>
  )
}

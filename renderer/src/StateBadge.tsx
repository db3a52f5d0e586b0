import { selectBadge, useApp } from './store.js'

/** The node's state as a coloured badge: Running, Starting, Stopping, Stopped or Unreachable. */
export function StateBadge() {
  const connection = useApp((s) => s.connection)
  const status = useApp((s) => s.status)
  const { label, tone } = selectBadge({ connection, status })
  return (
    <span className={`badge badge-${tone}`} data-testid="node-state" role="status">
      <span className="badge-dot" aria-hidden="true" />
      {label}
    </span>
  )
}

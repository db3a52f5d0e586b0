import { useApp } from './store.js'

const TEXT = { connecting: 'Connecting…', connected: 'Connected', lost: 'Not connected' } as const

/** A small dot and word in the sidebar: does the node answer? */
export function ConnectionIndicator() {
  const connection = useApp((s) => s.connection)
  const version = useApp((s) => s.status?.version ?? null)
  return (
    <div className={`conn conn-${connection}`} data-testid="connection-indicator">
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-text">{TEXT[connection]}</span>
      {version !== null && <span className="conn-version">v{version}</span>}
    </div>
  )
}

import { formatUptime } from './format.js'
import { selectUptimeSec, useApp } from './store.js'
import { useNow } from './use-now.js'

/** Uptime, ticking every second between the node's status ticks. */
export function Uptime() {
  const connection = useApp((s) => s.connection)
  const status = useApp((s) => s.status)
  const statusAt = useApp((s) => s.statusAt)
  const now = useNow(1_000)
  const sec = selectUptimeSec({ connection, status, statusAt }, now)
  const running = status?.state === 'started'
  return (
    <span data-testid="node-uptime" title={status?.startedAt ?? undefined}>
      {sec === null ? '–' : running ? formatUptime(sec) : 'not running'}
    </span>
  )
}

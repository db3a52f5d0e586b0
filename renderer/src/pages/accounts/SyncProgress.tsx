import type { SyncProgressDto } from '../../../../core/api.js'
import { progressView } from '../../account-view.js'

/** A sync's progress: phase in words, a bar (indeterminate while totals are unknown), and facts. */
export function SyncProgress({ progress }: { progress: SyncProgressDto | null }) {
  const v = progressView(progress)
  const percent = v.fraction === null ? null : Math.round(v.fraction * 100)
  return (
    <div className="sync-progress" data-testid="sync-progress" data-phase={progress?.phase ?? 'starting'}>
      <div className="sync-progress-head">
        <span className="sync-progress-label">{v.label}…</span>
        {percent !== null && <span className="sync-progress-percent">{percent}%</span>}
      </div>
      <progress className="sync-bar" max={1} value={v.fraction ?? undefined} aria-label={v.label} />
      {v.details.length > 0 && <div className="sync-progress-details">{v.details.join(' · ')}</div>}
    </div>
  )
}

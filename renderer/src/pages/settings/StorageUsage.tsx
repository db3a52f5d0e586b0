import type { StorageUsageDto } from '../../../../core/api.js'
import { storageBar } from '../../settings-view.js'

/** Stored bytes against the cap: a bar (when there is a cap) and the warning from 90%. */
export function StorageUsage({ usage }: { usage: StorageUsageDto }) {
  const bar = storageBar(usage)
  return (
    <div className={`storage-usage storage-${bar.tone}`} data-testid="storage-usage" data-level={usage.level}>
      <div className="storage-usage-label" data-testid="storage-usage-label">
        {bar.label}
      </div>
      {bar.percent !== null && (
        <progress className="sync-bar storage-bar" max={100} value={bar.percent} aria-label="Storage used" data-testid="storage-bar" />
      )}
      {bar.warning !== null && (
        <p className="action-line action-line-error" role="alert" data-testid="storage-warning">
          {bar.warning}
        </p>
      )}
    </div>
  )
}

import type { AccountLiveDto } from '../../../../core/api.js'
import { liveFacts, liveView } from '../../live-view.js'

/** An account's live state (firehose) as a badge, with its facts and the reason when not live (`data-state` for tests). */
export function LiveBadge({ live, withFacts = true }: { live: AccountLiveDto; withFacts?: boolean }) {
  const view = liveView(live)
  return (
    <span className="live-state" data-testid="account-live" data-state={view.state}>
      <span className={`badge badge-${view.tone}`} title={view.sentence ?? undefined}>
        <span className="badge-dot" aria-hidden="true" />
        {view.label}
      </span>
      {withFacts && <span className="muted live-facts">{liveFacts(live)}</span>}
    </span>
  )
}

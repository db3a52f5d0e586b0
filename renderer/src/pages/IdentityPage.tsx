import { useApp } from '../store.js'
import { Fact, Panel } from './Panel.js'
import { PlannedPage } from './PlannedPage.js'

/** Planned, but already says who is logged in when the node knows. */
export function IdentityPage() {
  const info = useApp((s) => s.info)
  return (
    <PlannedPage page="identity">
      {info !== null && (
        <Panel title="Logged-in identity">
          {info.identity === null ? (
            <p className="muted">No account has logged in on this node yet.</p>
          ) : (
            <dl className="facts">
              <Fact term="Handle">{info.identity.handle ?? 'none'}</Fact>
              <Fact term="DID" mono>
                {info.identity.did}
              </Fact>
            </dl>
          )}
        </Panel>
      )}
    </PlannedPage>
  )
}

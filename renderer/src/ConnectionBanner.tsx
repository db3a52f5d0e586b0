import { Sentence } from './Sentence.js'
import { useApp } from './store.js'

/** Says, in one sentence, why the page cannot reach the node and what to do. */
export function ConnectionBanner() {
  const connection = useApp((s) => s.connection)
  const problem = useApp((s) => s.problem)
  if (connection !== 'lost' || problem === null) return null
  return (
    <div className="banner banner-error" role="alert" data-testid="connection-error">
      <span className="banner-icon" aria-hidden="true" />
      <p>
        <Sentence text={problem} />
      </p>
    </div>
  )
}

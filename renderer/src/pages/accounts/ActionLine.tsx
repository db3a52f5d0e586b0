import { Sentence } from '../../Sentence.js'

/** What an action did, or why it failed: one sentence under the buttons. */
export interface ActionResult {
  ok: boolean
  text: string
}

export function ActionLine({ result, testId }: { result: ActionResult | null; testId: string }) {
  if (result === null) return null
  return (
    <p
      className={`action-line ${result.ok ? 'action-line-ok' : 'action-line-error'}`}
      role={result.ok ? 'status' : 'alert'}
      data-testid={testId}
      data-ok={result.ok}
    >
      <Sentence text={result.text} />
    </p>
  )
}

import { useState } from 'react'
import { accountsStore, useAccounts } from '../../accounts-store.js'
import { actionSentence } from '../../problem.js'
import { useApp } from '../../store.js'
import { pauseToggle, setSyncPaused } from '../../sync-view.js'
import { Sentence } from '../../Sentence.js'

/**
 * Pause syncing / Resume syncing: of every account (no `did`), or of one. `paused` is what the
 * button turns off (the node-wide pause for all, the account's own pause for one).
 */
export function SyncPauseToggle({ paused, did, className = 'button' }: { paused: boolean; did?: string; className?: string }) {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)
  const t = pauseToggle(paused, did === undefined ? 'all' : 'account')

  const toggle = async () => {
    if (bridge === null) return
    setBusy(true)
    setProblem(null)
    try {
      await setSyncPaused(bridge, accountsStore, !paused, did)
    } catch (err) {
      setProblem(actionSentence(err, host))
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <button type="button" className={className} data-testid={t.testId} aria-pressed={paused} onClick={() => void toggle()} disabled={busy || bridge === null}>
        {busy ? t.busyLabel : t.label}
      </button>
      {problem !== null && (
        <span className="action-line action-line-error" role="alert" data-testid="sync-pause-error">
          <Sentence text={problem} />
        </span>
      )}
    </>
  )
}

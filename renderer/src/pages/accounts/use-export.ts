import { useState } from 'react'
import { exportSentence } from '../../account-view.js'
import { useAccounts } from '../../accounts-store.js'
import { actionSentence } from '../../problem.js'
import { useApp } from '../../store.js'
import type { ActionResult } from './ActionLine.js'

/**
 * Exports through the host (a save dialog in Electron, a download in a browser). A cancelled
 * dialog shows nothing; a failure shows its sentence.
 */
export function useExport(did: string) {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const [busy, setBusy] = useState<'car' | 'blobs' | null>(null)
  const [result, setResult] = useState<ActionResult | null>(null)

  const run = async (what: 'car' | 'blobs', rev?: string) => {
    if (bridge === null || busy !== null) return
    // A bridge from before exports existed has no host; say so instead of failing obscurely.
    const hostApi = (bridge as Partial<typeof bridge>).host
    if (hostApi === undefined) {
      setResult({ ok: false, text: 'Exporting is not available in this window. Update P2PDS and try again.' })
      return
    }
    setBusy(what)
    setResult(null)
    try {
      const r = what === 'car' ? await hostApi.saveCar(rev === undefined ? { did } : { did, rev }) : await hostApi.saveBlobs({ did })
      setResult(r === null ? null : { ok: true, text: exportSentence(what, r) })
    } catch (err) {
      setResult({ ok: false, text: actionSentence(err, host) })
    } finally {
      setBusy(null)
    }
  }

  return {
    busy,
    result,
    saveCar: (rev?: string) => void run('car', rev),
    saveBlobs: () => void run('blobs'),
  }
}

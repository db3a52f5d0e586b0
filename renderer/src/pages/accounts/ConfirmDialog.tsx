import { useEffect, useRef, type ReactNode } from 'react'
import { Sentence } from '../../Sentence.js'

/**
 * A modal question with a safe way out: Cancel has the focus, Escape and Cancel close it, and the
 * confirming button says what it does. Built on `<dialog>` (focus is kept inside while open).
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  busyLabel,
  busy,
  problem,
  confirmTestId,
  onConfirm,
  onCancel,
}: {
  title: string
  children: ReactNode
  confirmLabel: string
  busyLabel: string
  busy: boolean
  /** Why the last attempt failed, shown inside the dialog. */
  problem: string | null
  confirmTestId: string
  onConfirm(): void
  onCancel(): void
}) {
  const ref = useRef<HTMLDialogElement>(null)
  const cancelRef = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    const dialog = ref.current
    if (dialog === null) return
    if (!dialog.open) dialog.showModal()
    cancelRef.current?.focus()
    return () => dialog.close()
  }, [])
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        // Escape: close through React state, and not while the action runs.
        e.preventDefault()
        if (!busy) onCancel()
      }}
    >
      <h2 id="dialog-title">{title}</h2>
      <div className="dialog-body">{children}</div>
      {problem !== null && (
        <p className="action-line action-line-error" role="alert">
          <Sentence text={problem} />
        </p>
      )}
      <div className="dialog-actions">
        <button ref={cancelRef} type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="button" className="button button-danger" data-testid={confirmTestId} onClick={onConfirm} disabled={busy}>
          {busy ? busyLabel : confirmLabel}
        </button>
      </div>
    </dialog>
  )
}

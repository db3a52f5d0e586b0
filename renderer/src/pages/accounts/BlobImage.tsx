import { useEffect, useState } from 'react'
import { useAccounts } from '../../accounts-store.js'
import { actionSentence } from '../../problem.js'
import { base64ToBytes, isNotStored, type BlobRef } from '../../record-view.js'

type BlobState = { state: 'loading' } | { state: 'ready'; url: string } | { state: 'missing' } | { state: 'error'; sentence: string }

/**
 * A blob from the local store as an object URL (the CSP allows `blob:` images), revoked when the
 * component unmounts or shows another blob. Only the node is asked, so this works offline.
 */
function useBlobUrl(did: string, blob: BlobRef | null): BlobState {
  const bridge = useAccounts((s) => s.bridge)
  const cid = blob?.cid ?? null
  const [held, setHeld] = useState<{ cid: string | null; state: BlobState }>({ cid, state: { state: 'loading' } })
  useEffect(() => {
    if (bridge === null || cid === null) return
    let cancelled = false
    let url: string | null = null
    bridge.blobs.get({ did, cid }).then(
      (dto) => {
        if (cancelled) return
        url = URL.createObjectURL(new Blob([base64ToBytes(dto.base64)], { type: dto.mimeType || blob?.mimeType || 'application/octet-stream' }))
        setHeld({ cid, state: { state: 'ready', url } })
      },
      (err: unknown) => {
        if (cancelled) return
        setHeld({ cid, state: isNotStored(err) ? { state: 'missing' } : { state: 'error', sentence: actionSentence(err) } })
      },
    )
    return () => {
      cancelled = true
      if (url !== null) URL.revokeObjectURL(url)
    }
    // The blob is named by its CID; `blob` itself is a new object on every render.
  }, [bridge, did, cid])
  if (cid === null) return { state: 'missing' }
  return held.cid === cid ? held.state : { state: 'loading' }
}

/** An image kept by the node, or a calm placeholder saying why it cannot be shown. */
export function BlobImage({
  did,
  blob,
  alt,
  className,
  testId,
}: {
  did: string
  blob: BlobRef | null
  alt: string
  className?: string
  testId?: string
}) {
  const s = useBlobUrl(did, blob)
  const cls = className === undefined ? 'blob-image' : `blob-image ${className}`
  switch (s.state) {
    case 'ready':
      return <img className={cls} src={s.url} alt={alt} data-testid={testId} draggable={false} />
    case 'loading':
      return (
        <div className={`${cls} blob-placeholder`} aria-busy="true">
          <span className="muted">Loading image…</span>
        </div>
      )
    case 'missing':
      return (
        <div className={`${cls} blob-placeholder`} data-testid={testId === undefined ? undefined : `${testId}-missing`} title={blob?.cid}>
          <span className="muted">image not backed up yet</span>
        </div>
      )
    case 'error':
      return (
        <div className={`${cls} blob-placeholder`} title={blob?.cid}>
          <span className="muted">{s.sentence}</span>
        </div>
      )
  }
}

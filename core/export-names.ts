/** Default file names for exports: readable, safe on every file system, and unique per rev. */
export function exportFileName(handle: string | null, did: string, rev: string | null, ext: 'car' | 'tar'): string {
  const who = (handle ?? did).replace(/[^a-zA-Z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 100) || 'account'
  return rev === null ? `${who}.${ext}` : `${who}-${rev}.${ext}`
}

/** How groups read in the Groups panel (pure). */
import type { GroupDto } from '../../core/api.js'

/** Members typed in one field: split on commas, spaces and new lines; empty parts dropped. */
export function parseMembers(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((m) => m.trim())
    .filter((m) => m !== '')
}

/** The cell of the "who holds whom" grid for `holder` (row) and `subject` (column). */
export function holdingCell(g: Pick<GroupDto, 'holdings'>, holder: string, subject: string): string {
  if (holder === subject) return '—'
  const h = g.holdings.find((x) => x.holder === holder && x.subject === subject)
  if (h === undefined) return '?'
  return h.status === 'verified' ? 'verified' : h.status === 'held' ? 'held, not verified yet' : 'promised (agreement)'
}

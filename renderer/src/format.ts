/**
 * Turning node facts into words a person reads. Pure functions, no DOM.
 */
import type { NodeHost, NodeState } from '../../core/api.js'

const UNITS = [
  { s: 86_400, label: 'd' },
  { s: 3_600, label: 'h' },
  { s: 60, label: 'min' },
  { s: 1, label: 's' },
] as const

function parts(totalSec: number): Array<{ n: number; label: string }> {
  let rest = Number.isFinite(totalSec) && totalSec > 0 ? Math.floor(totalSec) : 0
  return UNITS.map(({ s, label }) => {
    const n = Math.floor(rest / s)
    rest -= n * s
    return { n, label }
  })
}

/**
 * How long the node has been up: the two largest units, always both, so a ticking value keeps
 * its shape (`12 s`, `4 min 07 s`, `2 h 05 min`, `3 d 4 h`).
 */
export function formatUptime(totalSec: number): string {
  const p = parts(totalSec)
  const first = p.findIndex((x) => x.n > 0)
  if (first === -1 || first === p.length - 1) return `${p[p.length - 1]!.n} s`
  const a = p[first]!
  const b = p[first + 1]!
  // Minutes and seconds are padded below the larger unit, days are not padded under hours.
  const bn = b.label === 'h' ? String(b.n) : String(b.n).padStart(2, '0')
  return `${a.n} ${a.label} ${bn} ${b.label}`
}

/** A configured period: the two largest non-zero units (`1 h`, `1 h 30 min`, `7 d`). */
export function formatDuration(totalSec: number): string {
  const p = parts(totalSec).filter((x) => x.n > 0)
  if (p.length === 0) return '0 s'
  return p
    .slice(0, 2)
    .map((x) => `${x.n} ${x.label}`)
    .join(' ')
}

/** Memory given in MB (`123.4 MB`, `1.2 GB`). */
export function formatMb(mb: number): string {
  if (!Number.isFinite(mb) || mb < 0) return '–'
  if (mb >= 1024) return `${(mb / 1024).toFixed(1)} GB`
  return `${mb.toFixed(1)} MB`
}

/** The badge text of a node state. */
export function stateLabel(state: NodeState): string {
  switch (state) {
    case 'started':
      return 'Running'
    case 'starting':
      return 'Starting'
    case 'stopping':
      return 'Stopping'
    case 'stopped':
      return 'Stopped'
  }
}

/** Which host runs the node, in words. */
export function hostLabel(host: NodeHost): string {
  switch (host) {
    case 'desktop':
      return 'Desktop app'
    case 'serve':
      return 'Headless (p2pds serve)'
    case 'cli':
      return 'Command line'
    case 'test':
      return 'Test harness'
  }
}

/** A local date and time from an ISO string, or `–`. */
export function formatDateTime(iso: string | null, locale?: string): string {
  if (iso === null) return '–'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return '–'
  return d.toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'medium' })
}

/** `1,234` */
export function formatCount(n: number, locale?: string): string {
  return n.toLocaleString(locale)
}

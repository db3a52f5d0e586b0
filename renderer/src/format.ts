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

/**
 * A size in bytes, binary units as the rest of the app (`0 B`, `512 B`, `12.3 KB`, `1.2 MB`,
 * `640 MB`): one decimal below 100 of a unit, none above.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–'
  if (bytes < 1024) return `${Math.round(bytes)} B`
  const units = ['KB', 'MB', 'GB', 'TB'] as const
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  // 1023.96 KB would print as "1024.0 KB"; show it as the next unit instead.
  if (value >= 99.95 && Math.round(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 99.95 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

/**
 * Time left, rough on purpose so a ticking estimate does not jitter: seconds under a minute,
 * whole minutes (and tens of seconds under ten minutes) above (`8 s`, `2 min 30 s`, `14 min`,
 * `1 h 5 min`).
 */
export function formatEta(sec: number): string {
  if (!Number.isFinite(sec) || sec < 1) return 'a moment'
  if (sec < 60) return `${Math.ceil(sec)} s`
  if (sec < 600) return formatDuration(Math.round(sec / 10) * 10)
  return formatDuration(Math.round(sec / 60) * 60)
}

/** How long something took, from milliseconds (`850 ms`, `2.4 s`, `1 min 5 s`). */
export function formatElapsedMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return formatDuration(Math.round(ms / 1000))
}

/**
 * How long ago an ISO time was, relative to `now` (ms): `just now`, `5 min ago`, `3 h ago`,
 * `2 d ago`, then the date. `never` for null; times slightly in the future (clock skew between
 * node and page) read as `just now`.
 */
export function formatRelativeTime(iso: string | null, now: number, locale?: string): string {
  if (iso === null) return 'never'
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return '–'
  const sec = Math.floor((now - t) / 1000)
  if (sec < 60) return 'just now'
  if (sec < 3_600) return `${Math.floor(sec / 60)} min ago`
  if (sec < 86_400) return `${Math.floor(sec / 3_600)} h ago`
  if (sec < 30 * 86_400) return `${Math.floor(sec / 86_400)} d ago`
  return new Date(t).toLocaleDateString(locale, { dateStyle: 'medium' })
}

/** `1 record`, `3 records` */
export function plural(n: number, one: string, many = `${one}s`, locale?: string): string {
  return `${formatCount(n, locale)} ${n === 1 ? one : many}`
}

/** A long identifier shortened in the middle (`bafyreigh2a…x7k4q`); the full one belongs in a title. */
export function middleEllipsis(s: string, head = 12, tail = 6): string {
  return s.length <= head + tail + 1 ? s : `${s.slice(0, head)}…${s.slice(-tail)}`
}

/**
 * The node's configuration (from `node.info`) as rows a person reads. The renderer cannot import
 * `core/config.ts` at runtime, so labels live here; a key without a label still shows, with its
 * name split into words.
 */

/** One row of a configuration table. */
export interface ConfigRow {
  key: string
  label: string
  value: string
  /** The environment variable that sets it (`SYNC_INTERVAL_SEC`). */
  env: string
  /** The command-line flag that sets it (`--sync-interval-sec`). */
  flag: string
}

const LABELS: Record<string, string> = {
  dataDir: 'Data folder',
  port: 'Peer port',
  host: 'Peer bind address',
  publicUrl: 'Public URL',
  uiPort: 'Local UI port',
  oauthEnabled: 'OAuth login',
  ipfsEnabled: 'IPFS (Helia)',
  ipfsNetworking: 'libp2p networking',
  listenAddrs: 'libp2p listen addresses',
  replicateDids: 'DIDs archived on start',
  policyFile: 'Policies file',
  firehoseUrl: 'Firehose URL',
  firehoseEnabled: 'Real-time sync (firehose)',
  plcUrl: 'PLC directory',
  handleResolverUrl: 'Handle resolver',
  rateLimitEnabled: 'Peer rate limits',
  allowPrivateNetwork: 'Fetch from private addresses',
  plcRefreshSec: 'PLC log refresh',
  syncIntervalSec: 'Sync interval',
  purgeGraceSec: 'Purge grace period',
  trustedDids: 'Trusted DIDs',
  bandwidthLimitKbps: 'Bandwidth limit',
  storageLimitMb: 'Storage limit',
  p2pdsSecret: 'Data key (P2PDS_SECRET)',
  secretKeyFile: 'Data key file',
}

/** The few settings the Overview shows; Settings shows them all. */
export const OVERVIEW_CONFIG_KEYS = [
  'port',
  'publicUrl',
  'ipfsEnabled',
  'firehoseEnabled',
  'plcUrl',
  'syncIntervalSec',
  'storageLimitMb',
] as const

/** `syncIntervalSec` → `Sync interval sec` for keys without a label. */
export function labelOf(key: string): string {
  const known = LABELS[key]
  if (known !== undefined) return known
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/**
 * `syncIntervalSec` → `SYNC_INTERVAL_SEC`: core/config.ts names every variable this way and
 * gives each a kebab-case flag of the same name.
 */
export function envOf(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
}

/** `syncIntervalSec` → `--sync-interval-sec` */
export function flagOf(key: string): string {
  return `--${envOf(key).toLowerCase().replaceAll('_', '-')}`
}

function formatSeconds(n: number): string {
  const units: Array<[number, string]> = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'min'],
  ]
  for (const [s, label] of units) if (n >= s && n % s === 0) return `${n / s} ${label}`
  return `${n} s`
}

/** A configuration value in words; units follow from the key's suffix. */
export function formatConfigValue(key: string, value: unknown): string {
  if (value === null || value === undefined) {
    if (key.endsWith('LimitKbps') || key.endsWith('LimitMb')) return 'unlimited'
    return 'not set'
  }
  if (key === 'p2pdsSecret') return value === 'set' ? 'set' : 'not set'
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  if (typeof value === 'number') {
    if (key.endsWith('Sec')) return formatSeconds(value)
    if (key.endsWith('Kbps')) return `${value.toLocaleString('en-US')} KB/s`
    if (key.endsWith('Mb')) return `${value.toLocaleString('en-US')} MB`
    if (value === 0 && key.toLowerCase().endsWith('port')) return '0 (a free port)'
    return String(value)
  }
  if (typeof value === 'string') return value === '' ? '(empty)' : value
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')
  return JSON.stringify(value)
}

/**
 * Rows for a table: the given keys in that order (missing ones skipped), or every key in the
 * order the node sent them.
 */
export function configRows(config: Record<string, unknown>, keys?: readonly string[]): ConfigRow[] {
  // Values that are undefined in the node vanish in JSON; the unlimited caps are still worth a row.
  const all = keys ?? Object.keys(config)
  return all
    .filter((key) => Object.hasOwn(config, key) || (keys !== undefined && (key.endsWith('LimitMb') || key.endsWith('LimitKbps'))))
    .map((key) => ({ key, label: labelOf(key), value: formatConfigValue(key, config[key]), env: envOf(key), flag: flagOf(key) }))
}

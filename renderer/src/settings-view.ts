/**
 * The Settings page's logic, without React: form sections and their fields, what a person typed
 * turned into a `settings.update` (or one-line errors shown beside the field), where each value
 * comes from in words, and the storage usage bar. The node validates again (core/settings-schema.ts);
 * checking here first lets the page say what is wrong before anything is sent.
 */
import type { SettingDto, SettingKey, SettingsDto, SettingsUpdateDto, SettingValues, StorageUsageDto } from '../../core/api.js'
import { formatBytes } from './format.js'

/** One form of the page, saved on its own. */
export interface SettingsSection {
  id: 'transfer' | 'storage' | 'sync' | 'firehose' | 'network'
  title: string
  keys: readonly SettingKey[]
}

export const SETTINGS_SECTIONS: readonly SettingsSection[] = [
  { id: 'transfer', title: 'Bandwidth', keys: ['bandwidthLimitKbps'] },
  { id: 'storage', title: 'Storage', keys: ['storageLimitMb'] },
  { id: 'sync', title: 'Sync schedule', keys: ['syncIntervalSec'] },
  { id: 'firehose', title: 'Real-time sync (firehose)', keys: ['firehoseEnabled', 'firehoseUrl'] },
  { id: 'network', title: 'Peer network', keys: ['ipfsNetworking'] },
]

/** How each setting is asked for. */
export const FIELD_INFO: Readonly<Record<SettingKey, { label: string; kind: 'number' | 'toggle' | 'url'; unit?: string; hint: string }>> = {
  bandwidthLimitKbps: { label: 'Bandwidth cap', kind: 'number', unit: 'KB/s', hint: 'Shared by every download from PDSes. Empty for no cap.' },
  storageLimitMb: { label: 'Storage cap', kind: 'number', unit: 'MB', hint: 'New syncs stop at the cap; a warning comes at 90%. Empty for no cap.' },
  syncIntervalSec: { label: 'Sync every', kind: 'number', unit: 'seconds', hint: 'How often each account is checked for changes (at least 10 s).' },
  firehoseEnabled: { label: 'Real-time sync', kind: 'toggle', hint: 'Follow changes as they happen between periodic syncs.' },
  firehoseUrl: { label: 'Firehose URL', kind: 'url', hint: 'The relay’s com.atproto.sync.subscribeRepos endpoint.' },
  ipfsNetworking: { label: 'libp2p networking', kind: 'toggle', hint: 'Connect to other P2PDS nodes to share and check backups.' },
}

/** What the form holds for a field: text for numbers and URLs, a boolean for toggles. */
export type DraftValue = string | boolean
export type Draft = Partial<Record<SettingKey, DraftValue>>

/** The form's starting values: the effective value of each setting. */
export function draftFrom(settings: SettingsDto['settings']): Draft {
  const out: Draft = {}
  for (const key of Object.keys(settings) as SettingKey[]) out[key] = toDraft(settings[key].value)
  return out
}

function toDraft(value: SettingValues[SettingKey]): DraftValue {
  if (typeof value === 'boolean') return value
  if (value === null) return ''
  return String(value)
}

const BOUNDS: Partial<Record<SettingKey, { min: number; max: number; nullable: boolean }>> = {
  bandwidthLimitKbps: { min: 1, max: 10_000_000, nullable: true },
  storageLimitMb: { min: 1, max: 1_000_000_000, nullable: true },
  syncIntervalSec: { min: 10, max: 31_536_000, nullable: false },
}

/** Parses one field; the error finishes the sentence "<label> …". */
export function parseField(key: SettingKey, draft: DraftValue): { ok: true; value: SettingValues[SettingKey] } | { ok: false; error: string } {
  const info = FIELD_INFO[key]
  if (info.kind === 'toggle') return typeof draft === 'boolean' ? { ok: true, value: draft } : { ok: false, error: 'must be on or off.' }
  const text = typeof draft === 'string' ? draft.trim() : ''
  if (info.kind === 'url') {
    if (text === '') return { ok: false, error: 'is needed: a wss:// (or ws, http, https) URL.' }
    let url: URL
    try {
      url = new URL(text)
    } catch {
      return { ok: false, error: 'is not a URL. Use one such as wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos.' }
    }
    if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) return { ok: false, error: 'must start with wss://, ws://, https:// or http://.' }
    if (url.username !== '' || url.password !== '') return { ok: false, error: 'must not contain a user name or password.' }
    return { ok: true, value: text.replace(/\/+$/, '') }
  }
  const bounds = BOUNDS[key]!
  if (text === '') return bounds.nullable ? { ok: true, value: null } : { ok: false, error: `is needed: a whole number of ${info.unit}.` }
  if (!/^\d+$/.test(text)) return { ok: false, error: `must be a whole number of ${info.unit}${bounds.nullable ? ', or empty for no cap' : ''}.` }
  const n = Number(text)
  if (n < bounds.min) return { ok: false, error: `must be at least ${bounds.min.toLocaleString('en-US')} ${info.unit}.` }
  if (n > bounds.max) return { ok: false, error: `must be at most ${bounds.max.toLocaleString('en-US')} ${info.unit}.` }
  return { ok: true, value: n }
}

/**
 * What saving a section sends: the fields that changed and are not locked. `errors` holds a line
 * per invalid field (nothing is sent then); `update` is null when nothing changed.
 */
export function sectionUpdate(section: SettingsSection, draft: Draft, settings: SettingsDto['settings']): { update: SettingsUpdateDto | null; errors: Partial<Record<SettingKey, string>> } {
  const values: Partial<Record<SettingKey, unknown>> = {}
  const errors: Partial<Record<SettingKey, string>> = {}
  for (const key of section.keys) {
    const setting = settings[key]
    if (setting.lockedBy !== null) continue
    const d = draft[key]
    if (d === undefined) continue
    const parsed = parseField(key, d)
    if (!parsed.ok) {
      errors[key] = `${FIELD_INFO[key].label} ${parsed.error}`
      continue
    }
    if (parsed.value !== setting.value) values[key] = parsed.value
  }
  if (Object.keys(errors).length > 0) return { update: null, errors }
  return { update: Object.keys(values).length === 0 ? null : { values: values as Partial<SettingValues> }, errors }
}

/** Whether a section's form differs from what is in effect (its save button is enabled). */
export function sectionDirty(section: SettingsSection, draft: Draft, settings: SettingsDto['settings']): boolean {
  return section.keys.some((key) => settings[key].lockedBy === null && draft[key] !== undefined && draft[key] !== toDraft(settings[key].value))
}

/** The settings of a section that are saved in the app (and so can go back to their default). */
export function resettableKeys(section: SettingsSection, settings: SettingsDto['settings']): SettingKey[] {
  return section.keys.filter((k) => settings[k].source === 'saved')
}

/** A setting's value in words. */
export function formatSettingValue(key: SettingKey, value: SettingValues[SettingKey]): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  if (value === null) return 'no cap'
  if (typeof value === 'number') {
    if (key === 'syncIntervalSec') return formatInterval(value)
    return `${value.toLocaleString('en-US')} ${FIELD_INFO[key].unit}`
  }
  return value
}

/** `3600` → `1 h`, `90` → `1 min 30 s`. */
export function formatInterval(sec: number): string {
  const parts: string[] = []
  let left = sec
  for (const [size, unit] of [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'min'],
  ] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)} ${unit}`)
      left %= size
    }
  }
  if (left > 0 || parts.length === 0) parts.push(`${left} s`)
  return parts.join(' ')
}

/** Where the value comes from, in words: "set by BANDWIDTH_LIMIT_KBPS", "saved in Settings", "default". */
export function sourceLine(setting: Pick<SettingDto, 'source' | 'lockedBy'>): string {
  switch (setting.source) {
    case 'flag':
    case 'env':
    case 'dotenv':
      return `set by ${setting.lockedBy ?? 'the configuration'}`
    case 'saved':
      return 'saved in Settings'
    case 'default':
      return 'default'
  }
}

/**
 * When a change applies, and whether the running node still uses an older value ("Applies at the
 * next start; in use until then: on").
 */
export function appliesLine(setting: Pick<SettingDto, 'key' | 'applies' | 'value' | 'inUse'>): string {
  if (setting.applies === 'now') return 'Applies at once.'
  if (setting.value !== setting.inUse) return `Applies at the next start; in use until then: ${formatSettingValue(setting.key, setting.inUse)}.`
  return 'Applies at the next start of P2PDS.'
}

/** What the storage bar shows. */
export interface StorageBar {
  /** 0–100, or null without a cap (no bar, only the amount). */
  percent: number | null
  tone: 'ok' | 'warning' | 'full'
  /** "1.2 MB of 10.0 MB (12%)" or "1.2 MB stored (no cap)". */
  label: string
  /** A warning to show under the bar, or null. */
  warning: string | null
}

export function storageBar(usage: StorageUsageDto): StorageBar {
  if (usage.limitBytes === null || usage.fraction === null) {
    return { percent: null, tone: 'ok', label: `${formatBytes(usage.usedBytes)} stored (no cap)`, warning: null }
  }
  const percent = Math.min(100, Math.floor(usage.fraction * 100))
  const label = `${formatBytes(usage.usedBytes)} of ${formatBytes(usage.limitBytes)} (${Math.floor(usage.fraction * 100)}%)`
  const warning =
    usage.level === 'full'
      ? 'Storage is full: new syncs are refused until you raise the cap or remove an account. Backups already held are kept.'
      : usage.level === 'warning'
        ? 'Storage is almost full (90% or more). At the cap, new syncs stop; raise the cap or remove an account.'
        : null
  return { percent, tone: usage.level, label, warning }
}

/** Why the data folder cannot be changed here, and how to move it. */
export function dataDirLine(dataDir: SettingsDto['dataDir']): string {
  const how =
    'P2PDS runs from this folder (its database, lock and keys), so it cannot move it while running: quit P2PDS, move the folder, then start it with `DATA_DIR` (or `--data-dir`) set to the new place.'
  return dataDir.lockedBy === null ? how : `Set by ${dataDir.lockedBy}. ${how}`
}

/**
 * Validation of the settings a user changes in the app (`settings.update`): one zod schema per
 * setting, with messages that finish the sentence "<setting> …" in one line. Used by the API's
 * input schema (`api-schema.ts`) and again by the settings service for callers inside the core.
 */
import { z } from 'zod'
import type { SettingKey, SettingsUpdateDto, SettingValues } from './api.js'

/** Every setting the app can change, in the order the Settings page shows them. */
export const SETTING_KEYS = ['bandwidthLimitKbps', 'storageLimitMb', 'syncIntervalSec', 'firehoseEnabled', 'firehoseUrl', 'ipfsNetworking'] as const satisfies readonly SettingKey[]

const keysComplete: Exclude<SettingKey, (typeof SETTING_KEYS)[number]> extends never ? true : false = true
void keysComplete

/** Largest bandwidth cap accepted, KB/s (about 10 GB/s: beyond it, no cap is the honest setting). */
export const MAX_BANDWIDTH_KBPS = 10_000_000
/** Largest storage cap accepted, MB (about 1 PB). */
export const MAX_STORAGE_MB = 1_000_000_000
/** Sync interval bounds, seconds (as `SYNC_INTERVAL_SEC`). */
export const SYNC_INTERVAL_BOUNDS = { min: 10, max: 31_536_000 } as const

const whole = (min: number, max: number, unit: string) =>
  z
    .number({ error: `must be a number of ${unit}` })
    .refine(Number.isFinite, `must be a number of ${unit}`)
    .refine(Number.isInteger, `must be a whole number of ${unit}`)
    .refine((n) => n >= min, `must be at least ${min.toLocaleString('en-US')} ${unit}`)
    .refine((n) => n <= max, `must be at most ${max.toLocaleString('en-US')} ${unit}`)

const FIREHOSE_PROTOCOLS = ['ws:', 'wss:', 'http:', 'https:']

/** A firehose URL as saved: trimmed, without a trailing slash (as `FIREHOSE_URL` is read). */
export function normaliseFirehoseUrl(raw: string): string {
  return raw.trim().replace(/\/+$/, '')
}

const firehoseUrl = z
  .string({ error: 'must be a URL' })
  .max(2048, 'must be at most 2048 characters')
  .transform(normaliseFirehoseUrl)
  .refine((s) => {
    try {
      const u = new URL(s)
      return FIREHOSE_PROTOCOLS.includes(u.protocol) && u.hostname !== '' && u.username === '' && u.password === ''
    } catch {
      return false
    }
  }, 'must be a ws://, wss://, http:// or https:// URL such as wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos')

const onOff = z.boolean({ error: 'must be on or off (true or false)' })

/** One schema per setting. */
export const SETTING_SCHEMAS: { [K in SettingKey]: z.ZodType<SettingValues[K], unknown> } = {
  bandwidthLimitKbps: whole(1, MAX_BANDWIDTH_KBPS, 'KB/s').nullable(),
  storageLimitMb: whole(1, MAX_STORAGE_MB, 'MB').nullable(),
  syncIntervalSec: whole(SYNC_INTERVAL_BOUNDS.min, SYNC_INTERVAL_BOUNDS.max, 'seconds'),
  firehoseEnabled: onOff,
  firehoseUrl,
  ipfsNetworking: onOff,
}

/** The input of `settings.update`: unknown keys refused; at least one value or reset. */
export const SETTINGS_UPDATE_SCHEMA: z.ZodType<SettingsUpdateDto, unknown> = z
  .strictObject({
    values: z
      .strictObject({
        bandwidthLimitKbps: SETTING_SCHEMAS.bandwidthLimitKbps.optional(),
        storageLimitMb: SETTING_SCHEMAS.storageLimitMb.optional(),
        syncIntervalSec: SETTING_SCHEMAS.syncIntervalSec.optional(),
        firehoseEnabled: SETTING_SCHEMAS.firehoseEnabled.optional(),
        firehoseUrl: SETTING_SCHEMAS.firehoseUrl.optional(),
        ipfsNetworking: SETTING_SCHEMAS.ipfsNetworking.optional(),
      })
      .optional(),
    reset: z.array(z.enum(SETTING_KEYS, { error: `must name settings (${SETTING_KEYS.join(', ')})` })).max(SETTING_KEYS.length * 2).optional(),
  })
  .refine((u) => Object.keys(u.values ?? {}).length > 0 || (u.reset ?? []).length > 0, 'give at least one setting to save or reset')
  .refine((u) => !(u.reset ?? []).some((k) => u.values !== undefined && Object.hasOwn(u.values, k)), 'a setting cannot be saved and reset at once')

/**
 * Parses `settings.update` input; throws nothing, returns the first problem as one line
 * ("Sync interval must be at least 10 seconds.") or the parsed value.
 */
export function parseSettingsUpdate(input: unknown): { ok: true; value: SettingsUpdateDto } | { ok: false; message: string } {
  const r = SETTINGS_UPDATE_SCHEMA.safeParse(input)
  if (r.success) return { ok: true, value: r.data }
  const issue = r.error.issues[0]
  const path = issue?.path ?? []
  const key = path[0] === 'values' && typeof path[1] === 'string' ? path[1] : undefined
  const what = key !== undefined ? key : path.length > 0 ? path.join('.') : 'settings.update'
  const message = issue?.code === 'unrecognized_keys' ? `names no setting P2PDS knows (${issue.keys.join(', ')})` : (issue?.message ?? 'was refused')
  return { ok: false, message: `Invalid ${what}: ${message}.` }
}

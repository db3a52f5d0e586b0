/**
 * Settings a user changes in the app, kept in the `settings` table of `pds.db` (migration 1) as
 * `config.<key>` rows, and the storage cap built on the usage that migration 5 keeps.
 *
 * - Precedence, per setting: a flag, an environment variable or a `.env` line wins and locks it
 *   (shown as "set by BANDWIDTH_LIMIT_KBPS"; an update is refused with `SettingLockedError`);
 *   otherwise the saved setting; otherwise the default (`settings.test.ts`, "precedence").
 * - An update is validated whole before anything is written, then written in one transaction:
 *   a bad or locked value saves nothing (`settings.test.ts`, "refuses … and saves nothing").
 * - The bandwidth cap, storage cap and sync interval apply at once (`onChange`, which the node
 *   hands to the token bucket and the scheduler); firehose and networking apply at the next start
 *   (`inUse` keeps what the running node uses).
 * - The data folder is shown, never changed here: the node runs from it (the database, its lock,
 *   the keys), so moving it means stopping the node and moving the folder, then starting with
 *   `DATA_DIR` (or `--data-dir`) pointing at it.
 * - Storage usage is read from `storage_usage` in O(1). From 90% of the cap the level is
 *   `warning`; at the cap it is `full` and {@link SettingsService.admit} refuses new syncs with
 *   `StorageLimitError` before they start, so nothing is half-written. A sync already running
 *   finishes (a repository is stored whole or not at all), so usage can pass the cap by at most
 *   the syncs under way. The node also holds the firehose as paused at the cap (its commits are
 *   dropped and owed) and resumes it when the cap is raised (`settings-node.test.ts`).
 */
import type { Database, Statement } from 'better-sqlite3'
import type { P2pdsEvents, SettingDto, SettingKey, SettingsDto, SettingSource, SettingsUpdateDto, SettingValues, StorageUsageDto } from './api.js'
import { CONFIG_VARS, configSource, type Config } from './config.js'
import { InvalidInputError, SettingLockedError, StorageLimitError } from './errors.js'
import { parseSettingsUpdate, SETTING_KEYS, SETTING_SCHEMAS } from './settings-schema.js'

/** Prefix of the setting rows in the `settings` table (other rows, like `sync.paused`, are not ours). */
export const SETTING_ROW_PREFIX = 'config.'

/** Fraction of the storage cap from which usage is a warning. */
export const STORAGE_WARNING_FRACTION = 0.9

const BYTES_PER_MB = 1024 * 1024

/** When a change of each setting takes effect. */
export const SETTING_APPLIES: Readonly<Record<SettingKey, 'now' | 'restart'>> = {
  bandwidthLimitKbps: 'now',
  storageLimitMb: 'now',
  syncIntervalSec: 'now',
  firehoseEnabled: 'restart',
  firehoseUrl: 'restart',
  ipfsNetworking: 'restart',
}

export interface SettingsServiceInit {
  /** The node's open, migrated database. */
  db: Database
  /** The configuration as loaded (`loadConfig`): which values a flag, the environment or `.env` set. */
  config: Config
  /** @default Date.now */
  now?: () => number
  /** Pushes `settings:changed` and `storage:warning`. @default none */
  emit?<E extends keyof P2pdsEvents>(event: E, data: P2pdsEvents[E]): void
  /** Applies settings that take effect at once; called after a change was saved, with the new effective values. @default none */
  onChange?(values: SettingValues, changed: readonly SettingKey[]): void
}

interface Statements {
  all: Statement<[{ prefix: string }], { key: string; value_json: string }>
  put: Statement<[string, string, number]>
  remove: Statement<[string]>
  usage: Statement<[], { bytes: number; blocks: number }>
}

export class SettingsService {
  readonly #init: SettingsServiceInit
  readonly #now: () => number
  readonly #stmts: Statements
  /** Effective values when the node started: what `restart` settings use until the next start. */
  readonly #atStart: SettingValues
  #lastLevel: StorageUsageDto['level'] | undefined

  constructor(init: SettingsServiceInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    const db = init.db
    this.#stmts = {
      all: db.prepare('SELECT key, value_json FROM settings WHERE substr(key, 1, length(@prefix)) = @prefix'),
      put: db.prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at'),
      remove: db.prepare('DELETE FROM settings WHERE key = ?'),
      usage: db.prepare('SELECT bytes, blocks FROM storage_usage WHERE id = 1'),
    }
    this.#atStart = this.values()
  }

  /**
   * The configuration the node runs with: the loaded one with every saved setting that no flag,
   * environment variable or `.env` line overrides.
   */
  startConfig(): Config {
    const v = this.#atStart
    return {
      ...this.#init.config,
      bandwidthLimitKbps: v.bandwidthLimitKbps ?? undefined,
      storageLimitMb: v.storageLimitMb ?? undefined,
      syncIntervalSec: v.syncIntervalSec,
      firehoseEnabled: v.firehoseEnabled,
      firehoseUrl: v.firehoseUrl,
      ipfsNetworking: v.ipfsNetworking,
    }
  }

  /** The effective value of every setting now (locked > saved > default). */
  values(): SettingValues {
    const saved = this.#saved()
    const out = {} as Record<SettingKey, unknown>
    for (const key of SETTING_KEYS) out[key] = this.#source(key, saved) === 'saved' ? saved[key] : this.#configValue(key)
    return out as unknown as SettingValues
  }

  /** Every setting, the data folder and storage usage. */
  get(): SettingsDto {
    const saved = this.#saved()
    const values = this.values()
    const settings = {} as Record<SettingKey, SettingDto>
    for (const key of SETTING_KEYS) {
      const source = this.#source(key, saved)
      settings[key] = {
        key,
        value: values[key],
        inUse: SETTING_APPLIES[key] === 'now' ? values[key] : this.#atStart[key],
        default: defaultOf(key),
        source,
        lockedBy: lockedBy(key, source),
        applies: SETTING_APPLIES[key],
        env: envOf(key),
      } as SettingDto
    }
    const dataDirSource = configSource(this.#init.config, 'dataDir')
    return {
      settings: settings as SettingsDto['settings'],
      dataDir: { path: this.#init.config.dataDir, source: dataDirSource, lockedBy: lockedBy('dataDir', dataDirSource) },
      storage: this.storageUsage(values),
    }
  }

  /**
   * Saves `values` and forgets the saved value of each key in `reset`, in one transaction. The
   * whole input is checked first: an invalid or locked setting saves nothing.
   */
  update(input: SettingsUpdateDto): SettingsDto {
    const parsed = parseSettingsUpdate(input)
    if (!parsed.ok) throw new InvalidInputError(parsed.message)
    const { values = {}, reset = [] } = parsed.value
    const keys = [...Object.keys(values), ...reset] as SettingKey[]
    for (const key of keys) {
      const source = configSource(this.#init.config, key)
      if (source !== 'default') throw new SettingLockedError(key, lockedBy(key, source)!)
    }
    const before = this.values()
    const at = this.#now()
    this.#init.db.transaction(() => {
      for (const [key, value] of Object.entries(values)) this.#stmts.put.run(SETTING_ROW_PREFIX + key, JSON.stringify(value), at)
      for (const key of reset) this.#stmts.remove.run(SETTING_ROW_PREFIX + key)
    })()
    const after = this.values()
    const changed = SETTING_KEYS.filter((k) => before[k] !== after[k])
    if (changed.length > 0) this.#init.onChange?.(after, changed)
    const dto = this.get()
    this.#init.emit?.('settings:changed', dto)
    if (changed.includes('storageLimitMb')) this.checkStorage()
    return dto
  }

  /** Stored bytes against the storage cap. */
  storageUsage(values: SettingValues = this.values()): StorageUsageDto {
    const row = this.#stmts.usage.get() ?? { bytes: 0, blocks: 0 }
    const limitBytes = values.storageLimitMb === null ? null : values.storageLimitMb * BYTES_PER_MB
    const fraction = limitBytes === null ? null : row.bytes / limitBytes
    const level = fraction === null ? 'ok' : fraction >= 1 ? 'full' : fraction >= STORAGE_WARNING_FRACTION ? 'warning' : 'ok'
    return { usedBytes: row.bytes, blocks: row.blocks, limitBytes, fraction, level }
  }

  /**
   * Reads usage and pushes `storage:warning` when the level rose to `warning` or `full` since the
   * last check (the first check after start counts as a rise). Never throws.
   */
  checkStorage(): StorageUsageDto | null {
    let usage: StorageUsageDto
    try {
      usage = this.storageUsage()
    } catch {
      return null // the database is closing: the node is stopping
    }
    const rank = { ok: 0, warning: 1, full: 2 } as const
    const last = this.#lastLevel
    this.#lastLevel = usage.level
    if (usage.level !== 'ok' && (last === undefined || rank[usage.level] > rank[last])) this.#init.emit?.('storage:warning', usage)
    return usage
  }

  /** Refuses with `StorageLimitError` when stored data has reached the cap (before a sync or an add starts). */
  admit(subject: string, refused: 'synced' | 'added' = 'synced'): void {
    const usage = this.storageUsage()
    if (usage.level === 'full' && usage.limitBytes !== null) throw new StorageLimitError(subject, usage.usedBytes, usage.limitBytes, refused)
  }

  #saved(): Partial<SettingValues> {
    const out: Partial<Record<SettingKey, unknown>> = {}
    for (const row of this.#stmts.all.all({ prefix: SETTING_ROW_PREFIX })) {
      const key = row.key.slice(SETTING_ROW_PREFIX.length) as SettingKey
      if (!(SETTING_KEYS as readonly string[]).includes(key)) continue
      let value: unknown
      try {
        value = JSON.parse(row.value_json)
      } catch {
        continue
      }
      // A value this version cannot accept (edited by hand, or from another version) is ignored.
      const r = SETTING_SCHEMAS[key].safeParse(value)
      if (r.success) out[key] = r.data
    }
    return out as Partial<SettingValues>
  }

  #source(key: SettingKey, saved: Partial<SettingValues>): SettingSource {
    const from = configSource(this.#init.config, key)
    if (from !== 'default') return from
    return Object.hasOwn(saved, key) ? 'saved' : 'default'
  }

  #configValue<K extends SettingKey>(key: K): SettingValues[K] {
    return ((this.#init.config[key] as unknown) ?? null) as SettingValues[K]
  }
}

function envOf(key: keyof Config): string {
  return CONFIG_VARS.find((v) => v.key === key)?.env ?? key
}

function lockedBy(key: keyof Config, source: SettingSource): string | null {
  const spec = CONFIG_VARS.find((v) => v.key === key)
  if (spec === undefined) return null
  switch (source) {
    case 'flag':
      return spec.flag
    case 'env':
      return spec.env
    case 'dotenv':
      return `${spec.env} in .env`
    default:
      return null
  }
}

/** A setting's value with nothing given for it. */
function defaultOf<K extends SettingKey>(key: K): SettingValues[K] {
  const spec = CONFIG_VARS.find((v) => v.key === key)
  const value = spec?.fallback({}, { env: {}, platform: process.platform })
  return (value ?? null) as SettingValues[K]
}

/**
 * Configuration, parsed and validated in one place.
 *
 * Precedence: command-line flag > environment variable > `.env` in the working directory >
 * `.env` in the data dir > default. Every variable has a flag of the same name in kebab case
 * (`PLC_URL` ↔ `--plc-url`). An invalid value throws {@link ConfigError}, whose message is one
 * line naming the variable and what is accepted.
 */
import { existsSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join, resolve } from 'node:path'
import { isValidDid } from '@atproto/syntax'
import { parse as parseDotenv } from 'dotenv'
import { defaultConfigDir, defaultDataDir, DATA_DIR_FILES } from './data-dir.js'
import { ConfigError } from './errors.js'

/** The node's whole configuration, after defaults and validation. */
export interface Config {
  /** Where `pds.db`, the lock and `api.json` live. @default defaultDataDir() */
  dataDir: string
  /** Peer-facing XRPC server port; 0 picks a free port. @default 3000 */
  port: number
  /** Address the peer-facing server binds to. @default '127.0.0.1' */
  host: string
  /**
   * URL at which peers reach the peer-facing server.
   * @default undefined: `http://localhost:<bound port>` once the server listens
   */
  publicUrl: string | undefined
  /** Local API + UI port (always bound to 127.0.0.1); 0 picks a free port. @default 0 */
  uiPort: number
  /** OAuth login. @default true */
  oauthEnabled: boolean
  /** Helia. @default true */
  ipfsEnabled: boolean
  /** libp2p networking. @default true */
  ipfsNetworking: boolean
  /** libp2p listen multiaddrs. @default ['/ip4/0.0.0.0/tcp/0'] */
  listenAddrs: string[]
  /** DIDs to archive on start. @default [] */
  replicateDids: string[]
  /** JSON policies file. @default undefined */
  policyFile: string | undefined
  /** `subscribeRepos` endpoint for real-time sync. */
  firehoseUrl: string
  /** Real-time sync. @default true */
  firehoseEnabled: boolean
  /** PLC directory. @default 'https://plc.directory' */
  plcUrl: string
  /** XRPC service for `resolveHandle` (else DNS + `/.well-known`). @default undefined */
  handleResolverUrl: string | undefined
  /** Peer-facing rate limits. @default true */
  rateLimitEnabled: boolean
  /** Allow fetching network-supplied URLs at loopback/private addresses. @default false */
  allowPrivateNetwork: boolean
  /** PLC log refresh period in seconds. @default 21600 */
  plcRefreshSec: number
  /** Periodic sync interval in seconds when no policy says otherwise. @default 3600 */
  syncIntervalSec: number
  /** Period of storage challenges to each peer, in seconds; 0 turns them off. @default 3600 */
  challengeIntervalSec: number
  /** Delay before data of a dissolved agreement is purged, in seconds. @default 604800 */
  purgeGraceSec: number
  /** Offers from these DIDs are accepted automatically. @default [] */
  trustedDids: string[]
  /** Transfer cap in KB/s. @default undefined (unlimited) */
  bandwidthLimitKbps: number | undefined
  /** Storage cap in MB. @default undefined (unlimited) */
  storageLimitMb: number | undefined
  /** Data key for secrets at rest (headless). @default undefined */
  p2pdsSecret: string | undefined
  /** File holding the data key when `P2PDS_SECRET` is not set. @default `<config dir>/secret.key` */
  secretKeyFile: string
}

type Parser<T> = (raw: string, ctx: ParseContext) => T

interface ParseContext {
  cwd: string
}

/** One configuration variable: its name, flag, default and parser. */
export interface ConfigVar<K extends keyof Config = keyof Config> {
  key: K
  /** Environment variable name, e.g. `PLC_URL`. */
  env: string
  /** Command-line flag, e.g. `--plc-url`. */
  flag: string
  /** One line for `--help` and the README. */
  description: string
  /** The default as a person reads it. */
  defaultText: string
  /** What a valid value looks like, in words (used in error messages). */
  accepted: string
  parse: Parser<Config[K]>
  /** Default, given the values already resolved (variables are resolved in table order). */
  fallback: (resolved: Partial<Config>, ctx: DefaultContext) => Config[K]
}

interface DefaultContext {
  env: NodeJS.ProcessEnv
  platform: NodeJS.Platform
}

class Invalid extends Error {}

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off'].includes(v)) return false
  throw new Invalid()
}

const int =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const v = raw.trim()
    if (!/^\d+$/.test(v)) throw new Invalid()
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Invalid()
    return n
  }

const optionalPositiveInt: Parser<number | undefined> = (raw, ctx) => {
  if (raw.trim() === '') return undefined
  return int(1, Number.MAX_SAFE_INTEGER)(raw, ctx)
}

const url =
  (protocols: string[]): Parser<string> =>
  (raw) => {
    let u: URL
    try {
      u = new URL(raw.trim())
    } catch {
      throw new Invalid()
    }
    if (!protocols.includes(u.protocol)) throw new Invalid()
    // Keep what was written (minus a trailing slash) so paths like /xrpc/... survive.
    return raw.trim().replace(/\/+$/, '')
  }

const optional =
  <T>(p: Parser<T>): Parser<T | undefined> =>
  (raw, ctx) =>
    raw.trim() === '' ? undefined : p(raw, ctx)

const path: Parser<string> = (raw, ctx) => {
  if (raw.trim() === '') throw new Invalid()
  return resolve(ctx.cwd, raw.trim())
}

const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')

const didList: Parser<string[]> = (raw) => {
  const dids = list(raw)
  if (!dids.every((d) => isValidDid(d))) throw new Invalid()
  return [...new Set(dids)]
}

const multiaddrList: Parser<string[]> = (raw) => {
  const addrs = list(raw)
  if (addrs.length === 0 || !addrs.every((a) => /^\/[a-z0-9]+\/[^/\s]+(\/[^\s]*)?$/.test(a))) throw new Invalid()
  return addrs
}

const hostname: Parser<string> = (raw) => {
  const v = raw.trim()
  if (isIP(v) !== 0) return v
  if (/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(v)) return v
  throw new Invalid()
}

const secret: Parser<string | undefined> = (raw) => {
  if (raw === '') return undefined
  if (raw.length < 16) throw new Invalid()
  return raw
}

function v<K extends keyof Config>(spec: Omit<ConfigVar<K>, 'flag'>): ConfigVar<K> {
  return { ...spec, flag: `--${spec.env.toLowerCase().replaceAll('_', '-')}` } as ConfigVar<K>
}

/** Every configuration variable, in resolution order (later defaults may use earlier values). */
export const CONFIG_VARS: readonly ConfigVar[] = [
  v({
    key: 'dataDir',
    env: 'DATA_DIR',
    description: 'where pds.db and keys live',
    defaultText: 'the desktop app folder (see README)',
    accepted: 'a folder path',
    parse: path,
    fallback: (_r, c) => defaultDataDir(c.platform, c.env),
  }),
  v({
    key: 'port',
    env: 'PORT',
    description: 'peer-facing XRPC server port (0: a free port)',
    defaultText: '3000',
    accepted: 'a port number from 0 to 65535',
    parse: int(0, 65535),
    fallback: () => 3000,
  }),
  v({
    key: 'host',
    env: 'HOST',
    description: 'address the peer-facing server binds to',
    defaultText: '127.0.0.1',
    accepted: 'an IP address or host name',
    parse: hostname,
    fallback: () => '127.0.0.1',
  }),
  v({
    key: 'publicUrl',
    env: 'PUBLIC_URL',
    description: 'URL at which peers reach the peer-facing server',
    defaultText: 'http://localhost:$PORT',
    accepted: 'an http(s) URL',
    parse: optional(url(['http:', 'https:'])),
    // Derived from the port actually bound, which is only known once listening (PORT=0).
    fallback: () => undefined,
  }),
  v({
    key: 'uiPort',
    env: 'UI_PORT',
    description: 'local API + UI port, loopback only (0: a free port)',
    defaultText: 'a free port',
    accepted: 'a port number from 0 to 65535',
    parse: int(0, 65535),
    fallback: () => 0,
  }),
  v({
    key: 'oauthEnabled',
    env: 'OAUTH_ENABLED',
    description: 'OAuth login',
    defaultText: 'true',
    accepted: 'true or false',
    parse: bool,
    fallback: () => true,
  }),
  v({
    key: 'ipfsEnabled',
    env: 'IPFS_ENABLED',
    description: 'Helia (IPFS)',
    defaultText: 'true',
    accepted: 'true or false',
    parse: bool,
    fallback: () => true,
  }),
  v({
    key: 'ipfsNetworking',
    env: 'IPFS_NETWORKING',
    description: 'libp2p networking',
    defaultText: 'true',
    accepted: 'true or false',
    parse: bool,
    fallback: () => true,
  }),
  v({
    key: 'listenAddrs',
    env: 'LISTEN_ADDRS',
    description: 'libp2p listen multiaddrs, comma-separated',
    defaultText: '/ip4/0.0.0.0/tcp/0',
    accepted: 'comma-separated multiaddrs such as /ip4/0.0.0.0/tcp/0',
    parse: multiaddrList,
    fallback: () => ['/ip4/0.0.0.0/tcp/0'],
  }),
  v({
    key: 'replicateDids',
    env: 'REPLICATE_DIDS',
    description: 'DIDs to archive on start, comma-separated',
    defaultText: '–',
    accepted: 'comma-separated DIDs such as did:plc:abc',
    parse: didList,
    fallback: () => [],
  }),
  v({
    key: 'policyFile',
    env: 'POLICY_FILE',
    description: 'JSON policies',
    defaultText: '–',
    accepted: 'a file path',
    parse: optional(path),
    fallback: () => undefined,
  }),
  v({
    key: 'firehoseUrl',
    env: 'FIREHOSE_URL',
    description: 'subscribeRepos endpoint for real-time sync',
    defaultText: 'wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos',
    accepted: 'a ws(s) or http(s) URL',
    parse: url(['ws:', 'wss:', 'http:', 'https:']),
    fallback: () => 'wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos',
  }),
  v({
    key: 'firehoseEnabled',
    env: 'FIREHOSE_ENABLED',
    description: 'real-time sync',
    defaultText: 'true',
    accepted: 'true or false',
    parse: bool,
    fallback: () => true,
  }),
  v({
    key: 'plcUrl',
    env: 'PLC_URL',
    description: 'PLC directory',
    defaultText: 'https://plc.directory',
    accepted: 'an http(s) URL',
    parse: url(['http:', 'https:']),
    fallback: () => 'https://plc.directory',
  }),
  v({
    key: 'handleResolverUrl',
    env: 'HANDLE_RESOLVER_URL',
    description: 'XRPC service for resolveHandle (else DNS + /.well-known)',
    defaultText: '–',
    accepted: 'an http(s) URL',
    parse: optional(url(['http:', 'https:'])),
    fallback: () => undefined,
  }),
  v({
    key: 'rateLimitEnabled',
    env: 'RATE_LIMIT_ENABLED',
    description: 'peer-facing rate limits',
    defaultText: 'true',
    accepted: 'true or false',
    parse: bool,
    fallback: () => true,
  }),
  v({
    key: 'allowPrivateNetwork',
    env: 'ALLOW_PRIVATE_NETWORK',
    description: 'allow fetching network-supplied URLs at loopback/private addresses (tests, LANs)',
    defaultText: 'false',
    accepted: 'true or false',
    parse: bool,
    fallback: () => false,
  }),
  v({
    key: 'plcRefreshSec',
    env: 'PLC_REFRESH_SEC',
    description: 'PLC log refresh period, seconds',
    defaultText: '21600',
    accepted: 'a whole number of seconds from 60',
    parse: int(60, 31_536_000),
    fallback: () => 21_600,
  }),
  v({
    key: 'syncIntervalSec',
    env: 'SYNC_INTERVAL_SEC',
    description: 'periodic sync when no policy says otherwise, seconds',
    defaultText: '3600',
    accepted: 'a whole number of seconds from 10',
    parse: int(10, 31_536_000),
    fallback: () => 3600,
  }),
  v({
    key: 'challengeIntervalSec',
    env: 'CHALLENGE_INTERVAL_SEC',
    description: 'period of storage challenges (L2 + L3) to each peer, seconds; 0 = off',
    defaultText: '3600',
    accepted: 'a whole number of seconds: 0, or from 10',
    parse: (raw, ctx) => {
      const n = int(0, 31_536_000)(raw, ctx)
      if (n !== 0 && n < 10) throw new Invalid()
      return n
    },
    fallback: () => 3600,
  }),
  v({
    key: 'purgeGraceSec',
    env: 'PURGE_GRACE_SEC',
    description: 'delay before data of a dissolved agreement is purged, seconds',
    defaultText: '604800',
    accepted: 'a whole number of seconds',
    parse: int(0, 315_360_000),
    fallback: () => 604_800,
  }),
  v({
    key: 'trustedDids',
    env: 'TRUSTED_DIDS',
    description: 'auto-accept offers from these DIDs, comma-separated',
    defaultText: '–',
    accepted: 'comma-separated DIDs such as did:plc:abc',
    parse: didList,
    fallback: () => [],
  }),
  v({
    key: 'bandwidthLimitKbps',
    env: 'BANDWIDTH_LIMIT_KBPS',
    description: 'transfer cap, KB/s',
    defaultText: 'unlimited',
    accepted: 'a whole number of KB/s from 1, or empty for unlimited',
    parse: optionalPositiveInt,
    fallback: () => undefined,
  }),
  v({
    key: 'storageLimitMb',
    env: 'STORAGE_LIMIT_MB',
    description: 'storage cap, MB',
    defaultText: 'unlimited',
    accepted: 'a whole number of MB from 1, or empty for unlimited',
    parse: optionalPositiveInt,
    fallback: () => undefined,
  }),
  v({
    key: 'p2pdsSecret',
    env: 'P2PDS_SECRET',
    description: 'data key for secrets at rest (headless)',
    defaultText: '–',
    accepted: 'a secret of at least 16 characters',
    parse: secret,
    fallback: () => undefined,
  }),
  v({
    key: 'secretKeyFile',
    env: 'SECRET_KEY_FILE',
    description: 'file holding the data key when P2PDS_SECRET is not set',
    defaultText: 'secret.key in the user config dir',
    accepted: 'a file path',
    parse: path,
    fallback: (_r, c) => join(defaultConfigDir(c.platform, c.env), 'secret.key'),
  }),
]

/** Where configuration comes from. Every field has a sensible default. */
export interface LoadConfigInit {
  /** Values given as flags, keyed by variable name (`PLC_URL`) or flag name (`plc-url`). */
  flags?: Record<string, string | undefined>
  /** @default process.env */
  env?: NodeJS.ProcessEnv
  /** Working directory, for `.env` and relative paths. @default process.cwd() */
  cwd?: string
  /** @default process.platform */
  platform?: NodeJS.Platform
}

function readDotenv(file: string): Record<string, string> {
  if (!existsSync(file)) return {}
  return parseDotenv(readFileSync(file))
}

/** Resolves and validates the configuration. Throws {@link ConfigError} on the first bad value. */
export function loadConfig(init: LoadConfigInit = {}): Config {
  const env = init.env ?? process.env
  const cwd = init.cwd ?? process.cwd()
  const platform = init.platform ?? process.platform
  const flags = normaliseFlags(init.flags ?? {})
  const ctx = { cwd }
  const cwdDotenv = readDotenv(join(cwd, DATA_DIR_FILES.env))

  const resolved: Partial<Config> = {}
  const sources: Partial<Record<keyof Config, ConfigSource>> = {}
  let dataDirDotenv: Record<string, string> = {}
  for (const spec of CONFIG_VARS) {
    const raw = flags[spec.env] ?? env[spec.env] ?? cwdDotenv[spec.env] ?? dataDirDotenv[spec.env]
    sources[spec.key] =
      flags[spec.env] !== undefined ? 'flag' : env[spec.env] !== undefined ? 'env' : raw !== undefined ? 'dotenv' : 'default'
    let value: unknown
    if (raw === undefined) {
      value = spec.fallback(resolved, { env, platform })
    } else {
      try {
        value = spec.parse(raw, ctx)
      } catch (err) {
        if (err instanceof Invalid) throw new ConfigError(spec.env, raw, spec.accepted)
        throw err
      }
    }
    ;(resolved as Record<string, unknown>)[spec.key] = value
    if (spec.key === 'dataDir') dataDirDotenv = readDotenv(join(value as string, DATA_DIR_FILES.env))
  }
  CONFIG_SOURCES.set(resolved, sources)
  return resolved as Config
}

function normaliseFlags(flags: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue
    const envName = name.replace(/^--/, '').replaceAll('-', '_').toUpperCase()
    out[envName] = value
  }
  return out
}

/** The configuration without secrets, for display. */
export function publicConfig(config: Config): Omit<Config, 'p2pdsSecret'> & { p2pdsSecret: 'set' | 'unset' } {
  return { ...config, p2pdsSecret: config.p2pdsSecret === undefined ? 'unset' : 'set' }
}

/** Where a configuration value came from: a flag, the environment, a `.env` file, or the default. */
export type ConfigSource = 'flag' | 'env' | 'dotenv' | 'default'

/** The source of each value of every configuration `loadConfig` returned (kept beside it, not in it). */
const CONFIG_SOURCES = new WeakMap<object, Partial<Record<keyof Config, ConfigSource>>>()

/**
 * Where `config[key]` came from. A configuration not made by `loadConfig` (or a copy of one)
 * reports 'default': nothing was given for it.
 */
export function configSource(config: Config, key: keyof Config): ConfigSource {
  return CONFIG_SOURCES.get(config)?.[key] ?? 'default'
}

/**
 * The `p2pds` command. Verbs that read or change node state go through the running node's local
 * API when one holds the data dir, and otherwise open the data dir themselves.
 *
 * Exit status: 0 done; 1 the work failed; 2 bad usage (unknown verb or flag, invalid value).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { resolve } from 'node:path'
import type { AccountDto, ApiEventName, ApiInput, ApiMethodName, ApiOutput, LoginDto, NodeStatusDto, P2pdsEvents, PolicyDto, PolicyUpdateDto, RecordDto, SyncProgressDto } from './api.js'
import { dispatchApiCall } from './api-dispatch.js'
import { CONFIG_VARS, loadConfig, type Config } from './config.js'
import { ConfigError, P2pdsError } from './errors.js'
import { VERSION } from './package-info.js'
import { POLICY_LIMITS } from './policy/types.js'
import { connectToRunningNode, RemoteApiError } from './server/local-client.js'

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(text: string): void
  err(text: string): void
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
}

class UsageError extends P2pdsError {
  override name = 'UsageError'
  override readonly code = 'ERR_USAGE'
}

interface Verb {
  summary: string
  usage: string
  example: string
  run(ctx: VerbContext): Promise<number>
}

interface VerbContext {
  flags: Record<string, string | undefined>
  json: boolean
  /** `--out` (export verbs). */
  out: string | undefined
  /** `--rev` (ls, export). */
  rev: string | undefined
  positionals: string[]
  io: CliIo
  signal?: AbortSignal
  /** Every option as parsed, for verb-specific flags (`--app-password`, `--as`). */
  values?: Record<string, string | boolean | undefined>
}

const VERBS: Record<string, Verb> = {
  serve: {
    summary: 'run the node headless with its UI on loopback; prints the UI URL',
    usage: 'p2pds serve [--data-dir DIR] [--port N] [--ui-port N]',
    example: 'p2pds serve --data-dir ./data --ui-port 8080',
    run: serve,
  },
  status: {
    summary: 'node state, accounts and periodic sync (paused, running, next sync)',
    usage: 'p2pds status [--json] [--data-dir DIR]',
    example: 'p2pds status --json',
    run: status,
  },
  backup: {
    summary: 'add an account (if new) and sync it now: repo and blobs, verified',
    usage: 'p2pds backup <handle|did> [--json]',
    example: 'p2pds backup alice.bsky.social',
    run: backup,
  },
  accounts: {
    summary: 'accounts held: head, rev, records, blobs, size, last sync',
    usage: 'p2pds accounts [--json]',
    example: 'p2pds accounts --json',
    run: accountsVerb,
  },
  ls: {
    summary: 'list the collections of an account, or the records of one collection',
    usage: 'p2pds ls <did|handle> [collection] [--rev REV] [--json]',
    example: 'p2pds ls alice.bsky.social app.bsky.feed.post',
    run: ls,
  },
  export: {
    summary: 'write a CAR of the head, or of a kept rev',
    usage: 'p2pds export <did|handle> --out FILE.car [--rev REV] [--json]',
    example: 'p2pds export alice.bsky.social --out alice.car',
    run: exportVerb,
  },
  'export-blobs': {
    summary: 'write every stored blob to a folder, one file each, plus manifest.json',
    usage: 'p2pds export-blobs <did|handle> --out DIR [--json]',
    example: 'p2pds export-blobs alice.bsky.social --out ./alice-blobs',
    run: exportBlobs,
  },
  verify: {
    summary: 'check the backup now: L0 (head matches the PDS) and L1 (sampled blocks re-hash); exit 1 if a check fails',
    usage: 'p2pds verify <did|handle> [--json]',
    example: 'p2pds verify alice.bsky.social',
    run: verifyVerb,
  },
  pause: {
    summary: 'pause syncing: of every account, or of one (running syncs stop; kept across restarts)',
    usage: 'p2pds pause [did|handle] [--json]',
    example: 'p2pds pause alice.bsky.social',
    run: (ctx) => pauseOrResume(ctx, 'pause'),
  },
  resume: {
    summary: 'resume syncing: lift the pause of every account, or resume one account',
    usage: 'p2pds resume [did|handle] [--json]',
    example: 'p2pds resume',
    run: (ctx) => pauseOrResume(ctx, 'resume'),
  },
  'plc-log': {
    summary: 'the mirrored PLC log of a held did:plc account and its validation',
    usage: 'p2pds plc-log <did|handle> [--json]',
    example: 'p2pds plc-log alice.bsky.social',
    run: plcLogVerb,
  },
}

Object.assign(VERBS, {
  login: {
    summary: 'log in as an atproto account: OAuth (prints the URL to open; needs the running node) or an app password',
    usage: 'p2pds login <handle> [--app-password] [--json]',
    example: 'P2PDS_APP_PASSWORD=xxxx-xxxx-xxxx-xxxx p2pds login alice.bsky.social --app-password',
    run: loginVerb,
  },
  logout: {
    summary: 'log out: revoke the session at the PDS and forget it (--as when several accounts are logged in)',
    usage: 'p2pds logout [--as <handle|did>] [--json]',
    example: 'p2pds logout --as alice.bsky.social',
    run: logoutVerb,
  },
  offer: {
    summary: 'offer to replicate an account: publishes the offer in your repo and tells their node',
    usage: 'p2pds offer <handle|did> [--as <handle|did>] [--json]',
    example: 'p2pds offer bob.bsky.social',
    run: offerVerb,
  },
  offers: {
    summary: 'incoming and outgoing offers, agreements and archives with their state',
    usage: 'p2pds offers [--json]',
    example: 'p2pds offers --json',
    run: offersVerb,
  },
  accept: {
    summary: 'accept an incoming offer: publishes your offer back (also undoes a deny)',
    usage: 'p2pds accept <did> [--as <handle|did>] [--json]',
    example: 'p2pds accept did:plc:abc…',
    run: (ctx) => decideVerb(ctx, 'accept'),
  },
  deny: {
    summary: 'deny an incoming offer (remembered; accept later undoes it)',
    usage: 'p2pds deny <did> [--as <handle|did>] [--json]',
    example: 'p2pds deny did:plc:abc…',
    run: (ctx) => decideVerb(ctx, 'deny'),
  },
  revoke: {
    summary: 'delete your offer: the agreement dissolves and their data is purged after PURGE_GRACE_SEC',
    usage: 'p2pds revoke <did> [--as <handle|did>] [--json]',
    example: 'p2pds revoke did:plc:abc…',
    run: (ctx) => decideVerb(ctx, 'revoke'),
  },
  consent: {
    summary: 'publish (on) or withdraw (off) your consent to being archived one-way by any node',
    usage: 'p2pds consent on|off [--as <handle|did>] [--json]',
    example: 'p2pds consent on',
    run: consentVerb,
  },
  archive: {
    summary: 'archive an account one-way (labelled unconsented unless it published consent)',
    usage: 'p2pds archive <handle|did> [--json]',
    example: 'p2pds archive bsky.app',
    run: archiveVerb,
  },
  policy: {
    summary: 'policies (why and how each account is held): list them, or set the interval, copies, retention and preferred peers of one',
    usage:
      'p2pds policy [list] | set <did|handle|policy-id> [--interval SEC|default] [--min-copies N|default] [--retention-days D|default] [--preferred-peers ID,ID|none] [--json]',
    example: 'p2pds policy set alice.bsky.social --interval 600 --retention-days 30',
    run: policyVerb,
  },
  group: {
    summary: 'groups (named lists of DIDs): list, create <name> <member...>, join <name>, remove <name>',
    usage: 'p2pds group [list] | create <name> <handle|did>... | join <name> [--as <handle|did>] | remove <name> [--json]',
    example: 'p2pds group create friends alice.example.com bob.example.com && p2pds group join friends',
    run: groupVerb,
  },
} satisfies Record<string, Verb>)

const BASE_OPTIONS = {
  json: { type: 'boolean' },
  out: { type: 'string' },
  rev: { type: 'string' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  'app-password': { type: 'boolean' },
  as: { type: 'string' },
  token: { type: 'string' },
  to: { type: 'string' },
  'rotation-key': { type: 'string' },
  handle: { type: 'string' },
  email: { type: 'string' },
  'invite-code': { type: 'string' },
  'dry-run': { type: 'boolean' },
  interval: { type: 'string' },
  'min-copies': { type: 'string' },
  'retention-days': { type: 'string' },
  'preferred-peers': { type: 'string' },
} as const satisfies ParseArgsConfig['options']

function optionsSpec(): NonNullable<ParseArgsConfig['options']> {
  const opts: NonNullable<ParseArgsConfig['options']> = { ...BASE_OPTIONS }
  for (const v of CONFIG_VARS) opts[v.flag.slice(2)] = { type: 'string' }
  return opts
}

/** Runs the CLI with `argv` (without `node` and the script); resolves to the exit status. */
export async function main(argv: string[], io: CliIo = defaultIo, options: { signal?: AbortSignal } = {}): Promise<number> {
  let debug = argv.includes('--debug')
  try {
    let parsed
    try {
      parsed = parseArgs({ args: argv, options: optionsSpec(), allowPositionals: true, strict: true })
    } catch (err) {
      throw new UsageError(`${(err as Error).message.replace(/\.$/, '')}. See p2pds --help.`)
    }
    const values = parsed.values as Record<string, string | boolean | undefined>
    debug = values.debug === true
    const [verbName, ...positionals] = parsed.positionals
    if (values.version === true) {
      io.out(`p2pds ${VERSION}\n`)
      return 0
    }
    if (verbName === undefined || verbName === 'help') {
      io.out(helpText(positionals[0]))
      return verbName === undefined && values.help !== true ? 2 : 0
    }
    const verb = VERBS[verbName]
    if (verb === undefined) throw new UsageError(`Unknown command "${verbName}". See p2pds --help.`)
    if (values.help === true) {
      io.out(helpText(verbName))
      return 0
    }
    const flags: Record<string, string | undefined> = {}
    for (const v of CONFIG_VARS) {
      const value = values[v.flag.slice(2)]
      if (typeof value === 'string') flags[v.env] = value
    }
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
    return await verb.run({ flags, json: values.json === true, out: str(values.out), rev: str(values.rev), positionals, io, signal: options.signal, values })
  } catch (err) {
    io.err(`p2pds: ${err instanceof Error ? err.message : String(err)}\n`)
    if (debug && err instanceof Error && err.stack !== undefined) io.err(`${err.stack}\n`)
    return err instanceof UsageError || err instanceof ConfigError ? 2 : 1
  }
}

function helpText(verbName?: string): string {
  const verb = verbName === undefined ? undefined : VERBS[verbName]
  if (verb !== undefined) {
    return `${verb.summary}\n\nUsage: ${verb.usage}\nExample: ${verb.example}\n\nEvery configuration flag below also applies; see p2pds --help.\n`
  }
  const width = Math.max(...Object.keys(VERBS).map((k) => k.length))
  const verbs = Object.entries(VERBS)
    .map(([name, v]) => `  ${name.padEnd(width)}  ${v.summary}\n  ${' '.repeat(width)}  e.g. ${v.example}`)
    .join('\n')
  const flagWidth = Math.max(...CONFIG_VARS.map((v) => v.flag.length))
  const flags = CONFIG_VARS.map((v) => `  ${v.flag.padEnd(flagWidth)}  ${v.env}: ${v.description} (default ${v.defaultText})`).join('\n')
  return (
    `P2PDS ${VERSION}: peer-to-peer backup for AT Protocol accounts.\n\n` +
    `Usage: p2pds <command> [options]\n\nCommands:\n${verbs}\n\n` +
    `Options:\n  --json      print one JSON document on stdout\n  --debug     show stack traces\n  --help, -h  help for a command\n  --version   print the version\n\n` +
    `Configuration (flag > environment > .env in the working dir > .env in the data dir > default):\n${flags}\n`
  )
}

/** The node a verb talks to: the running one, or one opened on the data dir for this command. */
interface NodeSession {
  /** True when a running node answered (desktop app or `serve`). */
  remote: boolean
  call<N extends ApiMethodName>(method: N, input?: ApiInput<N>): Promise<ApiOutput<N>>
  /** Follows node events until the session ends. */
  onEvent(listener: <E extends ApiEventName>(name: E, data: P2pdsEvents[E]) => void): Promise<void>
}

/**
 * Runs `fn` against the node that holds the data dir, or, when none is running, against a node
 * opened just for this command (no listeners), stopped afterwards.
 */
async function withNode<T>(config: Config, fn: (session: NodeSession) => Promise<T>): Promise<T> {
  const remote = connectToRunningNode(config.dataDir)
  if (remote !== undefined) {
    const ac = new AbortController()
    try {
      return await fn({
        remote: true,
        call: (method, input) => remote.call(method, input),
        onEvent: (listener) => remote.subscribe(listener, ac.signal),
      })
    } finally {
      ac.abort()
    }
  }
  // Loaded only here: talking to a running node, or printing help, needs none of the engine.
  const { createNode } = await import('./node.js')
  // Periodic sync is the running node's job, not a one-off command's.
  const node = await createNode({ config, host: 'cli', listen: false, schedule: { enabled: false } })
  await node.start()
  const unsubscribers: Array<() => void> = []
  try {
    return await fn({
      remote: false,
      call: async (method, input) => {
        const result = await dispatchApiCall(node.api, method, input)
        if (!result.ok) throw new RemoteApiError(result.error.code, result.error.message)
        return result.value as never
      },
      onEvent: async (listener) => {
        unsubscribers.push(node.onAny(listener))
      },
    })
  } finally {
    for (const u of unsubscribers) u()
    await node.stop()
  }
}

/** A held account's DID from a DID or the handle of a held account. */
async function heldDid(session: NodeSession, arg: string | undefined, verb: string): Promise<string> {
  if (arg === undefined) throw new UsageError(`p2pds ${verb} needs an account: a DID or the handle of an account held. See p2pds ${verb} --help.`)
  if (arg.startsWith('did:')) return arg
  const handle = arg.replace(/^@/, '').toLowerCase()
  const found = (await session.call('accounts.list')).find((a) => a.handle === handle)
  if (found === undefined) throw new P2pdsError(`No account with the handle ${handle} is held here. Add it with: p2pds backup ${handle}`)
  return found.did
}

function print(ctx: VerbContext, value: unknown, human: () => string): void {
  ctx.io.out(ctx.json ? JSON.stringify(value, null, 2) + '\n' : human())
}

async function status(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const s = await withNode(config, (n) => n.call('node.status'))
  print(ctx, s, () => formatStatus(s))
  return 0
}

async function backup(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const target = ctx.positionals[0]
  if (target === undefined) throw new UsageError('p2pds backup needs a handle or DID. See p2pds backup --help.')
  return withNode(config, async (n) => {
    const held = await n.call('accounts.list')
    const lower = target.replace(/^@/, '').toLowerCase()
    let did = held.find((a) => a.did === target || a.handle === lower)?.did
    const progress = createProgressLine(ctx.io, !ctx.json && process.stderr.isTTY === true)
    await n.onEvent((name, data) => {
      if (name === 'sync:progress' && (data as SyncProgressDto).did === did) progress.update(data as SyncProgressDto)
    })
    if (did === undefined) did = (await n.call('accounts.add', { handleOrDid: target })).did
    // Joins the sync that adding started, or starts one.
    const result = await n.call('accounts.sync', { did }).finally(() => progress.done())
    const account = (await n.call('accounts.list')).find((a) => a.did === did)
    print(ctx, result, () => {
      const what = result.kind === 'none' ? 'already up to date' : `${result.kind} sync: +${result.creates} ~${result.updates} -${result.deletes} records`
      const blobs = `${result.blobsFetched} blob(s) fetched${result.blobsFailed > 0 ? `, ${result.blobsFailed} failed (see p2pds accounts)` : ''}`
      const from = result.source?.startsWith('peer:') === true ? ` from peer ${result.source.slice('peer:'.length)}` : ''
      return `Backed up ${account?.handle ?? did} at rev ${result.rev}: ${what}, ${blobs}, ${formatBytes(result.bytesReceived)} received${from} in ${(result.durationMs / 1000).toFixed(1)} s.\n`
    })
    return 0
  })
}

async function accountsVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const list = await withNode(config, (n) => n.call('accounts.list'))
  print(ctx, list, () => {
    if (list.length === 0) return 'No accounts held yet. Add one with: p2pds backup <handle>\n'
    return table(
      ['ACCOUNT', 'HELD AS', 'REV', 'RECORDS', 'BLOBS', 'SIZE', 'LAST SYNC', 'STATE'],
      list.map((a) => [
        a.handle ?? a.did,
        holdingLabel(a),
        a.head?.rev ?? '-',
        String(a.records),
        `${a.blobs.stored}${a.blobs.missing + a.blobs.failed > 0 ? ` (+${a.blobs.missing} missing, ${a.blobs.failed} failed)` : ''}`,
        formatBytes(a.storageBytes),
        a.lastSyncAt ?? 'never',
        a.syncing ? 'syncing' : a.paused === true ? 'paused' : a.lastError !== null ? `error: ${a.lastError.message}` : 'ok',
      ]),
    )
  })
  return 0
}

/**
 * Why an account is held, in the words of the Accounts page (`renderer/src/account-view.ts`
 * `holdingView`): a revoked agreement first, then the kind of policy and its consent.
 */
function holdingLabel(a: Pick<AccountDto, 'kind' | 'consent'>): string {
  if (a.consent === 'revoked') return 'Agreement revoked'
  if (a.kind === 'reciprocal') return 'Mutual backup'
  if (a.kind === 'config') return 'From config'
  return a.consent === 'consented' ? 'Archive · consented' : 'Archive · no consent'
}

async function ls(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'ls')
    const collection = ctx.positionals[1]
    const rev = ctx.rev
    if (collection === undefined) {
      const cols = await n.call('records.collections', { did, ...(rev === undefined ? {} : { rev }) })
      print(ctx, cols, () => table(['COLLECTION', 'RECORDS'], cols.map((c) => [c.nsid, String(c.records)])))
      return 0
    }
    const records: RecordDto[] = []
    let cursor: string | undefined
    do {
      const page = await n.call('records.list', { did, collection, limit: 500, ...(rev === undefined ? {} : { rev }), ...(cursor === undefined ? {} : { cursor }) })
      records.push(...page.records)
      cursor = page.cursor ?? undefined
    } while (cursor !== undefined)
    print(ctx, records, () => table(['RKEY', 'CID', 'SUMMARY'], records.map((r) => [r.rkey, r.cid, summarizeRecord(r)])))
    return 0
  })
}

async function exportVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  if (ctx.out === undefined) throw new UsageError('p2pds export needs --out FILE.car. See p2pds export --help.')
  const path = resolve(ctx.out)
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'export')
    const r = await n.call('export.car', { did, path, ...(ctx.rev === undefined ? {} : { rev: ctx.rev }) })
    print(ctx, r, () => `Wrote ${r.path} (${formatBytes(r.bytes)}). Import it into a PDS with com.atproto.repo.importRepo.\n`)
    return 0
  })
}

async function exportBlobs(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  if (ctx.out === undefined) throw new UsageError('p2pds export-blobs needs --out DIR. See p2pds export-blobs --help.')
  const dir = resolve(ctx.out)
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'export-blobs')
    const r = await n.call('export.blobs', { did, dir })
    print(ctx, r, () => `Wrote ${r.items} blob(s), ${formatBytes(r.bytes)}, and manifest.json to ${r.path}.\n`)
    return 0
  })
}

async function verifyVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'verify')
    const results = await n.call('accounts.verify', { did })
    print(ctx, results, () => results.map((r) => `${r.level} ${r.ok ? 'ok    ' : 'FAILED'} ${r.summary}`).join('\n') + '\n')
    return results.every((r) => r.ok) ? 0 : 1
  })
}

async function pauseOrResume(ctx: VerbContext, verb: 'pause' | 'resume'): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  if (ctx.positionals.length > 1) throw new UsageError(`p2pds ${verb} takes at most one account. See p2pds ${verb} --help.`)
  return withNode(config, async (n) => {
    const did = ctx.positionals[0] === undefined ? undefined : await heldDid(n, ctx.positionals[0], verb)
    const state = await n.call(verb === 'pause' ? 'sync.pause' : 'sync.resume', did === undefined ? {} : { did })
    print(ctx, state, () => {
      if (did !== undefined) {
        const name = ctx.positionals[0]!.startsWith('did:') ? did : ctx.positionals[0]!.replace(/^@/, '').toLowerCase()
        if (verb === 'pause') return `Syncing ${name} is paused; it stays paused across restarts. Resume with: p2pds resume ${name}\n`
        const still = state.paused ? ' Syncing is still paused for every account; lift that with: p2pds resume' : ''
        return `Syncing ${name} is resumed.${still}\n`
      }
      if (verb === 'pause') return 'Syncing is paused for every account; it stays paused across restarts. Resume with: p2pds resume\n'
      const own = state.accounts.filter((a) => a.paused).map((a) => a.did)
      const left = own.length === 0 ? '' : ` ${own.length} account(s) paused on their own stay paused (p2pds resume <did>): ${own.join(', ')}`
      return `Syncing is resumed.${left}\n`
    })
    return 0
  })
}

async function plcLogVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  if (ctx.positionals[0] === undefined) throw new UsageError('p2pds plc-log needs an account: a did:plc or the handle of an account held. See p2pds plc-log --help.')
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'plc-log')
    const { status: s, log } = await n.call('plc.getLog', { did })
    print(ctx, { status: s, log }, () => {
      const when = s.lastFetchAt === null ? 'no log held yet' : `${s.operations} operation(s), fetched ${s.lastFetchAt} from ${s.source}`
      const lines = [`${did}  ${s.validation}${s.tombstoned ? ' (tombstoned)' : ''}  ${when}`]
      if (s.error !== null) lines.push(`Last attempt (${s.lastCheckAt}): ${s.error.message}`)
      if (s.document !== null) {
        lines.push(`Handle: ${s.document.alsoKnownAs.join(', ') || '-'}  PDS: ${s.document.pdsUrl ?? '-'}`)
        lines.push(`Rotation keys: ${s.document.rotationKeys.join(', ') || '-'}`)
      }
      if (log.length === 0) return lines.join('\n') + '\n'
      const rows = log.map((e) => [e.createdAt, String(e.operation.type), e.cid, e.nullified ? 'nullified' : ''])
      return lines.join('\n') + '\n\n' + table(['CREATED', 'TYPE', 'CID', ''], rows)
    })
    return 0
  })
}

/** How long `p2pds login` waits for the browser to come back. */
const LOGIN_WAIT_MS = 10 * 60 * 1000

async function loginVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const handle = ctx.positionals[0]
  if (handle === undefined) throw new UsageError('p2pds login needs a handle (or DID). See p2pds login --help.')
  if (ctx.values?.['app-password'] === true) {
    const password = process.env.P2PDS_APP_PASSWORD ?? (await promptSecret(ctx.io, `App password for ${handle}: `))
    if (password === '') throw new UsageError('No app password: set P2PDS_APP_PASSWORD or type it when asked.')
    const login = await withNode(config, (n) => n.call('auth.loginAppPassword', { identifier: handle, password }))
    print(ctx, login, () => `Logged in as ${login.handle ?? login.did} (app password).\n`)
    return 0
  }
  return withNode(config, async (n) => {
    if (!n.remote) throw new P2pdsError('OAuth login needs the running node (p2pds serve, or the desktop app) to receive the browser. Start it first, or use --app-password.')
    let done: (l: { did: string }) => void = () => undefined
    const loggedIn = new Promise<{ did: string }>((r) => (done = r))
    await n.onEvent((name, data) => {
      if (name === 'auth:changed' && (data as P2pdsEvents['auth:changed']).loggedIn && (data as P2pdsEvents['auth:changed']).error === undefined) done(data as { did: string })
    })
    const { url } = await n.call('auth.login', { handle })
    ctx.io.out(ctx.json ? '' : `Open this URL to log in:\n${url}\n`)
    if (!ctx.json) ctx.io.err('Waiting for the login to complete in the browser...\n')
    else ctx.io.err(`Open this URL to log in: ${url}\n`)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new P2pdsError('The login was not completed within 10 minutes. Run p2pds login again.')), LOGIN_WAIT_MS)
    })
    try {
      const { did } = await Promise.race([loggedIn, timeout])
      const login = (await n.call('auth.list')).find((l) => l.did === did)!
      print(ctx, login, () => `Logged in as ${login.handle ?? login.did}.\n`)
      return 0
    } finally {
      clearTimeout(timer)
    }
  })
}

async function logoutVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  return withNode(config, async (n) => {
    const login = await loggedInAs(n, ctx, 'logout')
    await n.call('auth.logout', { did: login.did })
    print(ctx, { did: login.did, loggedIn: false }, () => `Logged out ${login.handle ?? login.did}.\n`)
    return 0
  })
}

/** `--as` as an API input field. */
function asInput(ctx: VerbContext): { as?: string } {
  return typeof ctx.values?.as === 'string' ? { as: ctx.values.as } : {}
}

async function offerVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const target = ctx.positionals[0]
  if (target === undefined) throw new UsageError('p2pds offer needs a handle or DID. See p2pds offer --help.')
  const offer = await withNode(config, (n) => n.call('offers.offer', { target, ...asInput(ctx) }))
  print(ctx, offer, () => `Offered to replicate ${offer.subject} (${offer.uri}). An agreement forms when they offer back.\n`)
  return 0
}

async function offersVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const o = await withNode(config, (n) => n.call('offers.list'))
  print(ctx, o, () => {
    const offers = [...o.incoming, ...o.outgoing]
    const parts = [
      offers.length === 0 ? 'No offers yet. Make one with: p2pds offer <handle>\n' : table(['DIRECTION', 'FROM', 'TO', 'DECISION', 'SINCE'], offers.map((x) => [x.direction, x.offerer, x.subject, x.decision, x.createdAt])),
    ]
    if (o.agreements.length > 0) {
      parts.push(
        table(
          ['TYPE', 'ACCOUNT', 'STATE', 'CONSENT', 'PURGE AT'],
          o.agreements.map((a) => [a.type, a.did, a.state, a.consent === 'unconsented' ? 'unconsented (no consent record)' : a.consent, a.purgeAt ?? '-']),
        ),
      )
    }
    return parts.join('\n')
  })
  return 0
}

async function decideVerb(ctx: VerbContext, verb: 'accept' | 'deny' | 'revoke'): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const did = ctx.positionals[0]
  if (did === undefined || !did.startsWith('did:')) throw new UsageError(`p2pds ${verb} needs the other account's DID (see p2pds offers). See p2pds ${verb} --help.`)
  return withNode(config, async (n) => {
    if (verb === 'revoke') {
      await n.call('offers.revoke', { did, ...asInput(ctx) })
      print(ctx, { did, revoked: true }, () => `Revoked the offer to ${did}; their data is purged after the grace period (p2pds offers shows when).\n`)
      return 0
    }
    const offer = await n.call(verb === 'accept' ? 'offers.accept' : 'offers.deny', { did, ...asInput(ctx) })
    print(ctx, offer, () => (verb === 'accept' ? `Accepted the offer of ${did}: your offer back is published.\n` : `Denied the offer of ${did} (p2pds accept ${did} undoes it).\n`))
    return 0
  })
}

async function consentVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const arg = ctx.positionals[0]
  if (arg !== 'on' && arg !== 'off') throw new UsageError('p2pds consent needs on or off. See p2pds consent --help.')
  const r = await withNode(config, (n) => n.call('offers.consent', { on: arg === 'on', ...asInput(ctx) }))
  print(ctx, r, () => (r.consent ? `Published consent: any P2PDS node may archive ${r.did}.\n` : `Withdrew consent for ${r.did}.\n`))
  return 0
}

async function archiveVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const target = ctx.positionals[0]
  if (target === undefined) throw new UsageError('p2pds archive needs a handle or DID. See p2pds archive --help.')
  const a = await withNode(config, (n) => n.call('offers.archive', { handleOrDid: target }))
  print(ctx, a, () => `Archiving ${a.did} one-way (${a.consent === 'consented' ? 'with its consent record' : 'unconsented: it published no consent record'}).\n`)
  return 0
}

async function groupVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const [sub = 'list', name, ...members] = ctx.positionals
  if (sub === 'list') {
    const groups = await withNode(config, (n) => n.call('groups.list'))
    print(ctx, groups, () =>
      groups.length === 0
        ? 'No groups yet. Make one with: p2pds group create <name> <handle|did>...\n'
        : groups
            .map((g) => {
              const known = g.holdings.length === 0 ? '  no copies known yet\n' : g.holdings.map((h) => `  ${h.holder} holds ${h.subject} (${h.status})\n`).join('')
              return `${g.name}: ${g.members.length} member${g.members.length === 1 ? '' : 's'}\n${g.members.map((m) => `  - ${m}\n`).join('')}${known}`
            })
            .join('\n'),
    )
    return 0
  }
  if (name === undefined) throw new UsageError(`p2pds group ${sub} needs a group name. See p2pds group --help.`)
  if (sub === 'create') {
    if (members.length === 0) throw new UsageError('p2pds group create needs at least one member (handle or DID). See p2pds group --help.')
    const g = await withNode(config, (n) => n.call('groups.create', { name, members }))
    print(ctx, g, () => `Made the group ${g.name} of ${g.members.length} member${g.members.length === 1 ? '' : 's'}. Join it with: p2pds group join ${g.name}\n`)
    return 0
  }
  if (sub === 'join') {
    const r = await withNode(config, (n) => n.call('groups.join', { name, ...asInput(ctx) }))
    print(ctx, r, () =>
      [`Joined ${r.name} as ${r.as}: offered to ${r.offered.length}, ${r.already.length} offered before.\n`, ...r.failed.map((f) => `  ${f.did}: ${f.error.message}\n`)].join(''),
    )
    return r.failed.length === 0 ? 0 : 1
  }
  if (sub === 'remove') {
    await withNode(config, (n) => n.call('groups.remove', { name }))
    print(ctx, { name, removed: true }, () => `Forgot the group ${name} (offers made when joining stay).\n`)
    return 0
  }
  throw new UsageError(`p2pds group has no ${sub}: use list, create, join or remove. See p2pds group --help.`)
}

async function policyVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const [sub = 'list', target, ...extra] = ctx.positionals
  if (sub === 'list') {
    const all = await withNode(config, (n) => n.call('policies.list'))
    const shown = all.policies.filter((p) => p.state !== 'purged')
    print(ctx, all, () =>
      shown.length === 0
        ? 'No policies: this node holds no account yet. Add one with: p2pds backup <handle>\n'
        : table(
            ['ID', 'STATE', 'INTERVAL', 'RETENTION', 'COPIES', 'PREFERRED PEERS'],
            shown.map((p) => [p.id, p.state, p.intervalSec === null ? 'default' : formatDuration(p.intervalSec), p.retentionDays === null ? 'all' : `${p.retentionDays} d`, p.minCopies === null ? '-' : String(p.minCopies), p.preferredPeers.join(', ') || '-']),
          ),
    )
    return 0
  }
  if (sub !== 'set') throw new UsageError(`p2pds policy has no ${sub}: use list or set. See p2pds policy --help.`)
  if (target === undefined) throw new UsageError('p2pds policy set needs an account (DID or handle of an account held) or a policy id (see p2pds policy list). See p2pds policy --help.')
  if (extra.length > 0) throw new UsageError(`p2pds policy set takes one account or policy id; give preferred peers as --preferred-peers ID,ID. See p2pds policy --help.`)
  const changes = policyChanges(ctx)
  return withNode(config, async (n) => {
    const id = await policyIdOf(n, target)
    let policy: PolicyDto
    try {
      policy = await n.call('policies.update', { id, ...changes })
    } catch (err) {
      // A value the node refuses (a PeerID that does not parse) is bad usage, as one out of range here is.
      if (err instanceof P2pdsError && err.code === 'ERR_INVALID_INPUT') throw new UsageError(err.message)
      throw err
    }
    print(ctx, policy, () => `Updated the ${policy.type} policy for ${policy.did}: ${policyFields(policy)}. It applies from now on.\n`)
    return 0
  })
}

/** `--interval`, `--min-copies`, `--retention-days` (`default` clears) and `--preferred-peers` (`none` clears) as a `policies.update` input. */
function policyChanges(ctx: VerbContext): Omit<PolicyUpdateDto, 'id'> {
  const changes: Omit<PolicyUpdateDto, 'id'> = {}
  const numbers = [
    ['interval', 'intervalSec', 'seconds'],
    ['min-copies', 'minCopies', 'copies'],
    ['retention-days', 'retentionDays', 'days'],
  ] as const
  for (const [flag, field, unit] of numbers) {
    const text = stringValue(ctx, flag)?.trim()
    if (text === undefined) continue
    if (text === 'default') {
      changes[field] = null
      continue
    }
    const { min, max } = POLICY_LIMITS[field]
    const value = /^\d+$/.test(text) ? Number(text) : NaN
    if (!(value >= min && value <= max)) throw new UsageError(`--${flag} takes a whole number of ${unit} from ${min} to ${max}, or default; ${JSON.stringify(text)} is not. See p2pds policy --help.`)
    changes[field] = value
  }
  const peers = stringValue(ctx, 'preferred-peers')
  if (peers !== undefined) changes.preferredPeers = peers.trim() === 'none' ? [] : peers.split(',').map((p) => p.trim()).filter((p) => p !== '')
  if (Object.keys(changes).length === 0) throw new UsageError('p2pds policy set needs something to set: --interval, --min-copies, --retention-days or --preferred-peers. See p2pds policy --help.')
  return changes
}

/**
 * The policy a `policy set` argument names: a policy id as is, else the one live policy of the
 * account (DID or handle of an account held). A config policy is passed on for the node to refuse
 * with its reason; an account with several policies (agreements of several logged-in accounts)
 * needs the id.
 */
async function policyIdOf(n: NodeSession, arg: string): Promise<string> {
  if (/^(archive|reciprocal|config):/.test(arg)) return arg
  const did = await heldDid(n, arg, 'policy set')
  const live = (await n.call('policies.list')).policies.filter((p) => p.did === did && p.state !== 'purged')
  const editable = live.filter((p) => p.type !== 'config')
  if (editable.length === 1) return editable[0]!.id
  if (editable.length > 1) throw new UsageError(`${arg} is held for ${editable.length} policies; say which with its id: ${editable.map((p) => p.id).join(', ')}.`)
  if (live.length > 0) return live[0]!.id
  throw new P2pdsError(`No policy holds ${arg} on this node. Back it up first: p2pds backup ${arg}`)
}

/** A policy's settable fields in words. */
function policyFields(p: Pick<PolicyDto, 'intervalSec' | 'minCopies' | 'retentionDays' | 'preferredPeers'>): string {
  return [
    p.intervalSec === null ? 'syncs at the default interval' : `syncs every ${formatDuration(p.intervalSec)}`,
    p.retentionDays === null ? 'keeps all history' : `keeps ${p.retentionDays} day${p.retentionDays === 1 ? '' : 's'} of history`,
    p.minCopies === null ? 'no number of copies wanted' : `wants ${p.minCopies} cop${p.minCopies === 1 ? 'y' : 'ies'}`,
    p.preferredPeers.length === 0 ? 'no preferred peers' : `prefers ${p.preferredPeers.join(', ')}`,
  ].join(', ')
}

/** The logged-in account a verb acts as: `--as`, else the only one logged in. */
async function loggedInAs(n: NodeSession, ctx: VerbContext, verb: string): Promise<LoginDto> {
  const logins = await n.call('auth.list')
  const as = ctx.values?.as
  if (typeof as === 'string') {
    const key = as.replace(/^@/, '').toLowerCase()
    const found = logins.find((l) => l.did === as || l.handle === key)
    if (found === undefined) throw new P2pdsError(`${as} is not logged in on this node. Log in first: p2pds login ${as}`)
    return found
  }
  if (logins.length === 0) throw new P2pdsError('No account is logged in on this node. Log in first: p2pds login <handle>')
  if (logins.length > 1) throw new UsageError(`Several accounts are logged in (${logins.map((l) => l.handle ?? l.did).join(', ')}): say which with --as. See p2pds ${verb} --help.`)
  return logins[0]!
}

/** Reads a secret from the terminal without echo (or a line from piped stdin). */
async function promptSecret(io: CliIo, question: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    let text = ''
    for await (const chunk of stdin) text += String(chunk)
    return text.split(/\r?\n/)[0] ?? ''
  }
  io.err(question)
  stdin.setRawMode(true)
  stdin.resume()
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = ''
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData)
            io.err('\n')
            return resolve(typed)
          }
          if (ch === '\u0003') {
            stdin.off('data', onData)
            return reject(new UsageError('Cancelled.'))
          }
          typed = ch === '\u007f' ? typed.slice(0, -1) : typed + ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
  }
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n') + '\n'
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`
  return `${(n / 1024 ** 3).toFixed(2)} GB`
}

function summarizeRecord(r: RecordDto): string {
  const v = r.value as Record<string, unknown>
  const text = typeof v.text === 'string' ? v.text : typeof v.displayName === 'string' ? v.displayName : typeof v.subject === 'string' ? v.subject : ''
  const subject = typeof v.subject === 'object' && v.subject !== null ? String((v.subject as { uri?: unknown }).uri ?? '') : ''
  return (text || subject).replace(/\s+/g, ' ').slice(0, 60)
}

/** A one-line progress bar on a TTY (stderr); nothing elsewhere. */
function createProgressLine(io: CliIo, enabled: boolean): { update(p: SyncProgressDto): void; done(): void } {
  let shown = false
  return {
    update(p) {
      if (!enabled) return
      const blobs = p.blobsTotal === null ? '' : ` blobs ${p.blobsDone}/${p.blobsTotal}`
      const eta = p.etaSec === null ? '' : ` ETA ${p.etaSec}s`
      io.err(`\r${p.phase.padEnd(9)} ${p.blocks} blocks ${formatBytes(p.bytes)}${blobs}${eta}\x1b[K`)
      shown = true
    },
    done() {
      if (shown) io.err('\n')
    },
  }
}

function formatStatus(s: NodeStatusDto): string {
  const running = s.host !== 'cli'
  const rows: Array<[string, string]> = [
    ['Node', running ? `running (${s.host}, pid ${s.pid}), up ${formatDuration(s.uptimeSec)}` : 'not running'],
    ['Version', s.version],
    ['Data dir', s.dataDir],
    ['Accounts', String(s.accounts)],
  ]
  if (s.sync !== undefined) {
    const next = s.sync.nextSyncAt === null ? '' : `, next ${s.sync.nextSyncAt}`
    rows.push(['Sync', s.sync.paused ? `paused for every account (p2pds resume)` : `${s.sync.running} running${running ? next : ''}`])
    const f = s.sync.firehose
    if (f !== undefined) rows.push(['Firehose', f.connection === 'off' ? 'off' : `${f.connection}${f.lastError === null ? '' : ` (${f.lastError})`}, ${f.url}`])
    for (const l of s.sync.live ?? []) rows.push([`  ${l.did}`, `${l.state}, ${l.eventsApplied} events applied${l.reason === null ? '' : `: ${l.reason}`}`])
  }
  if (running) {
    rows.push(['Local UI', s.listeners.ui ?? 'off'], ['Peer API', s.listeners.peer ?? 'off'], ['Memory', `${s.rssMb} MB`])
  }
  const w = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n'
}

function formatDuration(sec: number): string {
  if (sec < 60) return `${sec}s`
  if (sec < 3600) return `${Math.floor(sec / 60)}m ${sec % 60}s`
  const h = Math.floor(sec / 3600)
  if (h < 48) return `${h}h ${Math.floor((sec % 3600) / 60)}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

async function serve(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const { createNode } = await import('./node.js')
  const node = await createNode({ config, host: 'serve' })
  await node.start({ signal: ctx.signal })
  const s = await node.api.node.status()
  const uiLink = `${node.uiUrl}/#secret=${node.secret}`
  if (ctx.json) {
    ctx.io.out(JSON.stringify({ ...s, uiLink }) + '\n')
  } else {
    ctx.io.out(
      `P2PDS ${s.version} is running.\n` +
        `  UI:        ${uiLink}\n` +
        `  Peer API:  ${s.listeners.peer} (peers use ${node.publicUrl})\n` +
        `  Data dir:  ${config.dataDir}\n` +
        `Open the UI link in a browser. Press Ctrl+C to stop.\n`,
    )
  }
  await new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        ctx.io.err(`p2pds: ${sig} again, exiting without a clean stop.\n`)
        process.exit(1)
      }
      stopping = true
      ctx.io.err(`p2pds: ${sig}, stopping…\n`)
      node.stop().finally(() => {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        resolve()
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    ctx.signal?.addEventListener('abort', () => onSignal('SIGTERM'), { once: true })
  })
  ctx.io.err('p2pds: stopped.\n')
  return 0
}

// --- Rotation keys, restore and the recovery kit (core/recovery/) -------------------------------

Object.assign(VERBS, {
  'rotation-key': {
    summary: 'make a rotation key (new: key file 0600 + recovery phrase, shown once) or add one to your DID (add: the PDS emails a code)',
    usage: 'p2pds rotation-key new --out FILE [--as <did|handle>] | p2pds rotation-key add FILE [--token CODE] [--as <did|handle>]',
    example: 'p2pds rotation-key new --out ~/alice-rotation.key && p2pds rotation-key add ~/alice-rotation.key --as alice.bsky.social',
    run: rotationKeyVerb,
  },
  'rotation-keys': {
    summary: "the rotation keys in an account's PLC document, marking those held here",
    usage: 'p2pds rotation-keys [did|handle] [--json]',
    example: 'p2pds rotation-keys alice.bsky.social',
    run: rotationKeysVerb,
  },
  restore: {
    summary: 'move an account to a new PDS from the local copy, with a rotation key you hold (works when the old PDS is gone; resumable)',
    usage: 'p2pds restore <did> --to <pds-url> --rotation-key FILE --email E [--handle H] [--invite-code C] [--dry-run] [--json]',
    example: 'p2pds restore did:plc:abc… --to https://pds.example --rotation-key ~/alice-rotation.key --email alice@example.com --dry-run',
    run: restoreVerb,
  },
  'export-kit': {
    summary: 'write a recovery kit: CAR, blobs, PLC log and a README on how to restore',
    usage: 'p2pds export-kit <did|handle> --out DIR [--json]',
    example: 'p2pds export-kit alice.bsky.social --out ./alice-kit',
    run: exportKitVerb,
  },
} satisfies Record<string, Verb>)

/** The account a recovery verb is about: the argument, `--as`, or the only account held. */
async function recoveryDid(n: NodeSession, ctx: VerbContext, arg: string | undefined, verb: string): Promise<string> {
  const as = arg ?? (typeof ctx.values?.as === 'string' ? ctx.values.as : undefined)
  if (as !== undefined) return heldDid(n, as, verb)
  const held = await n.call('accounts.list')
  if (held.length === 1) return held[0]!.did
  throw new UsageError(`p2pds ${verb} needs an account: give --as <did|handle>${held.length === 0 ? ' (and back it up first: p2pds backup <handle>)' : ''}. See p2pds ${verb} --help.`)
}

function stringValue(ctx: VerbContext, name: string): string | undefined {
  const v = ctx.values?.[name]
  return typeof v === 'string' ? v : undefined
}

async function rotationKeyVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const [sub, file] = ctx.positionals
  const { existsSync } = await import('node:fs')
  const keys = await import('./identity/rotation-keys.js')
  if (sub === 'new') {
    if (ctx.out === undefined) throw new UsageError('p2pds rotation-key new needs --out FILE (where the key file is written, mode 0600). See p2pds rotation-key --help.')
    const path = resolve(ctx.out)
    if (existsSync(path)) throw new UsageError(`${path} already exists; choose another file so no key is overwritten.`)
    return withNode(config, async (n) => {
      const as = stringValue(ctx, 'as')
      const did = as === undefined ? undefined : await heldDid(n, as, 'rotation-key')
      const made = await n.call('recovery.newRotationKey', did === undefined ? {} : { did })
      keys.writeRotationKeyFile(path, (await keys.parseRotationKey(made.keyFile)).privateKey)
      print(ctx, { didKey: made.didKey, path, phrase: made.phrase }, () =>
        `Made rotation key ${made.didKey}.\nKey file: ${path} (readable only by you).\n\n` +
          `Recovery phrase (shown once; write it down and keep it offline):\n\n  ${made.phrase}\n\n` +
          `This node keeps an encrypted copy. Next, add it to your identity: p2pds rotation-key add ${ctx.out}${as === undefined ? '' : ` --as ${as}`}\n`,
      )
      return 0
    })
  }
  if (sub === 'add') {
    if (file === undefined) throw new UsageError('p2pds rotation-key add needs the key FILE. See p2pds rotation-key --help.')
    const key = await keys.readRotationKeyFile(resolve(file))
    const token = stringValue(ctx, 'token')
    return withNode(config, async (n) => {
      const did = await recoveryDid(n, ctx, undefined, 'rotation-key add')
      await n.call('recovery.importRotationKey', { key: keys.rotationKeyFileText(key.privateKey).trim(), did })
      const password = process.env.P2PDS_APP_PASSWORD ?? (process.stdin.isTTY ? await promptSecret(ctx.io, `Account password for ${did} (PLC changes need the main password): `) : undefined)
      const pw = password === undefined || password === '' ? {} : { password }
      let result = await n.call('recovery.addRotationKey', { did, didKey: key.didKey, ...pw, ...(token === undefined ? {} : { token }) })
      if (result.status === 'token-sent' && process.stdin.isTTY && !ctx.json) {
        const code = await promptSecret(ctx.io, 'Your PDS emailed a confirmation code. Code: ')
        result = await n.call('recovery.addRotationKey', { did, didKey: key.didKey, ...pw, token: code.trim() })
      }
      print(ctx, result, () => {
        if (result.status === 'token-sent') return `Your PDS emailed a confirmation code to the account's address. Run again with it:\n  p2pds rotation-key add ${file} --as ${did} --token CODE\n`
        if (result.status === 'already-listed') return `${key.didKey} is already a rotation key of ${did}.\n`
        return `Added ${key.didKey} to the rotation keys of ${did} (now ${result.rotationKeys.length}; yours is first).\nKeep the key file and phrase safe: with them you can move this identity even if your PDS disappears.\n`
      })
      return 0
    })
  }
  throw new UsageError('p2pds rotation-key takes "new --out FILE" or "add FILE". See p2pds rotation-key --help.')
}

async function rotationKeysVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  return withNode(config, async (n) => {
    const did = await recoveryDid(n, ctx, ctx.positionals[0], 'rotation-keys')
    const r = await n.call('recovery.listRotationKeys', { did })
    print(ctx, r, () => {
      const rows = r.keys.map((k) => [k.position === null ? '-' : String(k.position + 1), k.didKey, k.heldHere ? 'held here' : '', k.position === null ? 'not in the PLC document' : ''])
      const held = r.keys.some((k) => k.heldHere && k.position !== null)
      return table(['#', 'KEY', 'HELD', ''], rows) + (held ? '' : '\nNo rotation key of this DID is held here: without one the identity cannot be moved if the PDS disappears. See p2pds rotation-key --help.\n')
    })
    return 0
  })
}

async function restoreVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const to = stringValue(ctx, 'to')
  const keyFile = stringValue(ctx, 'rotation-key')
  if (to === undefined || keyFile === undefined) throw new UsageError('p2pds restore needs --to <pds-url> and --rotation-key FILE. See p2pds restore --help.')
  const keys = await import('./identity/rotation-keys.js')
  const key = await keys.readRotationKeyFile(resolve(keyFile))
  const rotationKey = keys.rotationKeyFileText(key.privateKey).trim()
  const opt = (name: string, field: string) => (stringValue(ctx, name) === undefined ? {} : { [field]: stringValue(ctx, name)! })
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'restore')
    const input = { did, to, rotationKey, ...opt('handle', 'handle'), ...opt('email', 'email'), ...opt('invite-code', 'inviteCode') }
    if (ctx.values?.['dry-run'] === true) {
      const plan = await n.call('recovery.restorePlan', input)
      print(ctx, plan, () => plan.checks.map((c) => `${c.ok ? 'ok    ' : 'FAILED'} ${c.name.padEnd(12)} ${c.detail}`).join('\n') + `\n\n${plan.ok ? 'Ready: run the same command without --dry-run.' : 'Not ready: fix what FAILED, then try again.'} Nothing was changed.\n`)
      return plan.ok ? 0 : 1
    }
    const email = stringValue(ctx, 'email')
    if (email === undefined) throw new UsageError('p2pds restore needs --email (the new PDS asks for one). See p2pds restore --help.')
    const password = process.env.P2PDS_NEW_PASSWORD ?? (process.stdin.isTTY ? await promptSecret(ctx.io, 'Password for the account on the new PDS: ') : '')
    if (password.length < 8) throw new UsageError('The new account needs a password of at least 8 characters: set P2PDS_NEW_PASSWORD or type it when asked.')
    await n.onEvent((name, data) => {
      // Progress goes to stderr, with --json too (stdout holds only the JSON document).
      if (name !== 'recovery:progress') return
      const p = data as P2pdsEvents['recovery:progress']
      if (p.did !== did || (p.state === 'running' && p.done === null)) return
      const count = p.total === null ? '' : ` ${p.done}/${p.total}`
      ctx.io.err(`${p.name.padEnd(14)} ${p.state}${count}${p.detail === null ? '' : `  ${p.detail}`}\n`)
    })
    const status = await n.call('recovery.restoreStart', { ...input, email, password })
    print(ctx, status, () => `Restored ${did} to ${status.targetUrl} as ${status.handle}. Sign in there with the new password.\n`)
    return 0
  })
}

async function exportKitVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  if (ctx.out === undefined) throw new UsageError('p2pds export-kit needs --out DIR. See p2pds export-kit --help.')
  const dir = resolve(ctx.out)
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'export-kit')
    const kit = await n.call('recovery.exportKit', { did, dir })
    print(ctx, kit, () => `Wrote the recovery kit of ${did} to ${kit.path}: ${kit.files.length} files, ${formatBytes(kit.bytes)}${kit.plcLog === 'none' ? ' (no PLC log)' : ''}. Read its README.md.\n`)
    return 0
  })
}

// --- Peers and storage challenges -------------------------------------------------------------

Object.assign(VERBS, {
  peers: {
    summary: 'peers: connection, score and why; "add <multiaddr|url> [did...]" or "remove <id>" to change the list',
    usage: 'p2pds peers [add <multiaddr|endpoint-url> [did|handle ...] | remove <id>] [--json]',
    example: 'p2pds peers add /ip4/203.0.113.5/tcp/4001/p2p/12D3KooW... alice.bsky.social',
    run: peersVerb,
  },
  challenge: {
    summary: 'challenge peers now (L2 block sample + L3 MST proof) about an account; exit 1 if a peer fails',
    usage: 'p2pds challenge <did|handle> [peer-id] [--json]',
    example: 'p2pds challenge alice.bsky.social',
    run: challengeVerb,
  },
} satisfies Record<string, Verb>)

async function peersVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const [sub, arg, ...rest] = ctx.positionals
  return withNode(config, async (n) => {
    if (sub === 'add') {
      if (arg === undefined) throw new UsageError('p2pds peers add needs a multiaddr (ending in /p2p/<PeerID>) or an endpoint URL. See p2pds peers --help.')
      const dids = await Promise.all(rest.map((d) => heldDid(n, d, 'peers add')))
      const address = /^https?:\/\//.test(arg) ? { endpoint: arg } : { multiaddr: arg }
      const peer = await n.call('peers.add', { ...address, dids })
      print(ctx, peer, () => `Added peer ${peer.id} (${peer.peerId ?? peer.endpoint}); it holds ${peer.dids.length === 0 ? 'no known account yet' : peer.dids.join(', ')}.\n`)
      return 0
    }
    if (sub === 'remove') {
      const id = Number(arg)
      if (!Number.isInteger(id) || id <= 0) throw new UsageError('p2pds peers remove needs the peer id shown by p2pds peers. See p2pds peers --help.')
      await n.call('peers.remove', { id })
      print(ctx, { removed: id }, () => `Removed peer ${id} and its challenge history.\n`)
      return 0
    }
    if (sub !== undefined) throw new UsageError(`Unknown peers subcommand "${sub}": use add or remove. See p2pds peers --help.`)
    const list = await n.call('peers.list')
    print(ctx, list, () => {
      const d = list.detection
      const self = `This node: ${list.self.peerId}${list.self.networking ? '' : ' (libp2p off)'}\n${list.self.multiaddrs.map((a) => `  ${a}\n`).join('')}`
      const figure = `Detection: ${d.blockSamples} blocks per round catch a 5% loss within ${d.rounds} rounds with probability ${(d.probability * 100).toFixed(2)}%.\n`
      if (list.peers.length === 0) return `${self}No peers yet. Add one with: p2pds peers add <multiaddr|url> <did>\n`
      return (
        self +
        table(
          ['ID', 'PEER', 'CONNECTED', 'ACCOUNTS', 'SCORE', 'HEALTH'],
          list.peers.map((p) => [String(p.id), p.peerId ?? p.endpoint ?? '-', p.connected ? 'yes' : 'no', String(p.dids.length), p.score === null ? '-' : `${Math.round(p.score * 100)}%`, p.health]),
        ) +
        list.peers.map((p) => `${p.id}: ${p.explanation}\n`).join('') +
        figure
      )
    })
    return 0
  })
}

async function challengeVerb(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  return withNode(config, async (n) => {
    const did = await heldDid(n, ctx.positionals[0], 'challenge')
    const peerArg = ctx.positionals[1]
    let peer: number | undefined
    if (peerArg !== undefined) {
      const list = (await n.call('peers.list')).peers
      peer = list.find((p) => String(p.id) === peerArg || p.peerId === peerArg)?.id
      if (peer === undefined) throw new UsageError(`No peer ${peerArg} is known. List peers with: p2pds peers`)
    }
    const results = await n.call('peers.challenge', { did, peer })
    print(ctx, results, () => results.map((r) => `${r.level} peer ${r.peer} via ${r.transport}: ${r.ok ? 'ok    ' : `FAILED (${r.reason})`} ${r.message}`).join('\n') + '\n')
    return results.every((r) => r.ok) ? 0 : 1
  })
}

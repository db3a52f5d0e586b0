/**
 * The `p2pds` command. Verbs that read or change node state go through the running node's local
 * API when one holds the data dir, and otherwise open the data dir themselves.
 *
 * Exit status: 0 done; 1 the work failed; 2 bad usage (unknown verb or flag, invalid value).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { resolve } from 'node:path'
import type { ApiEventName, ApiInput, ApiMethodName, ApiOutput, NodeStatusDto, P2pdsEvents, RecordDto, SyncProgressDto } from './api.js'
import { dispatchApiCall } from './api-dispatch.js'
import { CONFIG_VARS, loadConfig, type Config } from './config.js'
import { ConfigError, P2pdsError } from './errors.js'
import { VERSION } from './package-info.js'
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
}

const BASE_OPTIONS = {
  json: { type: 'boolean' },
  out: { type: 'string' },
  rev: { type: 'string' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
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
    return await verb.run({ flags, json: values.json === true, out: str(values.out), rev: str(values.rev), positionals, io, signal: options.signal })
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
      return `Backed up ${account?.handle ?? did} at rev ${result.rev}: ${what}, ${blobs}, ${formatBytes(result.bytesReceived)} received in ${(result.durationMs / 1000).toFixed(1)} s.\n`
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
      ['ACCOUNT', 'REV', 'RECORDS', 'BLOBS', 'SIZE', 'LAST SYNC', 'STATE'],
      list.map((a) => [
        a.handle ?? a.did,
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

/**
 * The `p2pds` command. Verbs that read or change node state go through the running node's local
 * API when one holds the data dir, and otherwise open the data dir themselves.
 *
 * Exit status: 0 done; 1 the work failed; 2 bad usage (unknown verb or flag, invalid value).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { ApiMethodName, ApiOutput, NodeStatusDto } from './api.js'
import { CONFIG_VARS, loadConfig, type Config } from './config.js'
import { ConfigError, P2pdsError } from './errors.js'
import { createNode } from './node.js'
import { VERSION } from './package-info.js'
import { connectToRunningNode } from './server/local-client.js'

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
    summary: 'node state and accounts',
    usage: 'p2pds status [--json] [--data-dir DIR]',
    example: 'p2pds status --json',
    run: status,
  },
}

const BASE_OPTIONS = {
  json: { type: 'boolean' },
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
    return await verb.run({ flags, json: values.json === true, positionals, io, signal: options.signal })
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

/**
 * Calls one API method on the node that holds the data dir, or, when none is running, on a node
 * opened just for this call (no listeners).
 */
async function callNode<N extends ApiMethodName>(config: Config, method: N, input?: unknown): Promise<ApiOutput<N>> {
  const remote = connectToRunningNode(config.dataDir)
  if (remote !== undefined) return remote.call(method, input)
  const node = await createNode({ config, host: 'cli', listen: false })
  await node.start()
  try {
    const [area, name] = method.split('.') as [string, string]
    const group = (node.api as unknown as Record<string, Record<string, (i?: unknown) => Promise<unknown>>>)[area]
    return (await group![name]!(input)) as ApiOutput<N>
  } finally {
    await node.stop()
  }
}

async function status(ctx: VerbContext): Promise<number> {
  const config = loadConfig({ flags: ctx.flags })
  const s = await callNode(config, 'node.status')
  if (ctx.json) {
    ctx.io.out(JSON.stringify(s, null, 2) + '\n')
    return 0
  }
  ctx.io.out(formatStatus(s))
  return 0
}

function formatStatus(s: NodeStatusDto): string {
  const running = s.host !== 'cli'
  const rows: Array<[string, string]> = [
    ['Node', running ? `running (${s.host}, pid ${s.pid}), up ${formatDuration(s.uptimeSec)}` : 'not running'],
    ['Version', s.version],
    ['Data dir', s.dataDir],
    ['Accounts', String(s.accounts)],
  ]
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

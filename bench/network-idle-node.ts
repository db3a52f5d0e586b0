// Child process of the network benchmark: a real node (`createNode`, as `p2pds serve` starts it)
// on a data dir of its own, pointed at the parent's test network, holding the accounts it is
// given, with its firehose connected and the parent's two libp2p peers connected. Once all that
// is up it sits idle for BENCH_IDLE_SEC and measures itself: CPU time (`process.cpuUsage`, every
// thread of the process) over wall time, and RSS sampled every second. Run apart from the parent
// so that the PDS, the PLC and the peers (all in the parent) are not counted.
//
// Talks to the parent over IPC (spawned with an 'ipc' channel; see bench/network.bench.ts):
//   child → {type:'node', peerId, multiaddrs}   started, every account synced, firehose connected
//   parent → {type:'peers', peers:[{peerId, multiaddrs}]}   those peers have dialled the node
//   child → {type:'ready'}                      peers added and connected; settling, then measuring
//   child → {type:'result', …IdleResult}        then it stops the node and exits
// Configured by P2PDS_BENCH_IDLE (JSON {@link IdleChildInit}); logs go to stderr.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { getHeapSpaceStatistics } from 'node:v8'
import { loadConfig } from '../core/config.js'
import { createNode, type P2pdsNode } from '../core/node.js'

/** What the parent gives the child (env P2PDS_BENCH_IDLE). */
export interface IdleChildInit {
  /** The test network's variables (PLC_URL, HANDLE_RESOLVER_URL, FIREHOSE_URL, ALLOW_PRIVATE_NETWORK). */
  env: Record<string, string>
  /** Accounts to hold (on the test PDS). */
  dids: string[]
  /** Length of the measured window, in seconds. */
  idleSec: number
  /** Quiet time between "ready" and the window, in seconds. */
  settleSec: number
}

/** Peers the parent connected to the node. */
export interface IdlePeer {
  peerId: string
  multiaddrs: string[]
}

export type ParentMessage = { type: 'peers'; peers: IdlePeer[] }

/** What the child measured over the window. */
export interface IdleResult {
  seconds: number
  /** CPU time of the whole process (user + system, all threads) over the window, in µs. */
  cpuUserUs: number
  cpuSystemUs: number
  /** Highest and last of the once-a-second RSS samples, in bytes. */
  rssPeak: number
  /** Highest of the once-a-second RSS samples of the settle time before the window, in bytes. */
  rssSettlePeak: number
  rssFinal: number
  /** `process.memoryUsage()` at the end of the window. */
  memory: NodeJS.MemoryUsage
  repos: number
  /** Peers of `peers.list` connected at the end of the window. */
  peersConnected: number
  /** Firehose connection at the end of the window. */
  firehose: string
  /** Timer and I/O callbacks that ran during the window, by async resource type (BENCH_IDLE_TRACE=1 only). */
  callbacks?: Record<string, number>
  /** Garbage collections during the window: count and total pause by kind (BENCH_IDLE_TRACE=1 only). */
  gcs?: Record<string, { count: number; ms: number }>
  /** V8 heap spaces at the end of the window, size and used in bytes (BENCH_IDLE_TRACE=1 only). */
  heapSpaces?: Record<string, { size: number; used: number }>
}

export type ChildMessage =
  | { type: 'node'; peerId: string; multiaddrs: string[] }
  | { type: 'ready' }
  | ({ type: 'result' } & IdleResult)
  | { type: 'error'; message: string }

const send = (m: ChildMessage) => new Promise<void>((resolve, reject) => process.send!(m, (err: Error | null) => (err === null ? resolve() : reject(err))))
const started = performance.now()
const log = (msg: string) => console.error(`network idle node: ${msg} (${((performance.now() - started) / 1000).toFixed(1)} s)`)

if (process.send === undefined || process.env.P2PDS_BENCH_IDLE === undefined) {
  console.error('network-idle-node: runs as a child of network.bench.js (needs P2PDS_BENCH_IDLE and an IPC channel)')
  process.exit(2)
}
const init = JSON.parse(process.env.P2PDS_BENCH_IDLE) as IdleChildInit
// Installed before the node starts, so timers set up at start are known by what they run.
const trace = process.env.BENCH_IDLE_TRACE === '1' ? await traceCallbacks() : undefined
const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-idle-'))
let node: P2pdsNode | undefined
try {
  const config = loadConfig({
    env: {
      ...init.env,
      DATA_DIR: join(dir, 'data'),
      PORT: '0',
      LISTEN_ADDRS: '/ip4/127.0.0.1/tcp/0',
      SECRET_KEY_FILE: join(dir, 'secret.key'),
    },
    // No .env of the working directory: every other setting is the default a user gets.
    cwd: dir,
  })
  node = await createNode({ config, host: 'serve' })
  await node.start()
  const api = node.api
  for (const did of init.dids) await api.accounts.add({ handleOrDid: did })
  await until('every account synced and the firehose connected', 120_000, async () => {
    const accounts = await api.accounts.list()
    const status = await api.node.status()
    return (
      accounts.length === init.dids.length &&
      accounts.every((a) => a.head !== null && !a.syncing && a.lastError === null && a.blobs.missing === 0) &&
      status.sync?.firehose?.connection === 'connected'
    )
  })
  const self = (await api.peers.list()).self
  log(`${init.dids.length} accounts synced, firehose connected; libp2p on ${self.multiaddrs.join(' ')}`)
  await send({ type: 'node', peerId: self.peerId, multiaddrs: self.multiaddrs })

  const { peers } = await new Promise<ParentMessage>((resolve) => process.once('message', (m: ParentMessage) => resolve(m)))
  for (const p of peers) await api.peers.add({ multiaddr: p.multiaddrs[0]! })
  await until(`${peers.length} peers connected`, 30_000, async () => (await api.peers.list()).peers.filter((p) => p.connected).length === peers.length)
  await send({ type: 'ready' })
  log(`ready: ${peers.length} peers connected; settling ${init.settleSec} s, then idle for ${init.idleSec} s`)

  // One full collection now, as after any burst of work: V8's memory reducer then returns the
  // heap the syncs left (within about ten seconds) during the settle time, not in the window.
  globalThis.gc?.()
  let settlePeak = 0
  const settleSampler = setInterval(() => (settlePeak = Math.max(settlePeak, process.memoryUsage.rss())), 1000)
  await sleep(init.settleSec * 1000)
  clearInterval(settleSampler)
  trace?.start()
  const profile = process.env.BENCH_IDLE_CPUPROF === undefined ? undefined : await startProfile(process.env.BENCH_IDLE_CPUPROF)
  let rssPeak = 0
  const t0Sample = performance.now()
  const sample = () => {
    const rss = process.memoryUsage.rss()
    rssPeak = Math.max(rssPeak, rss)
    if (process.env.BENCH_IDLE_RSS_LOG === '1') log(`rss ${((performance.now() - t0Sample) / 1000).toFixed(0)} s: ${(rss / 1048576).toFixed(1)} MiB`)
  }
  sample()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const sampler = setInterval(sample, 1000)
  await sleep(init.idleSec * 1000)
  const cpu = process.cpuUsage(cpu0)
  const seconds = (performance.now() - t0) / 1000
  clearInterval(sampler)
  const rssFinal = process.memoryUsage.rss()
  rssPeak = Math.max(rssPeak, rssFinal)
  const { callbacks, gcs } = trace?.stop() ?? {}
  await profile?.stop()
  const heapSpaces = trace === undefined ? undefined : Object.fromEntries(getHeapSpaceStatistics().map((h) => [h.space_name, { size: h.space_size, used: h.space_used_size }]))
  const list = await api.peers.list()
  const status = await api.node.status()
  await send({
    type: 'result',
    seconds,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rssPeak,
    rssSettlePeak: settlePeak,
    rssFinal,
    memory: process.memoryUsage(),
    repos: (await api.accounts.list()).filter((a) => a.head !== null).length,
    peersConnected: list.peers.filter((p) => p.connected).length,
    firehose: status.sync?.firehose?.connection ?? 'off',
    callbacks,
    gcs,
    heapSpaces,
  })
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`)
  await send({ type: 'error', message: (err as Error).message }).catch(() => undefined)
  process.exitCode = 1
} finally {
  await node?.stop().catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
  // Whatever libp2p or a socket left behind must not keep the parent waiting.
  process.exit()
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not reached within ${timeoutMs / 1000} s: ${what}`)
    await sleep(200)
  }
}

/**
 * Counts the callbacks run between `start()` and `stop()` by async resource type (TCPWRAP, …);
 * timers by period and the start of their function's source, to see what wakes an idle node.
 * Diagnostic only: the hook itself costs CPU.
 */
async function traceCallbacks(): Promise<{ start(): void; stop(): { callbacks: Record<string, number>; gcs: Record<string, { count: number; ms: number }> } }> {
  const { createHook } = await import('node:async_hooks')
  const { PerformanceObserver, constants } = await import('node:perf_hooks')
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  }
  const gcs: Record<string, { count: number; ms: number }> = {}
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = kinds[(e as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other'
      const g = (gcs[kind] ??= { count: 0, ms: 0 })
      g.count++
      g.ms += e.duration
    }
  })
  const names = new Map<number, string>()
  const counts: Record<string, number> = {}
  let counting = false
  const hook = createHook({
    init: (id, type, _trigger, resource) => {
      if (type !== 'Timeout') return void names.set(id, type)
      const t = resource as { _idleTimeout?: number; _onTimeout?: (...a: unknown[]) => unknown }
      const fn = t._onTimeout
      const source = fn === undefined ? '?' : (fn.name !== '' ? fn.name : fn.toString().replace(/\s+/g, ' ').slice(0, 70))
      names.set(id, `Timeout ${t._idleTimeout ?? '?'} ms: ${source}`)
    },
    before: (id) => {
      if (!counting) return
      const name = names.get(id) ?? 'unknown'
      counts[name] = (counts[name] ?? 0) + 1
    },
    destroy: (id) => void names.delete(id),
  }).enable()
  return {
    start() {
      counting = true
      observer.observe({ entryTypes: ['gc'] })
    },
    stop() {
      hook.disable()
      observer.disconnect()
      return { callbacks: Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1])), gcs }
    },
  }
}

/** A CPU profile of the window, written to `file` (open it in Chrome DevTools). Diagnostic only. */
async function startProfile(file: string): Promise<{ stop(): Promise<void> }> {
  const { Session } = await import('node:inspector/promises')
  const { writeFileSync } = await import('node:fs')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(file, JSON.stringify(profile))
      session.disconnect()
    },
  }
}

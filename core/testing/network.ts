/**
 * A real local atproto network (PLC directory + PDS) for tests, demos and benchmarks, built on
 * `TestNetworkNoAppView` from `@atproto/dev-env`.
 *
 * What this adds to dev-env:
 * - both servers listen on 127.0.0.1 only (dev-env has no listen-address option, see
 *   {@link pinToLoopback});
 * - everything dev-env writes (PDS SQLite files, blob store) goes into one temp folder that
 *   `close()` removes;
 * - ports are chosen here, so dev-env's port allocator (which keeps a lock folder in the system
 *   temp dir) is never used;
 * - {@link TestNetwork.env} points a P2PDS node at the network.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PdsConfig, TestNetworkNoAppView, TestPds, TestPlc } from '@atproto/dev-env'

/** The only address the network's servers listen on. */
export const LOOPBACK = '127.0.0.1'

/** How to start a {@link TestNetwork}. Every field is optional. */
export interface TestNetworkInit {
  /** PDS port. @default a free port on 127.0.0.1 */
  pdsPort?: number
  /** PLC directory port. @default a free port on 127.0.0.1 */
  plcPort?: number
  /**
   * Extra PDS settings passed to dev-env (`PDS.fromEnv`), e.g. `{ blobUploadLimit: 1024 }`.
   * `port` and `didPlcUrl` are set by this module. @default {}
   */
  pds?: Omit<Partial<PdsConfig>, 'port' | 'didPlcUrl'>
  /**
   * Parent of the network's temp folder. @default os.tmpdir() (read when the network starts)
   */
  tmpRoot?: string
}

/** Environment variables that point a P2PDS node (`loadConfig`) at a {@link TestNetwork}. */
export interface TestNetworkEnv {
  /** The PLC directory, `http://localhost:PORT`. */
  PLC_URL: string
  /** The PDS, which answers `com.atproto.identity.resolveHandle` for its own handles. */
  HANDLE_RESOLVER_URL: string
  /** The PDS's `com.atproto.sync.subscribeRepos`, `ws://localhost:PORT/xrpc/...`. */
  FIREHOSE_URL: string
  /** The network is on loopback, which a node refuses to fetch from by default. */
  ALLOW_PRIVATE_NETWORK: 'true'
  /** Index signature so the object spreads into `NodeJS.ProcessEnv`. */
  [name: string]: string
}

/** A running local network. Call {@link TestNetwork.close} when done. */
export interface TestNetwork {
  /**
   * The PDS as dev-env names it: `http://localhost:PORT`. Use this exact form: it is the PDS's
   * public URL, OAuth issuer and the service endpoint in every DID document it registers;
   * `http://127.0.0.1:PORT` fails OAuth issuer checks.
   */
  readonly pdsUrl: string
  /** The PLC directory, `http://localhost:PORT`. */
  readonly plcUrl: string
  readonly pdsPort: number
  readonly plcPort: number
  /** Suffix of the handles the PDS hands out, e.g. `.test` (so `alice.test`). */
  readonly handleDomain: string
  /**
   * Every handle suffix the PDS advertises. dev-env also lists `.example`, which is shown in
   * the sign-up UI but does not resolve: use {@link handleDomain}.
   */
  readonly handleDomains: readonly string[]
  /** The folder holding the PDS's data; removed by `close()`. */
  readonly tmpDir: string
  /** dev-env's PDS wrapper, for tests that need internals (`pds.ctx`, `adminAuthHeaders()`). */
  readonly pds: TestPds
  /** dev-env's PLC wrapper (in-memory database). */
  readonly plc: TestPlc
  /** dev-env's network object. */
  readonly network: TestNetworkNoAppView
  /** Variables for `loadConfig({ env: { ...process.env, ...net.env } })`. */
  readonly env: TestNetworkEnv
  /** Stops both servers and removes {@link tmpDir}. Idempotent. */
  close(): Promise<void>
}

/**
 * Starts a PLC directory and a PDS on 127.0.0.1. Takes about 4–5 s the first time in a process
 * (importing dev-env) and well under a second after that.
 *
 * While it runs, `process.env.TMPDIR` points at the network's folder and `net.Server#listen`
 * is wrapped (see {@link pinToLoopback}); both are restored before it returns.
 */
export async function startTestNetwork(init: TestNetworkInit = {}): Promise<TestNetwork> {
  // Imported here, not at the top: dev-env takes seconds to import and only this needs it.
  const { TestNetworkNoAppView } = await import('@atproto/dev-env')

  const tmpDir = await mkdtemp(join(init.tmpRoot ?? tmpdir(), 'p2pds-net-'))
  const [plcPort, pdsPort] = await choosePorts(init.plcPort, init.pdsPort)

  // dev-env puts the PDS's data and blob folders in os.tmpdir() and never removes them; point
  // that at our folder while it creates them (os.tmpdir() reads TMPDIR on every call).
  const savedTmpdir = process.env.TMPDIR
  const unpin = pinToLoopback([plcPort, pdsPort])
  let network: TestNetworkNoAppView
  try {
    process.env.TMPDIR = tmpDir
    network = await TestNetworkNoAppView.create({
      plc: { port: plcPort },
      pds: { ...init.pds, port: pdsPort },
    })
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true })
    throw err
  } finally {
    if (savedTmpdir === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = savedTmpdir
    unpin()
  }

  const pds = network.pds
  const handleDomains = [...pds.ctx.cfg.identity.serviceHandleDomains]
  const pdsUrl = pds.url
  let closing: Promise<void> | undefined
  return {
    pdsUrl,
    plcUrl: network.plc.url,
    pdsPort,
    plcPort,
    handleDomain: handleDomains[0] ?? '.test',
    handleDomains,
    tmpDir,
    pds,
    plc: network.plc,
    network,
    env: {
      PLC_URL: network.plc.url,
      HANDLE_RESOLVER_URL: pdsUrl,
      FIREHOSE_URL: `${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`,
      ALLOW_PRIVATE_NETWORK: 'true',
    },
    close() {
      closing ??= (async () => {
        try {
          await network.close()
        } finally {
          await rm(tmpDir, { recursive: true, force: true })
        }
      })()
      return closing
    },
  }
}

/** Ports for PLC and PDS: the ones asked for, else distinct free ports on 127.0.0.1. */
async function choosePorts(plcPort: number | undefined, pdsPort: number | undefined): Promise<[number, number]> {
  // Hold both probe sockets open together so the two ports differ.
  const probes: net.Server[] = []
  const take = async (): Promise<number> => {
    const server = net.createServer()
    probes.push(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, LOOPBACK, resolve)
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('probe socket has no port')
    return address.port
  }
  try {
    const plc = plcPort ?? (await take())
    const pds = pdsPort ?? (await take())
    return [plc, pds]
  } finally {
    await Promise.all(probes.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}

// --- Binding dev-env's servers to 127.0.0.1 ---------------------------------------------------
//
// dev-env's TestPds / TestPlc and the servers behind them (`PDS.start()`, `PlcServer.start()`)
// call Express's `app.listen(port)` with no host, which binds every interface, and none of them
// takes a listen address (`PDS_HOSTNAME` only sets the public name). `TestPds.create` also
// builds and starts the server in one call, so there is no moment to listen differently. So,
// while the network starts, `net.Server.prototype.listen` is wrapped: a call that gives only one
// of *our* chosen ports (no host) gets `127.0.0.1` added. Calls for any other port pass through
// untouched, and the original method is back as soon as no network is starting.

const pinnedPorts = new Set<number>()
let originalListen: net.Server['listen'] | undefined

function pinToLoopback(ports: readonly number[]): () => void {
  for (const port of ports) pinnedPorts.add(port)
  if (originalListen === undefined) {
    const original = net.Server.prototype.listen
    originalListen = original
    net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
      const [first, second] = args
      if (typeof first === 'number' && pinnedPorts.has(first) && (args.length === 1 || typeof second === 'function')) {
        return (original as (...a: unknown[]) => net.Server).call(this, first, LOOPBACK, ...args.slice(1))
      }
      if (isListenOptions(first) && pinnedPorts.has(Number(first.port)) && first.host === undefined && first.path === undefined) {
        return (original as (...a: unknown[]) => net.Server).call(this, { ...first, host: LOOPBACK }, ...args.slice(1))
      }
      return (original as (...a: unknown[]) => net.Server).apply(this, args)
    } as net.Server['listen']
  }
  return () => {
    for (const port of ports) pinnedPorts.delete(port)
    if (pinnedPorts.size === 0 && originalListen !== undefined) {
      net.Server.prototype.listen = originalListen
      originalListen = undefined
    }
  }
}

function isListenOptions(value: unknown): value is net.ListenOptions {
  return typeof value === 'object' && value !== null && 'port' in value
}

// --- A second PDS on the same PLC (restore drills) ----------------------------------------------

/** A second PDS of a {@link TestNetwork}, on the same PLC directory. */
export interface ExtraPds {
  /** `http://localhost:PORT` (use this exact form, as for {@link TestNetwork.pdsUrl}). */
  readonly url: string
  readonly port: number
  /** dev-env's PDS wrapper (`pds.ctx` for internals). */
  readonly pds: TestPds
  /** Stops it and removes its data. Idempotent. */
  close(): Promise<void>
}

/**
 * Starts another PDS on 127.0.0.1 that registers accounts in `net`'s PLC directory, with its own
 * PLC rotation key and service DID, as a second provider would have.
 */
export async function startExtraPds(net: Pick<TestNetwork, 'plcUrl'>, init: { pds?: Omit<Partial<PdsConfig>, 'port' | 'didPlcUrl'>; tmpRoot?: string } = {}): Promise<ExtraPds> {
  const { TestPds } = await import('@atproto/dev-env')
  const tmpDir = await mkdtemp(join(init.tmpRoot ?? tmpdir(), 'p2pds-pds-'))
  const [, port] = await choosePorts(0, undefined)
  const savedTmpdir = process.env.TMPDIR
  const unpin = pinToLoopback([port])
  let pds: TestPds
  try {
    process.env.TMPDIR = tmpDir
    pds = await TestPds.create({ ...init.pds, port, didPlcUrl: net.plcUrl })
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true })
    throw err
  } finally {
    if (savedTmpdir === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = savedTmpdir
    unpin()
  }
  let closing: Promise<void> | undefined
  return {
    url: pds.url,
    port,
    pds,
    close() {
      closing ??= (async () => {
        try {
          await pds.close()
        } finally {
          await rm(tmpDir, { recursive: true, force: true })
        }
      })()
      return closing
    },
  }
}

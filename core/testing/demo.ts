/**
 * `npm run demo`: a local atproto network with three sample accounts, and a P2PDS node pointed
 * at it that replicates them. Prints the UI link and the accounts' passwords; Ctrl+C stops
 * everything and removes every file it made.
 *
 * {@link startDemo} does the same without the printing and signal handling, for e2e tests.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../config.js'
import { createNode, type P2pdsNode, type P2pdsNodeInit } from '../node.js'
import { createSampleAccounts, recordCounts, type SampleAccounts } from './builders.js'
import { startTestNetwork, type TestNetwork } from './network.js'

/** How to start the demo. Every field is optional. */
export interface DemoInit {
  /**
   * Environment the node's configuration is read from; the network's variables, `DATA_DIR`,
   * `PORT=0`, `REPLICATE_DIDS` and `SECRET_KEY_FILE` are laid over it. @default process.env
   */
  env?: NodeJS.ProcessEnv
  /** Extra node options (host, rendererDir, ...). @default {} */
  node?: Omit<P2pdsNodeInit, 'config'>
  /** Parent of the demo's temp folder. @default os.tmpdir() */
  tmpRoot?: string
}

/** A running demo. */
export interface Demo {
  net: TestNetwork
  sample: SampleAccounts
  node: P2pdsNode
  /** The one folder holding the network's and the node's files; removed by `close()`. */
  dir: string
  /** How long each step took, in ms. */
  timings: { network: number; sampleAccounts: number; node: number; total: number }
  /** Stops the node and the network and removes {@link dir}. Idempotent. */
  close(): Promise<void>
}

/** Starts network, sample accounts and node; undoes whatever was started if a step fails. */
export async function startDemo(init: DemoInit = {}): Promise<Demo> {
  const t0 = Date.now()
  const dir = await mkdtemp(join(init.tmpRoot ?? tmpdir(), 'p2pds-demo-'))
  let net: TestNetwork | undefined
  let node: P2pdsNode | undefined
  const cleanUp = async (): Promise<void> => {
    await node?.stop().catch((err: unknown) => console.error('demo: stopping the node failed:', err))
    await net?.close().catch((err: unknown) => console.error('demo: closing the network failed:', err))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    net = await startTestNetwork({ tmpRoot: dir })
    const t1 = Date.now()
    const sample = await createSampleAccounts(net)
    const t2 = Date.now()
    const base = init.env ?? process.env
    const config = loadConfig({
      env: {
        // Keep libp2p on loopback too unless asked otherwise: this is a local demo.
        LISTEN_ADDRS: '/ip4/127.0.0.1/tcp/0',
        ...base,
        ...net.env,
        DATA_DIR: join(dir, 'data'),
        PORT: '0',
        REPLICATE_DIDS: sample.all.map((a) => a.did).join(','),
        // Never touch the user's real key file.
        SECRET_KEY_FILE: join(dir, 'secret.key'),
      },
    })
    node = await createNode({ host: 'serve', ...init.node, config })
    await node.start()
    const t3 = Date.now()
    let closing: Promise<void> | undefined
    return {
      net,
      sample,
      node,
      dir,
      timings: { network: t1 - t0, sampleAccounts: t2 - t1, node: t3 - t2, total: t3 - t0 },
      close: () => (closing ??= cleanUp()),
    }
  } catch (err) {
    await cleanUp()
    throw err
  }
}

async function main(): Promise<void> {
  console.log('P2PDS demo: starting a local atproto network (PLC + PDS on 127.0.0.1)…')
  let demo: Demo
  try {
    demo = await startDemo()
  } catch (err) {
    console.error('demo: could not start:', err)
    process.exitCode = 1
    return
  }
  const { net, sample, node, dir, timings } = demo
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
  const rows = sample.all.map((a) => {
    const counts = recordCounts(a.created)
    return `  ${a.handle.padEnd(12)} ${a.password.padEnd(12)} ${a.did}  ${counts['app.bsky.feed.post']} posts, ${a.created.blobs.length} blobs`
  })
  console.log(
    `\nP2PDS demo is ready in ${s(timings.total)} ` +
      `(network ${s(timings.network)}, sample accounts ${s(timings.sampleAccounts)}, node ${s(timings.node)}).\n\n` +
      `  UI:        ${node.uiUrl}/#secret=${node.secret}\n` +
      `  PDS:       ${net.pdsUrl}\n` +
      `  PLC:       ${net.plcUrl}\n` +
      `  Data dir:  ${node.config.dataDir}\n\n` +
      `Sample accounts (handle, password, DID) on the PDS:\n${rows.join('\n')}\n\n` +
      `Point another node at this network with:\n  ${Object.entries(net.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}\n\n` +
      `Press Ctrl+C to stop; ${dir} is removed.`,
  )

  let stopping = false
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`demo: ${sig} again, exiting without a clean stop.`)
      rmSync(dir, { recursive: true, force: true })
      process.exit(1)
    }
    stopping = true
    console.error(`demo: ${sig}, stopping…`)
    demo.close().then(
      () => {
        console.error('demo: stopped, temp files removed.')
        process.exit(0)
      },
      (err: unknown) => {
        console.error('demo: stop failed:', err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

// Run only as the entry point (`node dist/core/testing/demo.js`), not when imported.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main()
}

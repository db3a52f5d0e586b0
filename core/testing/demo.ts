/**
 * `npm run demo`: a local atproto network with three sample accounts and two P2PDS nodes on it,
 * Alice's and Bob's, each logged in as its owner. Alice's node also archives every sample account
 * (REPLICATE_DIDS); Alice offers Bob, Bob's node (trusting Alice) accepts, and each node then
 * holds a verified copy of the other's repo: the agreement and the replication show in both UIs.
 * Prints both UI links and the accounts' passwords; Ctrl+C stops everything and removes every
 * file it made.
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
   * Environment the nodes' configuration is read from; the network's variables, `DATA_DIR`,
   * `PORT=0`, `REPLICATE_DIDS` (Alice's node), `TRUSTED_DIDS` (Bob's node) and `SECRET_KEY_FILE`
   * are laid over it. @default process.env
   */
  env?: NodeJS.ProcessEnv
  /** Extra options of both nodes (host, rendererDir, ...). @default {} */
  node?: Omit<P2pdsNodeInit, 'config'>
  /** Form the agreement between Alice and Bob (and wait until each node holds the other). @default true */
  agreement?: boolean
  /** Longest wait for the agreement and the first copies, in ms. @default 60000 */
  agreementTimeoutMs?: number
  /** Parent of the demo's temp folder. @default os.tmpdir() */
  tmpRoot?: string
}

/** A running demo. */
export interface Demo {
  net: TestNetwork
  sample: SampleAccounts
  /** Alice's node (logged in as Alice; archives every sample account). */
  node: P2pdsNode
  /** Bob's node (logged in as Bob; accepts Alice's offer). */
  bob: P2pdsNode
  /** The one folder holding the network's and the node's files; removed by `close()`. */
  dir: string
  /** How long each step took, in ms. */
  timings: { network: number; sampleAccounts: number; node: number; agreement: number; total: number }
  /** Stops the node and the network and removes {@link dir}. Idempotent. */
  close(): Promise<void>
}

/** Starts network, sample accounts and node; undoes whatever was started if a step fails. */
export async function startDemo(init: DemoInit = {}): Promise<Demo> {
  const t0 = Date.now()
  const dir = await mkdtemp(join(init.tmpRoot ?? tmpdir(), 'p2pds-demo-'))
  let net: TestNetwork | undefined
  let node: P2pdsNode | undefined
  let bob: P2pdsNode | undefined
  const cleanUp = async (): Promise<void> => {
    await bob?.stop().catch((err: unknown) => console.error('demo: stopping Bob’s node failed:', err))
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
    const configFor = (name: string, extra: Record<string, string>) =>
      loadConfig({
        env: {
          // Keep libp2p on loopback too unless asked otherwise: this is a local demo.
          LISTEN_ADDRS: '/ip4/127.0.0.1/tcp/0',
          ...base,
          ...net!.env,
          DATA_DIR: join(dir, name, 'data'),
          PORT: '0',
          // Never touch the user's real key file.
          SECRET_KEY_FILE: join(dir, name, 'secret.key'),
          ...extra,
        },
      })
    node = await createNode({ host: 'serve', ...init.node, config: configFor('alice', { REPLICATE_DIDS: sample.all.map((a) => a.did).join(',') }) })
    bob = await createNode({ host: 'serve', ...init.node, config: configFor('bob', { TRUSTED_DIDS: sample.alice.did }) })
    await Promise.all([node.start(), bob.start()])
    await node.api.auth.loginAppPassword({ identifier: sample.alice.handle, password: sample.alice.password })
    await bob.api.auth.loginAppPassword({ identifier: sample.bob.handle, password: sample.bob.password })
    const t3 = Date.now()
    if (init.agreement ?? true) await formAgreement(node, bob, sample, init.agreementTimeoutMs ?? 60_000)
    const t4 = Date.now()
    let closing: Promise<void> | undefined
    return {
      net,
      sample,
      node,
      bob,
      dir,
      timings: { network: t1 - t0, sampleAccounts: t2 - t1, node: t3 - t2, agreement: t4 - t3, total: t4 - t0 },
      close: () => (closing ??= cleanUp()),
    }
  } catch (err) {
    await cleanUp()
    throw err
  }
}

/**
 * Alice offers Bob; Bob's node, trusting Alice, offers back at once; resolves when each node
 * holds a synced copy of the other's repo under an active agreement.
 */
async function formAgreement(alice: P2pdsNode, bob: P2pdsNode, sample: SampleAccounts, timeoutMs: number): Promise<void> {
  await alice.api.offers.offer({ target: sample.bob.did })
  const deadline = Date.now() + timeoutMs
  const holds = async (n: P2pdsNode, did: string): Promise<boolean> =>
    (await n.api.offers.list()).agreements.some((a) => a.did === did && a.type === 'reciprocal' && a.state === 'active') &&
    (await n.api.accounts.list()).some((a) => a.did === did && a.head !== null)
  while (!((await holds(alice, sample.bob.did)) && (await holds(bob, sample.alice.did)))) {
    if (Date.now() > deadline) throw new Error(`demo: the agreement between Alice and Bob did not form within ${timeoutMs / 1000} s`)
    // Without a push (a blocked port), the check reads both repos.
    await Promise.all([alice.api.offers.check(), bob.api.offers.check()])
    await new Promise((r) => setTimeout(r, 250))
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
  const { net, sample, node, bob, dir, timings } = demo
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
  const rows = sample.all.map((a) => {
    const counts = recordCounts(a.created)
    return `  ${a.handle.padEnd(12)} ${a.password.padEnd(12)} ${a.did}  ${counts['app.bsky.feed.post']} posts, ${a.created.blobs.length} blobs`
  })
  console.log(
    `\nP2PDS demo is ready in ${s(timings.total)} ` +
      `(network ${s(timings.network)}, sample accounts ${s(timings.sampleAccounts)}, nodes ${s(timings.node)}, agreement ${s(timings.agreement)}).\n\n` +
      `  Alice's node UI:  ${node.uiUrl}/#secret=${node.secret}\n` +
      `  Bob's node UI:    ${bob.uiUrl}/#secret=${bob.secret}\n` +
      `  (each logged in as its owner; open Offers to see the agreement and the policies,\n` +
      `   Accounts to see the other's replicated repo)\n\n` +
      `  PDS:       ${net.pdsUrl}\n` +
      `  PLC:       ${net.plcUrl}\n` +
      `  Data dirs: ${node.config.dataDir}, ${bob.config.dataDir}\n\n` +
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

// Child process of the network benchmark: the peer that holds the generated repository and serves
// it on /p2pds/repo/1.0.0, in a process of its own, as a partner's node is on another machine.
// Without it, the holder's reading and sending would share one thread with the fetcher's
// verifying and storing, which no real transfer does (and the HTTP side's server only writes a
// buffer it already holds).
//
// Talks to the parent over IPC (spawned with an 'ipc' channel; see bench/network.bench.ts):
//   child → {type:'serving', peerId, multiaddrs}   the repository is synced and served
//   parent → {type:'stop'}                           then it stops and exits
// Configured by P2PDS_BENCH_HOLDER (JSON {@link HolderInit}); logs go to stderr.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { HeliaNetworkService } from '../core/network/helia-network.js'
import { serveRepos } from '../core/replication/peer-sync-repo.js'
import { syncRepo } from '../core/replication/repo-sync.js'
import { createSqliteStorage, migrate, openDatabase } from '../core/storage/index.js'
import type { AccountIdentity } from '../core/storage/types.js'

/** What the parent gives the child (env P2PDS_BENCH_HOLDER). */
export interface HolderInit {
  /** The repository's account; its pdsUrl is the parent's repository server. */
  identity: AccountIdentity
}

export type HolderMessage = { type: 'serving'; peerId: string; multiaddrs: string[] } | { type: 'error'; message: string }

const send = (m: HolderMessage) => process.send?.(m)
const init = JSON.parse(process.env.P2PDS_BENCH_HOLDER ?? 'null') as HolderInit | null
if (init === null || process.send === undefined) {
  console.error('network-holder: run by bench/network.bench.ts (needs P2PDS_BENCH_HOLDER and an IPC channel)')
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'p2pds-bench-holder-'))
const db = openDatabase(join(dir, 'pds.db'))
migrate(db)
const storage = createSqliteStorage(db)
const network = new HeliaNetworkService({ blocks: storage.blocks, privateKey: await generateKeyPair('Ed25519'), listenAddrs: ['/ip4/127.0.0.1/tcp/0'] })
const done = new Promise<void>((resolve) => process.on('message', (m: { type?: string }) => m.type === 'stop' && resolve()))
process.on('disconnect', () => process.exit(0))
try {
  await syncRepo(storage, init.identity, { mode: 'full' })
  await network.start()
  await serveRepos(network, storage)
  send({ type: 'serving', peerId: network.peerId, multiaddrs: network.info().multiaddrs })
  await done
} catch (err) {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) })
} finally {
  await network.stop().catch(() => undefined)
  db.close()
  rmSync(dir, { recursive: true, force: true })
  process.disconnect()
}

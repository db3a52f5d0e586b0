/**
 * The nodes and data dirs a test file starts: `tempNodes(prefix)` registers an `afterEach` that
 * stops every node still tracked and removes every data dir made, so each test starts clean.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import type { P2pdsNode } from '../node.js'

export interface TempNodes {
  /** A fresh data dir under the system's temp dir, removed after the test. */
  newDir(): string
  /** Stops the node after the test (unless {@link release}d first); returns it. */
  track<T extends P2pdsNode>(node: T): T
  /** Forgets a node the test stopped itself. */
  release(node: P2pdsNode): void
}

export function tempNodes(prefix: string): TempNodes {
  const dirs: string[] = []
  const nodes: P2pdsNode[] = []
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop()
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  return {
    newDir() {
      const dir = mkdtempSync(join(tmpdir(), prefix))
      dirs.push(dir)
      return dir
    },
    track(node) {
      nodes.push(node)
      return node
    },
    release(node) {
      const i = nodes.indexOf(node)
      if (i >= 0) nodes.splice(i, 1)
    },
  }
}

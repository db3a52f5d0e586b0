// The `p2pds` command as a user runs it: separate processes, real data dirs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NodeStatusDto } from '../core/api.js'
import { requireBuild, runCli } from './helpers.js'

let dir: string
beforeEach(() => {
  requireBuild()
  dir = mkdtempSync(join(tmpdir(), 'p2pds-e2e-cli-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('p2pds command', () => {
  it('status --json works without a node and against a running one', async () => {
    const offline = runCli(['status', '--json', '--data-dir', dir])
    expect(await offline.exited).toBe(0)
    expect((JSON.parse(offline.stdout()) as NodeStatusDto).host).toBe('cli')

    const serve = runCli(['serve', '--data-dir', dir, '--port', '0'])
    try {
      await serve.waitFor(/Press Ctrl\+C/)
      const online = runCli(['status', '--json', '--data-dir', dir])
      expect(await online.exited).toBe(0)
      const s = JSON.parse(online.stdout()) as NodeStatusDto
      expect(s.host).toBe('serve')
      expect(s.pid).toBe(serve.child.pid)
      expect(s.state).toBe('started')
    } finally {
      serve.child.kill('SIGTERM')
      expect(await serve.exited).toBe(0)
    }
  })

  it('a second node on the same data dir is refused with one line', async () => {
    const first = runCli(['serve', '--data-dir', dir, '--port', '0'])
    try {
      await first.waitFor(/Press Ctrl\+C/)
      const second = runCli(['serve', '--data-dir', dir, '--port', '0'])
      expect(await second.exited).toBe(1)
      expect(second.stderr()).toBe(
        `p2pds: The data dir ${dir} is in use by another P2PDS node (pid ${first.child.pid}). Stop that node first, or choose another data dir with --data-dir.\n`,
      )
      expect(second.stdout()).toBe('')
    } finally {
      first.child.kill('SIGTERM')
      await first.exited
    }
  })

  it('a bad configuration value stops start-up with one line naming it', async () => {
    writeFileSync(join(dir, '.env'), 'SYNC_INTERVAL_SEC=soon\n')
    const r = runCli(['serve', '--data-dir', dir], { PORT: '0' })
    expect(await r.exited).toBe(2)
    expect(r.stderr()).toBe('p2pds: Invalid SYNC_INTERVAL_SEC="soon": expected a whole number of seconds from 10.\n')
  })

  it('a node killed with SIGKILL leaves nothing that blocks the next start', async () => {
    const first = runCli(['serve', '--data-dir', dir, '--port', '0'])
    await first.waitFor(/Press Ctrl\+C/)
    first.child.kill('SIGKILL')
    await first.exited
    const again = runCli(['serve', '--data-dir', dir, '--port', '0'])
    try {
      await again.waitFor(/Press Ctrl\+C/)
      const s = runCli(['status', '--json', '--data-dir', dir])
      expect(await s.exited).toBe(0)
      expect((JSON.parse(s.stdout()) as NodeStatusDto).pid).toBe(again.child.pid)
    } finally {
      again.child.kill('SIGTERM')
      await again.exited
    }
  })
})

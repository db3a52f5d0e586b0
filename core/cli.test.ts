import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NodeStatusDto } from './api.js'
import { main } from './cli.js'
import { loadConfig } from './config.js'
import { createNode } from './node.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pds-cli-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) })
  return { code, out, err }
}

describe('p2pds CLI', () => {
  it('status --json without a running node reads the data dir itself', async () => {
    const r = await run('status', '--json', '--data-dir', dir)
    expect(r.code).toBe(0)
    const s = JSON.parse(r.out) as NodeStatusDto
    expect(s.host).toBe('cli')
    expect(s.dataDir).toBe(dir)
    expect(s.listeners).toEqual({ ui: null, peer: null })
  })

  it('status --json talks to the node that holds the data dir', async () => {
    const node = await createNode({ config: loadConfig({ env: { DATA_DIR: dir, PORT: '0' } }), host: 'test' })
    await node.start()
    try {
      const r = await run('status', '--json', '--data-dir', dir)
      expect(r.code).toBe(0)
      const s = JSON.parse(r.out) as NodeStatusDto
      expect(s.host).toBe('test') // answered by the running node, not a CLI-opened one
      expect(s.listeners.ui).toBe(node.uiUrl)
      const human = await run('status', '--data-dir', dir)
      expect(human.out).toMatch(/^Node\s+running \(test, pid \d+\)/)
    } finally {
      await node.stop()
    }
  })

  it('a bad configuration value gives one line and exit status 2', async () => {
    const r = await run('status', '--data-dir', dir, '--port', 'eighty')
    expect(r.code).toBe(2)
    expect(r.err).toBe('p2pds: Invalid PORT="eighty": expected a port number from 0 to 65535.\n')
    expect(r.out).toBe('')
  })

  it('unknown verbs and flags are usage errors', async () => {
    expect((await run('explode')).code).toBe(2)
    const flag = await run('status', '--no-such-flag')
    expect(flag.code).toBe(2)
    expect(flag.err).toMatch(/^p2pds: .*--no-such-flag.*See p2pds --help\.\n$/)
  })

  it('--help lists verbs with examples and every configuration flag', async () => {
    const r = await run('--help')
    expect(r.code).toBe(0)
    expect(r.out).toContain('serve')
    expect(r.out).toContain('e.g. p2pds status --json')
    expect(r.out).toContain('--plc-url')
    expect(r.out).toContain('--allow-private-network')
    const verb = await run('serve', '--help')
    expect(verb.out).toContain('Usage: p2pds serve')
  })

  it('serve prints the UI link with its secret and stops on signal', async () => {
    const controller = new AbortController()
    let out = ''
    const done = main(['serve', '--data-dir', dir, '--port', '0'], { out: (t) => (out += t), err: () => {} }, { signal: controller.signal })
    while (!out.includes('Press Ctrl+C')) await new Promise((r) => setTimeout(r, 20))
    const link = /UI:\s+(http:\/\/127\.0\.0\.1:\d+)\/#secret=([\w-]+)/.exec(out)
    expect(link).not.toBeNull()
    const res = await fetch(`${link![1]}/api/node.status`, { method: 'POST', headers: { authorization: `Bearer ${link![2]}` } })
    expect(res.status).toBe(200)
    controller.abort()
    expect(await done).toBe(0)
    await expect(fetch(`${link![1]}/`)).rejects.toThrow()
  })
})

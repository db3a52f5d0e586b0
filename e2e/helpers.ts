/** Shared pieces of the end-to-end journeys: the built CLI as a separate process, and Chromium. */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser } from 'playwright-core'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const CLI = join(ROOT, 'bin', 'p2pds.js')
export const ARTIFACTS = join(ROOT, 'test-results')

/** Debian's Chromium (CHROMIUM_PATH overrides). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Fails with a sentence that says what to do when the build is missing. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, 'dist', 'core', 'cli.js')) || !existsSync(join(ROOT, 'dist', 'renderer', 'index.html'))) {
    throw new Error('The app is not built: run `npm run build` (npm test does it first).')
  }
}

/** Fails with a sentence that says what to do when the build or Chromium is missing. */
export function requireBuildAndChromium(): void {
  requireBuild()
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH.`)
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  })
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true })
  return join(ARTIFACTS, name)
}

/** A `p2pds` process: its output so far, and a way to wait for a line. */
export interface CliProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  exited: Promise<number | null>
}

/** Runs the built CLI as its own process (as a user would). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  // Run from a neutral folder so a developer's own .env in the checkout cannot change the test.
  const child = spawn(process.execPath, [CLI, ...args], { cwd: tmpdir(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const m = pattern.exec(out)
        if (m !== null) return m
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`p2pds ${args.join(' ')}: no ${pattern} in output.\nstdout: ${out}\nstderr: ${err}`)
        }
        await new Promise((r) => setTimeout(r, 25))
      }
    },
  }
}

/** A running `p2pds serve`: the process, the UI link (with its one-time secret) and the UI's origin. */
export interface ServeUi {
  serve: CliProcess
  /** `http://127.0.0.1:PORT/#secret=…`, as printed. */
  link: string
  /** `http://127.0.0.1:PORT`. */
  origin: string
}

/** Stops a `p2pds serve` still running (for clean-up; a test that checks the stop does it itself). */
export async function stopServe(ui: ServeUi | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (ui === undefined || ui.serve.child.exitCode !== null) return
  ui.serve.child.kill(signal)
  await ui.serve.exited
}

/** Starts `p2pds serve --data-dir DIR --port 0` as its own process and waits for its UI link. */
export async function startServe(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<ServeUi> {
  const serve = runCli(['serve', '--data-dir', dataDir, '--port', '0'], env)
  try {
    const m = await serve.waitFor(/UI:\s+(http:\/\/127\.0\.0\.1:\d+)\/#secret=[\w-]+/)
    return { serve, link: m[0].replace(/^UI:\s+/, ''), origin: m[1]! }
  } catch (err) {
    // Never leave a half-started node behind (it holds the data dir's lock).
    if (serve.child.exitCode === null) serve.child.kill('SIGKILL')
    await serve.exited
    throw err
  }
}

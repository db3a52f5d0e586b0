/**
 * Test-only loaders for the upstream vectors in `../shared/fixtures/` beside the checkout (see its
 * README). They are the first test of every parser and verifier, so they are never skipped: a
 * missing folder or file fails the test with a message saying where it was expected.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (this file is `core/testing/fixtures.ts`). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** `../shared/fixtures`, beside the checkout. */
export const FIXTURES_DIR = join(REPO_ROOT, '..', 'shared', 'fixtures')

/** Absolute path of a fixture file or folder, relative to the fixtures folder; throws when it is missing. */
export function fixturePath(relative: string): string {
  const path = join(FIXTURES_DIR, relative)
  if (!existsSync(path)) {
    throw new Error(
      `Upstream fixture ${relative} is missing: expected it at ${path}. ` +
        'The fixtures live in ../shared/fixtures beside the checkout (CI provides them; see its README.md); restore that folder.',
    )
  }
  return path
}

/** A fixture file's bytes. */
export function readFixture(relative: string): Buffer {
  return readFileSync(fixturePath(relative))
}

/** A JSON fixture, parsed (the type is the caller's claim, not checked). */
export function readJsonFixture<T = unknown>(relative: string): T {
  return JSON.parse(readFixture(relative).toString('utf8')) as T
}

/**
 * Values of an `interop/syntax/<name>.txt` file: one per line; empty lines and lines starting
 * with `#` are comments. Lines are NOT trimmed (some cases depend on spaces).
 */
export function syntaxVectors(name: string): string[] {
  const text = readFixture(join('interop', 'syntax', `${name}.txt`)).toString('utf8')
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'))
}

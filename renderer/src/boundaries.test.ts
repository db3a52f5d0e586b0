import { describe, expect, it } from 'vitest'

// The renderer sees only window.p2pds: core may be imported for types, never at runtime, and
// Node or Electron never (they do not exist in the page).
const sources = import.meta.glob<string>(['./**/*.ts', './**/*.tsx', '!./**/*.test.ts'], { query: '?raw', import: 'default', eager: true })

function imports(text: string): Array<{ line: string; typeOnly: boolean; from: string }> {
  const out: Array<{ line: string; typeOnly: boolean; from: string }> = []
  const re = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm
  for (const m of text.matchAll(re)) out.push({ line: m[0].trim(), typeOnly: m[2] !== undefined, from: m[3] ?? m[4] ?? '' })
  return out
}

describe('renderer boundaries', () => {
  it('finds the renderer sources', () => {
    expect(Object.keys(sources)).toContain('./main.tsx')
  })

  it('imports core only with `import type`, and never node:* or electron', () => {
    const offending: string[] = []
    for (const [file, text] of Object.entries(sources)) {
      for (const i of imports(text)) {
        const core = i.from.includes('/core/')
        if ((core && !i.typeOnly) || i.from.startsWith('node:') || i.from === 'electron') offending.push(`${file}: ${i.line}`)
      }
    }
    expect(offending).toEqual([])
  })
})

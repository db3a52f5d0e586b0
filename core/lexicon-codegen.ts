/**
 * Generates `core/lexicon-types.ts` from the schemas in `lexicons/`, so the TypeScript types of
 * records and method bodies are derived from the lexicons, never written a second time.
 *
 * `lexicons.test.ts` fails when the file on disk differs from what this produces; run
 * `UPDATE_LEXICON_TYPES=1 npx vitest run core/lexicons.test.ts` to rewrite it after changing a schema.
 */
import type { LexiconDoc, LexObject, LexUserType } from '@atproto/lexicon'

type Prop = NonNullable<LexObject['properties']>[string]

/** `org.p2pds.replication.offer` → `OrgP2pdsReplicationOffer`. */
export function typeName(nsid: string, def = 'main'): string {
  const base = nsid
    .split('.')
    .map((s) => s.charAt(0).toUpperCase() + s.slice(1))
    .join('')
  return def === 'main' ? base : `${base}${def.charAt(0).toUpperCase()}${def.slice(1)}`
}

/** The source text of `core/lexicon-types.ts` for `docs`. */
export function generateLexiconTypes(docs: readonly LexiconDoc[]): string {
  const sorted = [...docs].sort((a, b) => a.id.localeCompare(b.id))
  const out: string[] = [
    '// Generated from lexicons/ by core/lexicon-codegen.ts. Do not edit: change the schema, then run',
    '// `UPDATE_LEXICON_TYPES=1 npx vitest run core/lexicons.test.ts`.',
    '',
  ]
  const records: string[] = []
  const inputs: string[] = []
  const outputs: string[] = []
  for (const doc of sorted) {
    for (const [name, def] of Object.entries(doc.defs) as Array<[string, LexUserType]>) {
      const tn = typeName(doc.id, name)
      const own = 'description' in def ? def.description : undefined
      const doc1 = own ?? (name === 'main' ? doc.description : undefined)
      if (def.type === 'record') {
        out.push(...comment(doc1), `export interface ${tn} {`, `  $type: '${doc.id}'`, ...objectBody(doc.id, def.record, '  '), '}', '')
        records.push(`  '${doc.id}': ${tn}`)
      } else if (def.type === 'object') {
        out.push(...comment(doc1), `export interface ${tn} {`, ...objectBody(doc.id, def, '  '), '}', '')
      } else if (def.type === 'procedure' || def.type === 'query') {
        const input = def.type === 'procedure' ? def.input?.schema : undefined
        if (input?.type === 'object') {
          out.push(...comment(`Input of ${doc.id}.`), `export interface ${tn}Input {`, ...objectBody(doc.id, input, '  '), '}', '')
          inputs.push(`  '${doc.id}': ${tn}Input`)
        }
        const output = def.output?.schema
        if (output?.type === 'object') {
          out.push(...comment(`Output of ${doc.id}.`), `export interface ${tn}Output {`, ...objectBody(doc.id, output, '  '), '}', '')
          outputs.push(`  '${doc.id}': ${tn}Output`)
        }
      }
    }
  }
  out.push('/** Every record type, by NSID. */', 'export interface LexiconRecords {', ...records, '}', '')
  out.push('/** The JSON input of every procedure, by NSID. */', 'export interface LexiconProcedureInputs {', ...inputs, '}', '')
  out.push('/** The JSON output of every method that has one, by NSID. */', 'export interface LexiconMethodOutputs {', ...outputs, '}', '')
  return out.join('\n')
}

function comment(text: string | undefined): string[] {
  return text === undefined ? [] : [`/** ${text.replaceAll('*/', '*\\/')} */`]
}

function objectBody(nsid: string, obj: LexObject, indent: string): string[] {
  const required = new Set(obj.required ?? [])
  const nullable = new Set(obj.nullable ?? [])
  const lines: string[] = []
  for (const [name, prop] of Object.entries(obj.properties ?? {})) {
    if ('description' in prop && prop.description !== undefined) lines.push(`${indent}/** ${prop.description.replaceAll('*/', '*\\/')} */`)
    const t = propType(nsid, prop) + (nullable.has(name) ? ' | null' : '')
    lines.push(`${indent}${name}${required.has(name) ? '' : '?'}: ${t}`)
  }
  return lines
}

function propType(nsid: string, prop: Prop | { type: string; [k: string]: unknown }): string {
  switch (prop.type) {
    case 'string': {
      const known = (prop as { knownValues?: string[] }).knownValues
      return known === undefined ? 'string' : `${known.map((k) => `'${k}'`).join(' | ')} | (string & {})`
    }
    case 'integer':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'bytes':
      return 'Uint8Array'
    case 'cid-link':
      return 'import("multiformats/cid").CID'
    case 'blob':
      return 'import("@atproto/lexicon").BlobRef'
    case 'unknown':
      return 'unknown'
    case 'array':
      return `Array<${propType(nsid, (prop as { items: Prop }).items)}>`
    case 'ref': {
      // Loaded schemas carry refs as `lex:<nsid>#<def>` (@atproto/lexicon normalizes them).
      const ref = (prop as { ref: string }).ref.replace(/^lex:/, '')
      const [id, def] = ref.startsWith('#') ? [nsid, ref.slice(1)] : (ref.split('#') as [string, string | undefined])
      return typeName(id, def ?? 'main')
    }
    case 'union':
      return (prop as { refs: string[] }).refs.map((r) => propType(nsid, { type: 'ref', ref: r })).join(' | ') || 'unknown'
    default:
      return 'unknown'
  }
}

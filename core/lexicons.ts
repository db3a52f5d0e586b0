/**
 * The lexicon schemas of `lexicons/` (every `*.json` below it), loaded into `@atproto/lexicon`,
 * and validation of records and XRPC bodies against them.
 *
 * Records are validated before they are published and when they are read from someone else's
 * repo; a record that fails is refused with {@link InvalidRecordError} (one line saying why).
 *
 * Two checks the library leaves to the PDS are added here, so that every interop lexicon vector
 * is honoured: a named def of type `unknown` is refused when a schema loads, and a record's blob
 * fields must respect their `maxSize` and `accept`.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isValidRecordKey } from '@atproto/syntax'
import { jsonToLex, lexToJson, Lexicons, parseLexiconDoc, type LexiconDoc } from '@atproto/lexicon'
import { InvalidRecordError } from './errors.js'
import type { LexiconProcedureInputs, LexiconRecords } from './lexicon-types.js'
import { PACKAGE_ROOT } from './package-info.js'

export type { LexiconProcedureInputs, LexiconRecords } from './lexicon-types.js'

/** The folder holding P2PDS's lexicon schemas. */
export const LEXICONS_DIR = join(PACKAGE_ROOT, 'lexicons')

/** NSIDs of the records and methods P2PDS itself publishes or serves. */
export const NSID = {
  peer: 'org.p2pds.peer',
  offer: 'org.p2pds.replication.offer',
  consent: 'org.p2pds.replication.consent',
  notifyOffer: 'org.p2pds.replication.notifyOffer',
} as const

/** A set of loaded schemas that validates values against them. */
export interface LexiconSet {
  /** Every NSID loaded, sorted. */
  readonly nsids: readonly string[]
  /** The parsed schema document of an NSID, or undefined. */
  doc(nsid: string): LexiconDoc | undefined
  /**
   * Checks a record (atproto JSON or lex values) against its lexicon and returns it in lex form
   * (CIDs as `CID`, bytes as `Uint8Array`) with `$type` set. Throws {@link InvalidRecordError}.
   */
  validateRecord<N extends keyof LexiconRecords>(nsid: N, value: unknown): LexiconRecords[N]
  validateRecord(nsid: string, value: unknown): Record<string, unknown>
  /** Checks the JSON input of a procedure. Throws {@link InvalidRecordError}. */
  validateInput<N extends keyof LexiconProcedureInputs>(nsid: N, value: unknown): LexiconProcedureInputs[N]
}

/**
 * Parses and checks one schema document. Throws {@link InvalidRecordError} (nsid `lexicon`)
 * naming the first problem.
 */
export function parseLexicon(value: unknown): LexiconDoc {
  let doc: LexiconDoc
  try {
    doc = parseLexiconDoc(value)
  } catch (err) {
    throw new InvalidRecordError('lexicon', firstLine(err))
  }
  for (const [name, def] of Object.entries(doc.defs)) {
    // The spec allows `unknown` only as the type of a field, never as a named definition.
    if (def.type === 'unknown') throw new InvalidRecordError('lexicon', `${doc.id}#${name}: a definition cannot have type "unknown"`)
  }
  return doc
}

/** Loads every `*.json` under `dir` (recursively) into a {@link LexiconSet}. */
export function loadLexicons(dir: string = LEXICONS_DIR): LexiconSet {
  const docs: LexiconDoc[] = []
  for (const file of jsonFiles(dir)) {
    let json: unknown
    try {
      json = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new InvalidRecordError('lexicon', `${file} is not valid JSON: ${firstLine(err)}`)
    }
    try {
      docs.push(parseLexicon(json))
    } catch (err) {
      throw new InvalidRecordError('lexicon', `${file}: ${(err as InvalidRecordError).reason}`)
    }
  }
  return createLexiconSet(docs)
}

/** A {@link LexiconSet} of already parsed documents. */
export function createLexiconSet(docs: Iterable<LexiconDoc>): LexiconSet {
  const lex = new Lexicons()
  const byId = new Map<string, LexiconDoc>()
  for (const doc of docs) {
    lex.add(doc)
    byId.set(doc.id, doc)
  }
  const validateRecord = (nsid: string, value: unknown): Record<string, unknown> => {
    if (!byId.has(nsid)) throw new InvalidRecordError(nsid, 'no lexicon with this NSID is loaded')
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidRecordError(nsid, 'a record is an object')
    const lexValue = { ...(jsonToLex(value) as Record<string, unknown>) }
    const type = lexValue.$type
    if (type === undefined) lexValue.$type = nsid
    else if (type !== nsid) throw new InvalidRecordError(nsid, `its $type is ${JSON.stringify(type)}`)
    try {
      lex.assertValidRecord(nsid, lexValue)
    } catch (err) {
      throw new InvalidRecordError(nsid, firstLine(err))
    }
    checkBlobConstraints(byId.get(nsid)!, lexValue)
    return lexValue
  }
  return {
    nsids: [...byId.keys()].sort(),
    doc: (nsid) => byId.get(nsid),
    validateRecord: validateRecord as LexiconSet['validateRecord'],
    validateInput: ((nsid: string, value: unknown) => {
      if (!byId.has(nsid)) throw new InvalidRecordError(nsid, 'no lexicon with this NSID is loaded')
      try {
        lex.assertValidXrpcInput(nsid, value)
      } catch (err) {
        throw new InvalidRecordError(nsid, firstLine(err))
      }
      return value
    }) as LexiconSet['validateInput'],
  }
}

let shared: LexiconSet | undefined

/** The schemas of `lexicons/`, loaded once per process. */
export function lexicons(): LexiconSet {
  shared ??= loadLexicons()
  return shared
}

/** {@link LexiconSet.validateRecord} against the schemas of `lexicons/`. */
export function validateRecord<N extends keyof LexiconRecords>(nsid: N, value: unknown): LexiconRecords[N] {
  return lexicons().validateRecord(nsid, value)
}

/** A record in atproto JSON form (for `createRecord`/`putRecord` bodies). */
export function recordToJson(value: unknown): Record<string, unknown> {
  return lexToJson(value as never) as Record<string, unknown>
}

/**
 * The record key of an offer to `subject` (PROTOCOL.md): the DID with `:` replaced by `-`; null
 * when that is not a valid record key (the PDS then assigns a TID). The record's `subject` field,
 * not its key, says whom an offer is for.
 */
export function offerRkey(subject: string): string | null {
  const rkey = subject.replaceAll(':', '-')
  return isValidRecordKey(rkey) ? rkey : null
}

function checkBlobConstraints(doc: LexiconDoc, value: Record<string, unknown>): void {
  const main = doc.defs.main
  if (main?.type !== 'record') return
  for (const [name, prop] of Object.entries(main.record.properties ?? {})) {
    if (prop.type !== 'blob') continue
    const blob = value[name] as { size?: unknown; mimeType?: unknown } | undefined
    if (blob === undefined || blob === null) continue
    if (prop.maxSize !== undefined && typeof blob.size === 'number' && blob.size > prop.maxSize) {
      throw new InvalidRecordError(doc.id, `${name} is ${blob.size} bytes, more than the ${prop.maxSize} allowed`)
    }
    if (prop.accept !== undefined && typeof blob.mimeType === 'string' && !prop.accept.some((a) => mimeMatches(a, blob.mimeType as string))) {
      throw new InvalidRecordError(doc.id, `${name} has type ${blob.mimeType}, not one of ${prop.accept.join(', ')}`)
    }
  }
}

function mimeMatches(pattern: string, mime: string): boolean {
  if (pattern === '*/*') return true
  if (pattern.endsWith('/*')) return mime.startsWith(pattern.slice(0, -1))
  return pattern === mime
}

function jsonFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...jsonFiles(path))
    else if (entry.isFile() && entry.name.endsWith('.json')) out.push(path)
  }
  return out
}

function firstLine(err: unknown): string {
  // zod errors (schema parsing) list their issues as JSON: name the first one.
  const issues = (err as { issues?: Array<{ path: Array<string | number>; message: string }> }).issues
  if (Array.isArray(issues) && issues[0] !== undefined) {
    const where = issues[0].path.length > 0 ? `${issues[0].path.join('.')}: ` : ''
    return `${where}${issues[0].message}`
  }
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0] ?? message
}

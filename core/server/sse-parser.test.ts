import { describe, expect, it } from 'vitest'
import { createSseParser, type SseEvent } from './sse-parser.js'

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = []
  const p = createSseParser((e) => out.push(e))
  for (const c of chunks) p.push(c)
  return out
}

describe('createSseParser', () => {
  it('parses named events with ids, as the local API writes them', () => {
    expect(parse(['event: node:status\ndata: {"state":"started"}\nid: 1\n\n'])).toEqual([{ event: 'node:status', data: '{"state":"started"}', id: '1' }])
  })

  it('handles events split anywhere across chunks, CRLF pairs included', () => {
    const text = 'event: a\r\ndata: 1\r\n\r\nevent: b\r\ndata: 2\r\n\r\n'
    const whole = parse([text])
    for (let i = 1; i < text.length; i++) expect(parse([text.slice(0, i), text.slice(i)])).toEqual(whole)
    expect(parse(text.split(''))).toEqual(whole)
    expect(whole.map((e) => e.event)).toEqual(['a', 'b'])
  })

  it('joins multi-line data, ignores comments and events without data, and defaults the type', () => {
    expect(parse([': keep-alive\n\n', 'data: x\ndata: y\n\n', 'event: empty\n\n', 'data\n\n', 'data:no-space\rretry: 5\r\r'])).toEqual([
      { event: 'message', data: 'x\ny', id: undefined },
      { event: 'message', data: '', id: undefined },
      { event: 'message', data: 'no-space', id: undefined },
    ])
  })

  it('holds an event until its blank line arrives', () => {
    const out: SseEvent[] = []
    const p = createSseParser((e) => out.push(e))
    p.push('event: a\ndata: 1\n')
    expect(out).toEqual([])
    p.push('\n')
    expect(out).toHaveLength(1)
  })
})

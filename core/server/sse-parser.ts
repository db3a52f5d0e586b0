/**
 * An incremental Server-Sent Events parser (the `text/event-stream` format of the HTML standard,
 * "Interpreting an event stream"), fed with decoded text chunks as they arrive from `fetch()`.
 * The browser-mode bridge needs it because `EventSource` cannot send an Authorization header.
 */

/** One dispatched event. `event` is `'message'` when the stream named none. */
export interface SseEvent {
  event: string
  data: string
  id: string | undefined
}

export interface SseParser {
  /** Feeds decoded text; calls `onEvent` for every event completed by it. */
  push(chunk: string): void
}

export function createSseParser(onEvent: (e: SseEvent) => void): SseParser {
  let buffer = ''
  // A chunk ending in CR may be the first half of a CRLF pair: its LF must not end another line.
  let skipLeadingLf = false
  let eventType = ''
  let data = ''
  let hasData = false
  let lastId: string | undefined

  const line = (text: string): void => {
    if (text === '') {
      // Blank line: dispatch (the standard drops events without a data field).
      if (hasData) onEvent({ event: eventType === '' ? 'message' : eventType, data, id: lastId })
      eventType = ''
      data = ''
      hasData = false
      return
    }
    if (text.startsWith(':')) return // comment (keep-alive)
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? '' : text.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'event':
        eventType = value
        break
      case 'data':
        data = hasData ? `${data}\n${value}` : value
        hasData = true
        break
      case 'id':
        if (!value.includes('\0')) lastId = value
        break
      default:
        // `retry` and unknown fields: the bridge keeps its own reconnection policy.
        break
    }
  }

  return {
    push(chunk) {
      if (chunk === '') return
      if (skipLeadingLf && chunk.startsWith('\n')) chunk = chunk.slice(1)
      skipLeadingLf = false
      buffer += chunk
      let start = 0
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i]
        if (c !== '\n' && c !== '\r') continue
        line(buffer.slice(start, i))
        if (c === '\r') {
          if (i + 1 < buffer.length) {
            if (buffer[i + 1] === '\n') i++
          } else {
            skipLeadingLf = true
          }
        }
        start = i + 1
      }
      buffer = buffer.slice(start)
    },
  }
}

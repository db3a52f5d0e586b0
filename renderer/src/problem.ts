/**
 * The sentences a person sees when talking to the node fails: what happened and what to do,
 * never a stack trace. Errors are matched on their stable `code` (see core/errors.ts).
 */
import type { NodeHost } from '../../core/api.js'

/** The `code` of a thrown error, if it carries one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

function errorMessage(err: unknown): string | undefined {
  if (err instanceof Error && err.message.trim() !== '') return err.message.trim()
  return undefined
}

/** The node stopped answering. Desktop and browser mode are restarted differently. */
export function lostContactSentence(host: NodeHost | null): string {
  if (host === 'desktop') return 'Lost contact with the P2PDS node. It may have stopped; quit P2PDS and open it again.'
  return 'Lost contact with the P2PDS node. It may have stopped; start it again with `p2pds serve` and reload this page.'
}

/** The bridge to the node (preload or `bridge.js`) could not be loaded. */
export function bridgeUnavailableSentence(): string {
  return (
    'Could not connect to the P2PDS node: this page could not load its link to the node. ' +
    'Open the address printed by `p2pds serve` again, or restart P2PDS.'
  )
}

/** A sentence for a failed call, given the host of the node when known. */
export function problemSentence(err: unknown, host: NodeHost | null): string {
  switch (errorCode(err)) {
    case 'ERR_BRIDGE_UNAVAILABLE':
      return bridgeUnavailableSentence()
    case 'ERR_UNAUTHORIZED':
      return (
        'The P2PDS node no longer accepts this page; it has probably restarted with a new access secret. ' +
        'Open the address printed by `p2pds serve` again.'
      )
    case 'ERR_FORBIDDEN_HOST':
    case 'ERR_FORBIDDEN_ORIGIN':
      return 'The P2PDS node refused this page because of the address it was opened at. Open the exact address printed by `p2pds serve`.'
    case 'ERR_NOT_STARTED':
      return 'The P2PDS node is not running. Start it again, and this page will update.'
    case undefined:
    case 'ERR_NODE_UNREACHABLE':
      // No code: the request itself failed (network error, closed IPC), not the node.
      return lostContactSentence(host)
    default: {
      const message = errorMessage(err)
      return message === undefined ? 'The P2PDS node reported a problem it did not describe.' : `The P2PDS node reported a problem: ${message}`
    }
  }
}

/** Splits a sentence on backticks: odd pieces are code (`p2pds serve`). */
export function splitCode(sentence: string): Array<{ text: string; code: boolean }> {
  return sentence
    .split('`')
    .map((text, i) => ({ text, code: i % 2 === 1 }))
    .filter((p) => p.text !== '')
}

/** The message an error carries, from an `Error` or a plain `{ message }` object. */
export function messageOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string' && err.message.trim() !== '') {
    return err.message.trim()
  }
  return undefined
}

/**
 * The sentence of a failed action (adding, syncing, exporting…). The node's messages are written
 * for people, so they are shown as they are; Electron's bridge rejects with plain
 * `{ name, code, message }` objects rather than `Error`s. A request that got no answer at all (no
 * code, or a `TypeError` from `fetch`) says contact was lost.
 */
export function actionSentence(err: unknown, host: NodeHost | null = null): string {
  const message = messageOf(err)
  if (errorCode(err) === undefined && (message === undefined || err instanceof TypeError)) return lostContactSentence(host)
  return message ?? 'The P2PDS node reported a problem it did not describe.'
}

import { describe, expect, it } from 'vitest'
import { actionSentence, errorCode, lostContactSentence, messageOf, problemSentence, splitCode } from './problem.js'

function coded(code: string, message = 'Something went wrong.'): Error & { code: string } {
  return Object.assign(new Error(message), { code })
}

describe('problemSentence', () => {
  it('says contact was lost when the call itself failed, with the way back for each host', () => {
    expect(problemSentence(new TypeError('Failed to fetch'), 'serve')).toBe(
      'Lost contact with the P2PDS node. It may have stopped; start it again with `p2pds serve` and reload this page.',
    )
    expect(problemSentence(coded('ERR_NODE_UNREACHABLE'), 'desktop')).toBe(lostContactSentence('desktop'))
    expect(lostContactSentence('desktop')).toMatch(/open it again/)
  })

  it('explains a refused secret and a refused address', () => {
    expect(problemSentence(coded('ERR_UNAUTHORIZED'), 'serve')).toMatch(/new access secret/)
    expect(problemSentence(coded('ERR_FORBIDDEN_ORIGIN'), null)).toMatch(/exact address/)
  })

  it('passes on the sentence of other coded errors', () => {
    expect(problemSentence(coded('ERR_SCHEMA_TOO_NEW', 'Update P2PDS to open it.'), 'serve')).toBe(
      'The P2PDS node reported a problem: Update P2PDS to open it.',
    )
    expect(problemSentence({ code: 'ERR_X' }, 'serve')).toBe('The P2PDS node reported a problem it did not describe.')
  })
})

describe('errorCode', () => {
  it('reads only string codes', () => {
    expect(errorCode(coded('ERR_A'))).toBe('ERR_A')
    expect(errorCode({ code: 5 })).toBeUndefined()
    expect(errorCode('ERR_A')).toBeUndefined()
    expect(errorCode(null)).toBeUndefined()
  })
})

describe('splitCode', () => {
  it('marks the pieces between backticks as code', () => {
    expect(splitCode('start it with `p2pds serve` and reload')).toEqual([
      { text: 'start it with ', code: false },
      { text: 'p2pds serve', code: true },
      { text: ' and reload', code: false },
    ])
    expect(splitCode('plain')).toEqual([{ text: 'plain', code: false }])
  })
})

describe('actionSentence', () => {
  it('shows the node’s own sentence, from an Error or a plain object', () => {
    expect(actionSentence(coded('ERR_IDENTITY_NOT_FOUND', 'No account has the handle nobody.test. Check the spelling.'))).toBe(
      'No account has the handle nobody.test. Check the spelling.',
    )
    expect(actionSentence({ name: 'X', code: 'ERR_X', message: ' Plain object sentence. ' })).toBe('Plain object sentence.')
    expect(messageOf({ message: '' })).toBeUndefined()
  })

  it('says contact was lost when no answer came', () => {
    expect(actionSentence(new TypeError('Failed to fetch'), 'serve')).toBe(lostContactSentence('serve'))
    expect(actionSentence(undefined, 'desktop')).toBe(lostContactSentence('desktop'))
  })

  it('has a sentence for a coded error without one', () => {
    expect(actionSentence({ code: 'ERR_X' })).toBe('The P2PDS node reported a problem it did not describe.')
  })
})

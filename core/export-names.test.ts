import { describe, expect, it } from 'vitest'
import { exportFileName } from './export-names.js'

describe('exportFileName', () => {
  it('names the account and the rev, with nothing a file system refuses', () => {
    expect(exportFileName('alice.test', 'did:plc:abc', '3ljlyqit2uk2l', 'car')).toBe('alice.test-3ljlyqit2uk2l.car')
    expect(exportFileName(null, 'did:plc:abc', null, 'car')).toBe('did-plc-abc.car')
    expect(exportFileName('../../etc/passwd', 'did:plc:abc', null, 'tar')).toBe('etc-passwd.tar')
    expect(exportFileName('///', 'did:plc:abc', null, 'car')).toBe('account.car')
  })
})

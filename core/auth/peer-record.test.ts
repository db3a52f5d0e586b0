import { describe, expect, it } from 'vitest'
import { publishableEndpoint } from './peer-record.js'

describe('the endpoint a node publishes in its peer record', () => {
  it('is the public URL when it is https, and http only when private-network URLs are allowed', () => {
    expect(publishableEndpoint('https://node.example.com', false)).toBe('https://node.example.com')
    expect(publishableEndpoint('http://localhost:3000', false)).toBeNull()
    expect(publishableEndpoint('http://localhost:3000', true)).toBe('http://localhost:3000')
    expect(publishableEndpoint(null, true)).toBeNull()
    expect(publishableEndpoint('ftp://x', true)).toBeNull()
  })
})

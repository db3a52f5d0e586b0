import { describe, expect, it } from 'vitest'
import type { P2pdsBridge } from '../../core/api.js'
import { BridgeUnavailableError, ensureBridge } from './bridge.js'

const fakeBridge = { node: {}, on: () => () => {} } as unknown as P2pdsBridge

describe('ensureBridge', () => {
  it('uses the bridge the host already provided without loading anything', async () => {
    const loaded: string[] = []
    const bridge = await ensureBridge({ p2pds: fakeBridge }, { loadScript: async (src) => void loaded.push(src) })
    expect(bridge).toBe(fakeBridge)
    expect(loaded).toEqual([])
  })

  it('loads ./bridge.js when there is no bridge, then returns the one it defined', async () => {
    const target: { p2pds?: P2pdsBridge } = {}
    const loaded: string[] = []
    const bridge = await ensureBridge(target, {
      loadScript: async (src) => {
        loaded.push(src)
        target.p2pds = fakeBridge
      },
    })
    expect(loaded).toEqual(['./bridge.js'])
    expect(bridge).toBe(fakeBridge)
  })

  it('fails with ERR_BRIDGE_UNAVAILABLE when the script cannot load', async () => {
    const err = await ensureBridge({}, { loadScript: () => Promise.reject(new Error('404')) }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BridgeUnavailableError)
    expect((err as BridgeUnavailableError).code).toBe('ERR_BRIDGE_UNAVAILABLE')
  })

  it('fails with ERR_BRIDGE_UNAVAILABLE when the script defines no bridge', async () => {
    await expect(ensureBridge({}, { loadScript: async () => {} })).rejects.toMatchObject({ code: 'ERR_BRIDGE_UNAVAILABLE' })
  })
})

import { describeBlockStore } from './block-store.conformance.js'
import { MemoryBlockStore } from './memory-block-store.js'

// The reference implementation passes the same suite, so the suite tests behaviour, not SQLite.
describeBlockStore('MemoryBlockStore', () => ({ store: new MemoryBlockStore() }))

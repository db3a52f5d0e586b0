import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BlockInUseError } from '../errors.js'
import { describeBlockStore, rawBlock } from './block-store.conformance.js'
import { openDatabase } from './database.js'
import { migrate } from './migrations.js'
import { SqliteBlockStore } from './sqlite-block-store.js'
import { SqliteRepoStore } from './sqlite-repo-store.js'

function openFresh() {
  const dir = mkdtempSync(join(tmpdir(), 'p2pds-blocks-'))
  const db = openDatabase(join(dir, 'pds.db'))
  migrate(db)
  return {
    db,
    close() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

describeBlockStore('SqliteBlockStore', () => {
  const { db, close } = openFresh()
  return { store: new SqliteBlockStore({ db }), close }
})

describe('SqliteBlockStore', () => {
  it('keeps blocks across reopening the database file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pds-blocks-'))
    try {
      const a = rawBlock('persisted')
      let db = openDatabase(join(dir, 'pds.db'))
      migrate(db)
      await new SqliteBlockStore({ db }).putBlock(a.cid, a.bytes)
      db.close()
      db = openDatabase(join(dir, 'pds.db'))
      expect(Buffer.from(await new SqliteBlockStore({ db }).getBlock(a.cid)).toString()).toBe('persisted')
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses to delete a block an account still needs (repository block or stored blob)', async () => {
    const { db, close } = openFresh()
    try {
      const blocks = new SqliteBlockStore({ db })
      const repos = new SqliteRepoStore({ db })
      const [record, blob, loose] = [rawBlock('record'), rawBlock('blob'), rawBlock('loose')]
      await blocks.putBlocks([record, loose])
      await repos.upsertAccount({ did: 'did:plc:alice', pdsUrl: 'http://pds', signingKey: 'did:key:z' })
      db.prepare("INSERT INTO block_refs (did, cid, kind) VALUES ('did:plc:alice', ?, 'record')").run(record.cid)
      await repos.storeBlob('did:plc:alice', blob.cid, blob.bytes)
      await expect(blocks.deleteBlock(record.cid)).rejects.toBeInstanceOf(BlockInUseError)
      await expect(blocks.deleteBlock(blob.cid)).rejects.toMatchObject({ code: 'ERR_BLOCK_IN_USE', cid: blob.cid })
      expect(await blocks.hasBlocks([record.cid, blob.cid])).toEqual(new Set([record.cid, blob.cid]))
      await blocks.deleteBlock(loose.cid)
      expect(await blocks.hasBlock(loose.cid)).toBe(false)
    } finally {
      close()
    }
  })
})

/**
 * The storage layer: interfaces, and the SQLite implementations over `pds.db`.
 */
import type { Database } from 'better-sqlite3'
import { SqliteBlockStore } from './sqlite-block-store.js'
import { SqliteRepoStore } from './sqlite-repo-store.js'
import { SqliteSyncStaging } from './sqlite-sync-staging.js'
import type { RepoStorage } from './types.js'

export type * from './types.js'
export { checkBlock, digestMatches, isDaslCid, sha256 } from './cid.js'
export { openDatabase, type OpenDatabaseOptions } from './database.js'
export { LATEST_SCHEMA_VERSION, migrate, schemaVersion } from './migrations.js'
export { MemoryBlockStore } from './memory-block-store.js'
export { SqliteBlockStore, type SqliteBlockStoreInit } from './sqlite-block-store.js'
export { SqliteRepoStore, type SqliteRepoStoreInit } from './sqlite-repo-store.js'
export { SqliteSyncStaging, type SqliteSyncStagingInit } from './sqlite-sync-staging.js'

/**
 * The block store, repo store and full-sync staging over one open, migrated `pds.db` (they share
 * the connection, so a commit's blocks and its references are written in the same transaction).
 */
export function createSqliteStorage(db: Database, init: { now?: () => number } = {}): RepoStorage {
  return { blocks: new SqliteBlockStore({ db }), repos: new SqliteRepoStore({ db, ...init }), staging: new SqliteSyncStaging({ db }) }
}

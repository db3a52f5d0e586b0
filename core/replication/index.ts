/**
 * The replication layer: repository sync, history, export and verification. It talks to storage
 * through `BlockStore` / `RepoStore` only, and to the network through an injected `fetch`.
 */
export type * from './types.js'
export { listPdsBlobs, syncBlobs, type BlobSyncOptions, type BlobSyncProgress, type BlobSyncSummary } from './blob-sync.js'
export { BlockStoreReader } from './blockstore-reader.js'
export {
  readRepoCar,
  streamRepoCar,
  writeCar,
  type ReadRepoCarOptions,
  type ReceivedCar,
  type StreamedBlock,
  type StreamRepoCarOptions,
} from './car.js'
export { cidString } from './cid-string.js'
export { assertSigningKey, checkCommit, type CheckedCommit } from './commit-check.js'
export { exportCar, type CarExport, type ExportCarOptions } from './export.js'
export { getRecord, listRecords, pruneHistory, type ListRecordsOptions, type PruneResult } from './history.js'
export { checkMst, isValidMstKey, keyLayer, walkMst, type MstCheckInit, type MstCheckResult, type MstWalkInit } from './mst-check.js'
export { getLatestCommit, type XrpcTarget } from './pds-client.js'
export { walkRepoBlocks, type WalkRepoOptions } from './repo-walk.js'
export { syncRepo } from './repo-sync.js'
export { mulberry32, verifyBlocks, verifyHead, type HeadStatus, type VerifyBlocksOptions, type VerifyHeadOptions } from './verify.js'

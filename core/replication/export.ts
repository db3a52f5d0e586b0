/**
 * CAR export of a backed-up repository at its head or at any kept revision: root = that commit,
 * followed by every MST node and record of the repository at that commit — what
 * `com.atproto.repo.importRepo` accepts. The CAR is produced as the consumer reads it, so a large
 * repository is never built whole in memory.
 */
import type { AbortOptions, RepoStorage } from '../storage/types.js'
import { writeCar } from './car.js'
import { resolveRev } from './history.js'
import { walkRepoBlocks } from './repo-walk.js'

/** What to export. */
export interface ExportCarOptions extends AbortOptions {
  /** A kept revision. @default the head */
  rev?: string
}

/** A CAR being exported. */
export interface CarExport {
  /** The revision and commit exported. */
  rev: string
  cid: string
  /**
   * The CAR's bytes, produced as they are read. Write it with
   * `pipeline(Readable.from(car), createWriteStream(file))` or send it as a response body.
   * Iterating it rejects with `AbortError` if the signal fires, `MissingBlockError` if the local
   * store lost a block.
   */
  car: AsyncIterable<Uint8Array>
}

/**
 * Prepares the export (rejecting at once with `UnknownAccountError` or `UnknownRevError`); the
 * blocks are read while `car` is iterated.
 */
export async function exportCar(storage: RepoStorage, did: string, options: ExportCarOptions = {}): Promise<CarExport> {
  const { commit } = await resolveRev(storage, did, options.rev, options.signal)
  return {
    rev: commit.rev,
    cid: commit.cid,
    car: writeCar(commit.cid, walkRepoBlocks(storage.blocks, commit.cid, { signal: options.signal })),
  }
}

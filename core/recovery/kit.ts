/**
 * The recovery kit: everything needed to bring an account back on a new PDS, in one folder, for
 * people who do not keep P2PDS running:
 *
 * - `repo.car` — the repository at the head (what `com.atproto.repo.importRepo` takes);
 * - `blobs/` — every blob, one file each, with `blobs/manifest.json`;
 * - `plc-log.json` — the DID's PLC audit log (did:plc only), validated;
 * - `README.md` — what each file is and how to restore, with P2PDS or by hand.
 *
 * The CAR and the blobs are written by the same code as `p2pds export` and `p2pds export-blobs`.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Database } from 'better-sqlite3'
import type { ExportResultDto, RecoveryKitDto } from '../api.js'
import { UnknownAccountError } from '../errors.js'
import { getPlcLog } from '../identity/plc-mirror.js'
import { readPlc } from '../identity/rotation-keys.js'
import type { SafeFetch } from '../network/safe-fetch.js'
import type { RepoStore } from '../storage/types.js'

/** What writing a kit needs. */
export interface RecoveryKitDeps {
  db: Database
  repos: RepoStore
  /** `AccountsService.exportCarToFile`. */
  exportCar(input: { did: string; path: string }): Promise<ExportResultDto>
  /** `AccountsService.exportBlobsToDir`. */
  exportBlobs(input: { did: string; dir: string }): Promise<ExportResultDto>
  plcUrl: string
  /** Fetch for the PLC directory. */
  plcFetch: SafeFetch
  /** @default Date.now */
  now?: () => number
}

/**
 * Writes the kit of `did` into `dir` (created if needed). The PLC log is fetched from the directory
 * now (and validated); when that fails the mirrored copy is used; did:web has none.
 */
export async function writeRecoveryKit(deps: RecoveryKitDeps, did: string, dir: string, signal?: AbortSignal): Promise<RecoveryKitDto> {
  const account = await deps.repos.getAccount(did, { signal })
  if (account === null) throw new UnknownAccountError(did)
  await mkdir(dir, { recursive: true })
  const car = await deps.exportCar({ did, path: join(dir, 'repo.car') })
  const blobs = await deps.exportBlobs({ did, dir: join(dir, 'blobs') })

  let plcLog: RecoveryKitDto['plcLog'] = 'none'
  let plcNote = ''
  if (did.startsWith('did:plc:')) {
    let log: unknown = null
    try {
      log = (await readPlc(deps.plcUrl, did, deps.plcFetch, signal)).log
      plcLog = 'fetched'
    } catch (err) {
      const held = getPlcLog(deps.db, did)
      if (held !== null) {
        log = held.log
        plcLog = 'mirror'
        plcNote = ` The directory could not be asked now (${(err as Error).message}); this is the copy mirrored on ${new Date(held.fetchedAt).toISOString()}.`
      } else {
        plcNote = ` It could not be fetched (${(err as Error).message}) and no mirrored copy was held.`
      }
    }
    if (log !== null) await writeFile(join(dir, 'plc-log.json'), JSON.stringify(log, null, 2) + '\n')
  }

  const now = new Date((deps.now ?? Date.now)()).toISOString()
  await writeFile(join(dir, 'README.md'), kitReadme({ did, handle: account.handle, pdsUrl: account.pdsUrl, rev: account.head?.rev ?? 'none', blobs: blobs.items, blocks: car.items, now, plcLog, plcNote }))

  const files = await listFiles(dir)
  let bytes = 0
  for (const f of files) bytes += (await stat(join(dir, f))).size
  return { did, path: dir, files, bytes, plcLog }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)))
    else out.push(rel)
  }
  return out
}

interface ReadmeFacts {
  did: string
  handle: string | null
  pdsUrl: string
  rev: string
  blobs: number
  blocks: number
  now: string
  plcLog: RecoveryKitDto['plcLog']
  plcNote: string
}

/** The kit's README, written for a person. */
export function kitReadme(f: ReadmeFacts): string {
  const name = f.handle ?? f.did
  const plcFile =
    f.plcLog === 'none'
      ? f.did.startsWith('did:plc:')
        ? `- \`plc-log.json\` is missing.${f.plcNote}`
        : '- There is no PLC log: this account uses did:web, whose document lives on its own web server.'
      : `- \`plc-log.json\` — the history of the identity ${f.did} in the PLC directory: every change of its keys, handle and PDS, each signed.${f.plcNote}`
  return `# Recovery kit for ${name}

Written by P2PDS on ${f.now}. Account: \`${f.did}\`${f.handle === null ? '' : ` (@${f.handle})`}, last hosted at ${f.pdsUrl}, backup at revision \`${f.rev}\` (${f.blocks} repository blocks, ${f.blobs} blobs).

Keep this folder somewhere safe (an external disk, another computer). It holds everything the
account had published: posts, likes, follows, profile, images. Anyone who has it can read that
data, which was public anyway; it holds **no password and no private key**.

## What each file is

- \`repo.car\` — the account's repository: every record (posts, likes, follows, profile, …), signed
  by the account. It is the file a PDS imports with \`com.atproto.repo.importRepo\`.
- \`blobs/\` — the images and other media the records point to, one file per blob, named by its
  content hash (CID). \`blobs/manifest.json\` lists them with their types and sizes.
${plcFile}
- \`README.md\` — this file.

## Why a rotation key matters

Your data is here. Your *identity* (the DID, which is what followers follow) is controlled by
**rotation keys** listed in the PLC directory. To move the account to a new PDS, a rotation key
must sign the change. Your old PDS held one; if that PDS is gone, only a rotation key *you* hold
(made with \`p2pds rotation-key new\` and added with \`p2pds rotation-key add\` while the old PDS
still worked) can do it. Without one you still have all your data, but it cannot be reattached to
the same identity: you would start a new account and import what you can.

## Restore with P2PDS

1. Install P2PDS and put this kit's data back: \`p2pds backup ${f.did}\` while the old PDS works,
   or keep the data dir that made this kit.
2. Check first (changes nothing): \`p2pds restore ${f.did} --to https://new-pds.example --rotation-key my-rotation.key --email you@example.com --dry-run\`
3. Restore: the same command without \`--dry-run\`. The new account's password is asked for (or
   taken from \`P2PDS_NEW_PASSWORD\`). If it stops halfway, run it again: it resumes.

## Restore by hand (goat, or any PDS account-migration tool)

This is the standard atproto account migration, with your own rotation key standing in for the old PDS:

1. With your rotation key, sign a PLC operation whose \`prev\` is the last operation in
   \`plc-log.json\` (check the directory for a newer one) that makes a key you hold the
   \`atproto\` verification method (the signing key). \`goat plc\` can build and sign it.
2. Create the account on the new PDS for your existing DID (\`com.atproto.server.createAccount\`
   with \`did\` set), authorised by a service-auth token signed with that key
   (\`aud\` = the new PDS's DID, \`lxm\` = \`com.atproto.server.createAccount\`).
3. Sign in, then import \`repo.car\`: \`com.atproto.repo.importRepo\` (\`goat repo import\`).
4. Upload every file of \`blobs/\` with \`com.atproto.repo.uploadBlob\`;
   \`com.atproto.repo.listMissingBlobs\` tells what is still missing.
5. Ask the new PDS for \`com.atproto.identity.getRecommendedDidCredentials\`, sign a PLC operation
   with your rotation key that sets those rotation keys (keep yours first), signing key, handle and
   PDS endpoint, and submit it (\`com.atproto.identity.submitPlcOperation\` on the new PDS).
6. \`com.atproto.server.activateAccount\`. Check that the DID resolves to the new PDS and that your
   records and images are there.

Handles: a handle on your own domain keeps working once the DID points at the new PDS. A handle
under the old PDS's domain (e.g. \`.bsky.social\`) does not: pick a new one on the new PDS.
`
}

import { describe, expect, it } from 'vitest'
import type { SyncProgressDto, SyncResultDto } from '../../core/api.js'
import { accountName, accountStatus, addedLine, exportSentence, holdingView, normalizeAccountInput, phaseLabel, progressView, syncResultSentence, syncSourceLabel } from './account-view.js'

const head = { cid: 'bafyreia', rev: '3l2abc' }
const failure = { name: 'PdsRequestError', code: 'ERR_PDS_REQUEST', message: 'The PDS at https://pds.example did not answer. Try again later.' }

function progress(over: Partial<SyncProgressDto> = {}): SyncProgressDto {
  return { did: 'did:plc:a', phase: 'repo', blocks: 0, bytes: 0, totalBytes: null, blobsDone: 0, blobsTotal: null, etaSec: null, ...over }
}

describe('accountStatus', () => {
  it('says syncing while a sync runs, even after an error', () => {
    expect(accountStatus({ syncing: true, lastError: failure, head })).toMatchObject({ kind: 'syncing', label: 'Syncing', tone: 'busy' })
    expect(accountStatus({ syncing: false, lastError: null, head }, progress())).toMatchObject({ kind: 'syncing' })
  })

  it('gives the last error’s sentence', () => {
    expect(accountStatus({ syncing: false, lastError: failure, head })).toEqual({
      kind: 'error',
      label: 'Sync failed',
      tone: 'error',
      sentence: failure.message,
    })
    expect(accountStatus({ syncing: false, lastError: { ...failure, message: '' }, head }).sentence).toMatch(/without saying why/)
  })

  it('says paused when paused and not syncing, keeping the last error’s sentence', () => {
    expect(accountStatus({ syncing: false, lastError: null, head }, null, true)).toEqual({ kind: 'paused', label: 'Paused', tone: 'off', sentence: null })
    expect(accountStatus({ syncing: false, lastError: failure, head }, null, true)).toMatchObject({ kind: 'paused', sentence: failure.message })
    expect(accountStatus({ syncing: true, lastError: null, head }, null, true).kind).toBe('syncing')
  })

  it('tells an account never synced from one up to date', () => {
    expect(accountStatus({ syncing: false, lastError: null, head: null })).toMatchObject({ kind: 'pending', label: 'Not synced yet' })
    expect(accountStatus({ syncing: false, lastError: null, head }, null)).toEqual({ kind: 'ok', label: 'Up to date', tone: 'ok', sentence: null })
  })
})

describe('progressView', () => {
  it('is indeterminate before anything is known and while resolving or verifying', () => {
    expect(progressView(null)).toEqual({ label: 'Starting', fraction: null, details: [] })
    expect(progressView(progress({ phase: 'resolving' }))).toEqual({ label: 'Looking up the account', fraction: null, details: [] })
    expect(progressView(progress({ phase: 'verifying', blocks: 10, bytes: 2048 })).fraction).toBeNull()
  })

  it('fills by bytes for the repo when the total is known', () => {
    const v = progressView(progress({ blocks: 1234, bytes: 512 * 1024, totalBytes: 2048 * 1024, etaSec: 150 }))
    expect(v).toEqual({
      label: 'Downloading the repository',
      fraction: 0.25,
      details: ['1,234 blocks, 512 KB of 2.0 MB', 'about 2 min 30 s left'],
    })
    expect(progressView(progress({ blocks: 1, bytes: 100 })).fraction).toBeNull()
    expect(progressView(progress({ blocks: 1, bytes: 100 })).details).toEqual(['1 block, 100 B'])
  })

  it('fills by blob count for blobs, falling back to bytes', () => {
    expect(progressView(progress({ phase: 'blobs', blocks: 10, bytes: 10, blobsDone: 3, blobsTotal: 12 }))).toMatchObject({
      label: 'Downloading images and other blobs',
      fraction: 0.25,
      details: ['10 blocks, 10 B', 'blobs 3 of 12'],
    })
    expect(progressView(progress({ phase: 'blobs', bytes: 50, totalBytes: 100, blobsDone: 2 }))).toMatchObject({
      fraction: 0.5,
      details: ['0 blocks, 50 B of 100 B', '2 blobs'],
    })
    expect(progressView(progress({ phase: 'blobs', blobsDone: 5, blobsTotal: 4 })).fraction).toBe(1)
  })

  it('is full when done and drops the estimate', () => {
    expect(progressView(progress({ phase: 'done', etaSec: 0 }))).toEqual({ label: 'Finishing', fraction: 1, details: [] })
  })

  it('labels every phase', () => {
    expect(phaseLabel('verifying')).toBe('Verifying the copy')
  })
})

describe('syncResultSentence', () => {
  const result = (over: Partial<SyncResultDto> = {}): SyncResultDto => ({
    did: 'did:plc:a',
    rev: '3l',
    cid: 'bafy',
    kind: 'incremental',
    creates: 3,
    updates: 1,
    deletes: 0,
    bytesReceived: 12_600,
    blobsFetched: 0,
    blobsFailed: 0,
    durationMs: 1_240,
    ...over,
  })

  it('says what changed, what was received and how long it took', () => {
    expect(syncResultSentence(result())).toBe('Synced: 3 created, 1 updated, 0 deleted, 12.3 KB received; took 1.2 s.')
    expect(syncResultSentence(result({ kind: 'full', creates: 1200, blobsFetched: 2, blobsFailed: 1, durationMs: 65_000 }))).toBe(
      'Full sync: 1,200 created, 1 updated, 0 deleted, 12.3 KB received, 2 blobs fetched, 1 blob could not be fetched; took 1 min 5 s.',
    )
  })

  it('says when there was nothing to do', () => {
    expect(syncResultSentence(result({ kind: 'none', creates: 0, updates: 0, durationMs: 300 }))).toBe('Already up to date (checked in 300 ms).')
  })

  it('says when a peer served the repository, not when the PDS did', () => {
    const peer = '12D3KooWGzh1QRdzwtYpmD2FmvuQzRgRvnqMjJ7PpEMvxUm3rZfB'
    expect(syncResultSentence(result({ source: `peer:${peer}` }))).toBe(
      'Synced: 3 created, 1 updated, 0 deleted, 12.3 KB received from peer 12D3KooW…m3rZfB (verified as from the PDS); took 1.2 s.',
    )
    expect(syncResultSentence(result({ source: 'pds' }))).toBe('Synced: 3 created, 1 updated, 0 deleted, 12.3 KB received; took 1.2 s.')
    expect(syncSourceLabel(`peer:${peer}`)).toBe('peer 12D3KooW…m3rZfB')
    expect(syncSourceLabel('pds')).toBe('the PDS')
    expect(syncSourceLabel(null)).toBeNull()
    expect(syncSourceLabel('firehose?')).toBeNull()
  })
})

describe('exportSentence', () => {
  it('names the count, size and place', () => {
    expect(exportSentence('car', { path: '/home/a/alice.car', bytes: 3 * 1024 * 1024, items: 1500 })).toBe(
      'Saved 1,500 blocks (3.0 MB) to /home/a/alice.car',
    )
    expect(exportSentence('blobs', { path: 'alice-blobs.tar', bytes: 10, items: 1 })).toBe('Saved 1 blob (10 B) to alice-blobs.tar')
  })
})

describe('normalizeAccountInput and accountName', () => {
  it('trims and drops a leading @', () => {
    expect(normalizeAccountInput('  @alice.bsky.social ')).toBe('alice.bsky.social')
    expect(normalizeAccountInput('did:plc:abc')).toBe('did:plc:abc')
    expect(normalizeAccountInput('  ')).toBe('')
  })

  it('prefers the handle', () => {
    expect(accountName({ did: 'did:plc:a', handle: 'alice.test' })).toBe('alice.test')
    expect(accountName({ did: 'did:plc:a', handle: null })).toBe('did:plc:a')
  })
})

describe('addedLine', () => {
  it('follows the added account’s sync: started, then done or failed', () => {
    expect(addedLine('alice.test', accountStatus({ syncing: true, lastError: null, head: null }))).toEqual({ ok: true, text: 'Added alice.test; syncing it now.' })
    expect(addedLine('alice.test', accountStatus({ syncing: false, lastError: null, head }))).toEqual({ ok: true, text: 'Added alice.test and backed it up.' })
    expect(addedLine('alice.test', accountStatus({ syncing: false, lastError: failure, head: null }))).toEqual({
      ok: false,
      text: `Added alice.test, but its sync failed: ${failure.message}`,
    })
  })

  it('says nothing once the account is gone or its sync stopped without an outcome', () => {
    expect(addedLine('alice.test', null)).toBeNull()
    expect(addedLine('alice.test', accountStatus({ syncing: false, lastError: null, head: null }))).toBeNull()
  })
})

describe('holdingView', () => {
  it('names why an account is held, with what the label means as its tooltip', () => {
    expect(holdingView({ kind: 'reciprocal', consent: 'reciprocal' })).toMatchObject({ label: 'Mutual backup', tone: 'ok' })
    expect(holdingView({ kind: 'archive', consent: 'consented' })).toMatchObject({ label: 'Archive · consented' })
    const none = holdingView({ kind: 'archive', consent: 'unconsented' })
    expect(none.label).toBe('Archive · no consent')
    expect(none.title).toContain('public data is copied here without it having agreed')
    expect(holdingView({ kind: 'config', consent: 'unconsented' })).toMatchObject({ label: 'From config' })
    expect(holdingView({ kind: 'config', consent: 'unconsented' }).title).toMatch(/REPLICATE_DIDS or POLICY_FILE/)
  })

  it('says a withdrawn agreement first, and reads an archive without a consent status as unconsented', () => {
    expect(holdingView({ kind: 'reciprocal', consent: 'revoked' })).toMatchObject({ label: 'Agreement revoked', tone: 'error' })
    expect(holdingView({ kind: 'archive' }).label).toBe('Archive · no consent')
  })
})

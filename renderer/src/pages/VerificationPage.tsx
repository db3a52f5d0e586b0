import { useEffect, useState } from 'react'
import type { AccountDetailDto, ChallengeResultDto, DetectionDto, PeerDto, PeersDto } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { formatDateTime, formatRelativeTime, middleEllipsis, plural } from '../format.js'
import { actionSentence } from '../problem.js'
import { PAGE_TITLES } from '../route.js'
import { useLoad } from '../use-load.js'
import { useNow } from '../use-now.js'
import { PageHeader } from './PageHeader.js'
import { Fact, Panel } from './Panel.js'

const HEALTH_LABEL: Record<PeerDto['health'], string> = { unknown: 'not challenged', ok: 'ok', degraded: 'degraded', failing: 'failing' }
const HEALTH_CLASS: Record<PeerDto['health'], string> = { unknown: 'badge', ok: 'badge badge-ok', degraded: 'badge badge-busy', failing: 'badge badge-error' }

const percent = (p: number, digits = 0) => `${(p * 100).toFixed(digits)}%`

/** The detection figure, in one sentence. */
function detectionSentence(d: DetectionDto): string {
  return `${d.blockSamples} blocks per round: a ${percent(d.lossFraction)} loss is caught within ${d.rounds} rounds with probability ${percent(d.probability, 2)}.`
}

function HealthBadge({ health }: { health: PeerDto['health'] }) {
  return (
    <span className={HEALTH_CLASS[health]} data-testid="peer-health">
      <span className="badge-dot" aria-hidden="true" />
      {HEALTH_LABEL[health]}
    </span>
  )
}

function PeerRow({ p, detection, onChallenge, busy }: { p: PeerDto; detection: DetectionDto; onChallenge: (did: string, peer: number) => void; busy: boolean }) {
  return (
    <tr data-testid={`peer-row-${p.id}`} className={p.health === 'failing' ? 'row-failing' : undefined}>
      <td className="mono" title={[p.peerId, ...p.multiaddrs, p.endpoint].filter((x) => x !== null).join('\n')}>
        {p.peerId === null ? (p.endpoint ?? '-') : middleEllipsis(p.peerId)}
      </td>
      <td>{p.connected ? 'connected' : 'not connected'}</td>
      <td>
        {p.dids.length === 0
          ? '-'
          : p.dids.map((did) => (
              <div key={did} className="mono" title={did}>
                {middleEllipsis(did)}{' '}
                <button type="button" className="button" disabled={busy} onClick={() => onChallenge(did, p.id)} data-testid="peer-challenge">
                  Challenge now
                </button>
              </div>
            ))}
      </td>
      <td data-testid="peer-score">
        {p.score === null ? '-' : percent(p.score)} <HealthBadge health={p.health} />
        <div className="muted" data-testid="peer-detection">
          Detection: {percent(detection.probability, 2)} for a {percent(detection.lossFraction)} loss over {detection.rounds} rounds
        </div>
      </td>
      <td data-testid="peer-explanation" className="peer-explanation">
        {p.explanation}
      </td>
    </tr>
  )
}

function AddPeer({ onAdded }: { onAdded: () => void }) {
  const bridge = useAccounts((s) => s.bridge)
  const [address, setAddress] = useState('')
  const [did, setDid] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = async () => {
    if (bridge === null) return
    setError(null)
    const a = address.trim()
    try {
      await bridge.peers.add({ ...(/^https?:\/\//.test(a) ? { endpoint: a } : { multiaddr: a }), ...(did.trim() === '' ? {} : { dids: [did.trim()] }) })
      setAddress('')
      setDid('')
      onAdded()
    } catch (err) {
      setError(actionSentence(err))
    }
  }
  return (
    <form
      className="add-peer"
      onSubmit={(e) => {
        e.preventDefault()
        void submit()
      }}
    >
      <label htmlFor="peer-address">Peer address</label>
      <input id="peer-address" className="input mono" data-testid="peer-address" placeholder="/ip4/…/tcp/…/p2p/12D3KooW… or https://node.example" value={address} onChange={(e) => setAddress(e.target.value)} />
      <label htmlFor="peer-did">Account it holds (DID)</label>
      <input id="peer-did" className="input mono" data-testid="peer-did" placeholder="did:plc:…" value={did} onChange={(e) => setDid(e.target.value)} />
      <button type="submit" className="button" disabled={bridge === null || address.trim() === ''} data-testid="peer-add">
        Add peer
      </button>
      {error !== null && <p className="warn-text">{error}</p>}
    </form>
  )
}

function Level({ label, ok, title }: { label: string; ok: boolean | null; title: string }) {
  return (
    <span className={ok === null ? 'badge' : ok ? 'badge badge-ok' : 'badge badge-error'} title={title} data-testid={`level-${label}`}>
      {label} {ok === null ? '–' : ok ? 'ok' : 'failed'}
    </span>
  )
}

/** L0–L3 of one account: L0/L1 from its own checks, L2/L3 per peer from the latest challenges. */
function AccountLevels({ detail, latest, peers, now }: { detail: AccountDetailDto; latest: ChallengeResultDto[]; peers: PeerDto[]; now: number }) {
  const v = (level: 'L0' | 'L1') => detail.verifications.find((x) => x.level === level)
  const [l0, l1] = [v('L0'), v('L1')]
  const holders = peers.filter((p) => p.dids.includes(detail.did) || latest.some((r) => r.peer === p.id))
  return (
    <div className="account-levels" data-testid={`levels-${detail.did}`}>
      <h3>{detail.handle ?? detail.did}</h3>
      <p>
        <Level label="L0" ok={l0?.ok ?? null} title={l0?.summary ?? 'not checked yet'} /> <Level label="L1" ok={l1?.ok ?? null} title={l1?.summary ?? 'not checked yet'} />
      </p>
      {holders.length === 0 ? (
        <p className="muted">No peer is known to hold this account, so L2 and L3 cannot be checked.</p>
      ) : (
        <ul className="plain-list">
          {holders.map((p) => {
            const l2 = latest.find((r) => r.peer === p.id && r.level === 'L2')
            const l3 = latest.find((r) => r.peer === p.id && r.level === 'L3')
            return (
              <li key={p.id}>
                <span className="mono">{p.peerId ?? p.endpoint}</span> <Level label="L2" ok={l2?.ok ?? null} title={l2?.message ?? 'not challenged yet'} />{' '}
                <Level label="L3" ok={l3?.ok ?? null} title={l3?.message ?? 'not challenged yet'} />
                {l2 !== undefined && <span className="muted"> · {formatRelativeTime(l2.at, now)} via {l2.transport}</span>}
              </li>
            )
          })}
        </ul>
      )}
    </div>
  )
}

/**
 * Verification: this node on the peer network, each peer's score with its explanation and the
 * detection figure, and L0–L3 per account (L2/L3 per peer).
 */
export function VerificationPage() {
  const bridge = useAccounts((s) => s.bridge)
  const accounts = useAccounts((s) => s.accounts)
  const now = useNow(30_000)
  const [version, setVersion] = useState(0)
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<string | null>(null)
  useEffect(() => {
    if (bridge === null) return
    const bump = () => setVersion((n) => n + 1)
    const offs = [bridge.on('peers:changed', bump), bridge.on('challenge:completed', bump)]
    return () => offs.forEach((off) => off())
  }, [bridge])
  const peers = useLoad<PeersDto>(bridge === null ? null : 'peers', () => bridge!.peers.list(), version)
  const latest = useLoad<ChallengeResultDto[]>(bridge === null ? null : 'challenge-latest', () => bridge!.peers.history(), version)
  const dids = (accounts ?? []).map((a) => a.did).join(',')
  const details = useLoad<AccountDetailDto[]>(bridge === null ? null : `details:${dids}`, () => Promise.all((accounts ?? []).map((a) => bridge!.accounts.get({ did: a.did }))), version)

  const challenge = async (did: string, peer: number) => {
    if (bridge === null) return
    setBusy(true)
    setMessage(null)
    try {
      const results = await bridge.peers.challenge({ did, peer })
      const failed = results.filter((r) => !r.ok)
      setMessage(failed.length === 0 ? `Passed: ${results.map((r) => r.level).join(' and ')}.` : failed.map((r) => `${r.level} failed: ${r.message}`).join(' '))
    } catch (err) {
      setMessage(actionSentence(err))
    } finally {
      setBusy(false)
      setVersion((n) => n + 1)
    }
  }

  const failing = peers.state === 'ok' ? peers.value.peers.filter((p) => p.health === 'failing') : []
  return (
    <section className="page" data-testid="page-verification">
      <PageHeader title={PAGE_TITLES.verification} />
      {failing.length > 0 && (
        <p className="warn-text" role="alert" data-testid="failing-peers">
          {plural(failing.length, 'peer')} failing storage challenges: {failing.map((p) => p.peerId ?? p.endpoint).join(', ')}.
        </p>
      )}
      {peers.state === 'error' && <p className="warn-text">{peers.sentence}</p>}
      {peers.state === 'ok' && (
        <>
          <Panel title="This node on the peer network">
            <dl className="facts">
              <Fact term="PeerID" mono>
                {peers.value.self.peerId}
              </Fact>
              <Fact term="libp2p">{peers.value.self.networking ? `on, ${plural(peers.value.self.connections, 'connection')}` : 'off (HTTP challenges only)'}</Fact>
              <Fact term="Addresses" mono>
                {peers.value.self.multiaddrs.length === 0 ? '-' : peers.value.self.multiaddrs.map((a) => <div key={a}>{a}</div>)}
              </Fact>
              <Fact term="Detection">
                <span data-testid="detection">{detectionSentence(peers.value.detection)}</span>
              </Fact>
              <Fact term="Schedule">
                {peers.value.detection.intervalSec === 0 ? 'off (challenge by hand)' : `every ${Math.round(peers.value.detection.intervalSec / 60)} min`}, answers due within {peers.value.detection.deadlineMs / 1000} s
              </Fact>
            </dl>
          </Panel>
          <Panel title="Peers">
            <p className="muted">
              L2 asks a peer for the bytes of sampled blocks; L3 for Merkle paths from the commit to sampled records. Answers are signed with the peer&apos;s libp2p key and
              bound to a fresh nonce, so they cannot be replayed or forwarded. A peer that fetches the data from the PDS on demand can still pass if it does so before the
              deadline.
            </p>
            {message !== null && (
              <p className="muted" data-testid="challenge-message">
                {message}
              </p>
            )}
            {peers.value.peers.length === 0 ? (
              <p className="muted" data-testid="peers-empty">
                No peers yet.
              </p>
            ) : (
              <table className="config-table peers-table" data-testid="peers-table">
                <thead>
                  <tr>
                    <th>Peer</th>
                    <th>Connection</th>
                    <th>Accounts held</th>
                    <th>Score</th>
                    <th>Why</th>
                  </tr>
                </thead>
                <tbody>
                  {peers.value.peers.map((p) => (
                    <PeerRow key={p.id} p={p} detection={peers.value.detection} busy={busy} onChallenge={(did, id) => void challenge(did, id)} />
                  ))}
                </tbody>
              </table>
            )}
            <AddPeer onAdded={() => setVersion((n) => n + 1)} />
          </Panel>
          <Panel title="Per account: L0–L3">
            <p className="muted">L0: the head matches the PDS. L1: sampled local blocks re-hash to their CIDs. L2 and L3: peers holding the account prove they still do.</p>
            {details.state === 'ok' && latest.state === 'ok' && details.value.length === 0 && <p className="muted">No accounts held yet.</p>}
            {details.state === 'ok' &&
              latest.state === 'ok' &&
              details.value.map((d) => <AccountLevels key={d.did} detail={d} latest={latest.value.filter((r) => r.did === d.did)} peers={peers.value.peers} now={now} />)}
            {latest.state === 'ok' && latest.value.length > 0 && (
              <p className="muted">Last challenge {formatDateTime(latest.value.map((r) => r.at).sort().at(-1) ?? null)}.</p>
            )}
          </Panel>
        </>
      )}
    </section>
  )
}

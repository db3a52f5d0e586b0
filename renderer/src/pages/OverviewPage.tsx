import type { ReactNode } from 'react'
import { ConfigTable } from '../ConfigTable.js'
import { OVERVIEW_CONFIG_KEYS, configRows } from '../config-view.js'
import { formatCount, formatDateTime, formatMb, hostLabel } from '../format.js'
import { hrefFor } from '../route.js'
import { Sentence } from '../Sentence.js'
import { StateBadge } from '../StateBadge.js'
import { useApp } from '../store.js'
import { firehoseLine } from '../live-view.js'
import { syncSummaryView } from '../sync-view.js'
import { Uptime } from '../Uptime.js'
import { useNow } from '../use-now.js'
import { PageHeader } from './PageHeader.js'
import { Fact, Panel } from './Panel.js'

function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{children}</div>
    </div>
  )
}

function Url({ url }: { url: string | null }) {
  return url === null ? <span className="muted">off</span> : <span className="mono selectable">{url}</span>
}

/** Home: the node's live status, its runtime, and the main settings. */
export function OverviewPage() {
  const status = useApp((s) => s.status)
  const info = useApp((s) => s.info)
  const infoProblem = useApp((s) => s.infoProblem)
  const dash = '–'
  const now = useNow(15_000)
  const sync = syncSummaryView(status?.sync, now)
  const firehose = firehoseLine(status?.sync?.firehose, now)
  const liveCount = status?.sync?.live?.filter((a) => a.state === 'live').length ?? null

  return (
    <section className="page" data-testid="page-overview">
      <PageHeader title="Overview">
        <StateBadge />
      </PageHeader>

      <div className="stats">
        <Stat label="Uptime">
          <Uptime />
        </Stat>
        <Stat label="Accounts">
          <span data-testid="node-accounts">{status === null ? dash : formatCount(status.accounts)}</span>
        </Stat>
        <Stat label="Memory">
          <span data-testid="node-memory">{status === null ? dash : formatMb(status.rssMb)}</span>
        </Stat>
        <Stat label="Version">
          <span data-testid="node-version">{status === null ? dash : status.version}</span>
        </Stat>
      </div>

      <div className="panels">
        <Panel title="Node">
          <dl className="facts">
            <Fact term="Host">{status === null ? dash : hostLabel(status.host)}</Fact>
            <Fact term="Process">{status === null ? dash : `pid ${status.pid}`}</Fact>
            <Fact term="Started">{status === null ? dash : formatDateTime(status.startedAt)}</Fact>
            <Fact term="Data folder" mono>
              <span data-testid="node-data-dir" className="selectable">
                {status === null ? dash : status.dataDir}
              </span>
            </Fact>
            <Fact term="Local UI">{status === null ? dash : <Url url={status.listeners.ui} />}</Fact>
            <Fact term="Peer server">{status === null ? dash : <Url url={status.listeners.peer} />}</Fact>
          </dl>
        </Panel>

        <Panel title="Sync">
          <dl className="facts" data-testid="node-sync" data-paused={sync?.paused ?? undefined}>
            <Fact term="Periodic sync">
              <span data-testid="node-sync-state">{sync === null ? dash : sync.state}</span>
            </Fact>
            <Fact term="Running now">
              <span data-testid="node-sync-running">{sync === null ? dash : sync.running}</span>
            </Fact>
            <Fact term="Next sync">
              <span data-testid="node-sync-next" title={formatDateTime(status?.sync?.nextSyncAt ?? null)}>
                {sync === null ? dash : sync.next}
              </span>
            </Fact>
            <Fact term="Firehose">
              <span data-testid="node-firehose" data-connection={status?.sync?.firehose?.connection} title={status?.sync?.firehose?.lastError ?? status?.sync?.firehose?.url}>
                {firehose ?? dash}
              </span>
            </Fact>
            <Fact term="Live accounts">
              <span data-testid="node-live-accounts">{liveCount === null ? dash : `${formatCount(liveCount)} of ${formatCount(status?.sync?.live?.length ?? 0)}`}</span>
            </Fact>
          </dl>
        </Panel>

        <Panel title="Runtime">
          {info !== null ? (
            <dl className="facts">
              <Fact term="Schema version">
                <span data-testid="node-schema-version">{info.schemaVersion}</span>
              </Fact>
              <Fact term="Database" mono>
                <span className="selectable">{info.databaseFile}</span>
              </Fact>
              <Fact term="Node.js">{info.runtime.node}</Fact>
              <Fact term="Electron">{info.runtime.electron ?? <span className="muted">not used</span>}</Fact>
              <Fact term="Platform">{`${info.runtime.platform} (${info.runtime.arch})`}</Fact>
            </dl>
          ) : infoProblem !== null ? (
            <p className="muted">
              <Sentence text={infoProblem} />
            </p>
          ) : (
            <p className="muted">Shown once the node is running.</p>
          )}
        </Panel>

        <Panel
          title="Configuration"
          className="panel-wide"
          action={
            <a className="panel-link" href={hrefFor('settings')}>
              All settings
            </a>
          }
        >
          {info !== null ? (
            <ConfigTable rows={configRows(info.config, OVERVIEW_CONFIG_KEYS)} />
          ) : (
            <p className="muted">Shown once the node is running.</p>
          )}
        </Panel>
      </div>
    </section>
  )
}

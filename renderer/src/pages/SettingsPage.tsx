import { ConfigTable } from '../ConfigTable.js'
import { configRows } from '../config-view.js'
import { Sentence } from '../Sentence.js'
import { useApp } from '../store.js'
import { PageHeader } from './PageHeader.js'
import { Panel } from './Panel.js'

/** The node's configuration, read-only, with the variable or flag that sets each value. */
export function SettingsPage() {
  const info = useApp((s) => s.info)
  const infoProblem = useApp((s) => s.infoProblem)
  return (
    <section className="page" data-testid="page-settings">
      <PageHeader title="Settings" />
      <p className="lede">
        Settings are read-only here for now. To change one, set its environment variable or flag (or a line in{' '}
        <code>.env</code> in the data folder) and restart the node.
      </p>
      <Panel title="Configuration">
        {info !== null ? (
          <ConfigTable rows={configRows(info.config)} showSource />
        ) : infoProblem !== null ? (
          <p className="muted">
            <Sentence text={infoProblem} />
          </p>
        ) : (
          <p className="muted">Shown once the node is running.</p>
        )}
      </Panel>
    </section>
  )
}

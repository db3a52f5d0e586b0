import type { ConfigRow } from './config-view.js'

/** Settings as a read-only table; `showSource` adds how each one is set. */
export function ConfigTable({ rows, showSource = false }: { rows: ConfigRow[]; showSource?: boolean }) {
  if (rows.length === 0) return <p className="muted">No settings reported.</p>
  return (
    <table className="config-table">
      <thead className={showSource ? undefined : 'visually-hidden'}>
        <tr>
          <th scope="col">Setting</th>
          <th scope="col">Value</th>
          {showSource && <th scope="col">Set with</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} data-config-key={r.key}>
            <th scope="row">{r.label}</th>
            <td className="value">{r.value}</td>
            {showSource && (
              <td className="source">
                <code>{r.env}</code> <span className="muted">or</span> <code>{r.flag}</code>
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  )
}

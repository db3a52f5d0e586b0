import { useState, type FormEvent } from 'react'
import type { GroupDto, P2pdsBridge } from '../../../core/api.js'
import { holdingCell, parseMembers } from '../group-view.js'
import { Panel } from './Panel.js'

/**
 * Groups: make one (a name and its members), join one as the acting account (offers to every
 * member), and see who holds a copy of whom as far as this node knows.
 */
export function GroupsPanel({
  bridge,
  groups,
  acting,
  busy,
  act,
}: {
  bridge: P2pdsBridge
  groups: readonly GroupDto[]
  acting: { as?: string }
  busy: boolean
  act: (fn: () => Promise<unknown>) => Promise<void>
}) {
  const [name, setName] = useState('')
  const [members, setMembers] = useState('')
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void act(async () => {
      await bridge.groups.create({
        name: name.trim(),
        members: parseMembers(members),
      })
      setName('')
      setMembers('')
    })
  }
  return (
    <Panel title="Groups">
      {groups.length === 0 ? (
        <p className="muted" data-testid="groups-none">
          No groups yet. A group is a list of accounts; joining it offers to back up each of them.
        </p>
      ) : (
        groups.map((g) => (
          <div key={g.name} className="group" data-testid={`group-${g.name}`}>
            <h3>
              {g.name}{' '}
              <button
                type="button"
                className="button button-primary button-small"
                data-testid="group-join"
                disabled={busy}
                onClick={() => void act(() => bridge.groups.join({ name: g.name, ...acting }))}
              >
                Join (offer to everyone)
              </button>{' '}
              <button
                type="button"
                className="button button-danger-quiet button-small"
                data-testid="group-remove"
                disabled={busy}
                onClick={() => void act(() => bridge.groups.remove({ name: g.name }))}
              >
                Forget
              </button>
            </h3>
            <table className="table" data-testid="group-holdings">
              <thead>
                <tr>
                  <th>Holder ↓ / holds →</th>
                  {g.members.map((m) => (
                    // DIDs are case-sensitive: the table heading's capitals would change them.
                    <th key={m} className="mono" style={{ textTransform: 'none' }}>
                      {m}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {g.members.map((holder) => (
                  <tr key={holder}>
                    <th className="mono" style={{ textTransform: 'none' }}>
                      {holder}
                    </th>
                    {g.members.map((subject) => (
                      <td key={subject} data-testid={`holds-${holder}-${subject}`}>
                        {holdingCell(g, holder, subject)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))
      )}
      <form className="add-account" onSubmit={submit} aria-label="Make a group">
        <label htmlFor="group-name" className="add-account-label">
          Make a group (members: handles or DIDs, separated by commas or spaces)
        </label>
        <div className="add-account-row">
          <input id="group-name" className="input" data-testid="group-name" type="text" placeholder="friends" value={name} onChange={(e) => setName(e.target.value)} />
          <input
            className="input"
            data-testid="group-members"
            type="text"
            autoCapitalize="off"
            spellCheck={false}
            aria-label="Members"
            placeholder="alice.bsky.social, bob.bsky.social"
            value={members}
            onChange={(e) => setMembers(e.target.value)}
          />
          <button type="submit" className="button" data-testid="group-create" disabled={busy || name.trim() === '' || parseMembers(members).length === 0}>
            Make
          </button>
        </div>
      </form>
    </Panel>
  )
}

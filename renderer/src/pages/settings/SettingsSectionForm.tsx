import { useEffect, useRef, useState, type FormEvent } from 'react'
import type { SettingKey, SettingsDto, SettingsUpdateDto } from '../../../../core/api.js'
import { Sentence } from '../../Sentence.js'
import { appliesLine, draftFrom, FIELD_INFO, formatSettingValue, resettableKeys, sectionDirty, sectionUpdate, sourceLine, type Draft, type SettingsSection } from '../../settings-view.js'

/**
 * One section of settings as a form with its own Save: each field shows its effective value's
 * source (locked ones cannot be edited), when a change applies, and a one-line error beside it.
 */
export function SettingsSectionForm({
  section,
  settings,
  save,
}: {
  section: SettingsSection
  settings: SettingsDto['settings']
  /** Sends the update; resolves when saved, rejects with a sentence when refused. */
  save(update: SettingsUpdateDto): Promise<void>
}) {
  const [draft, setDraft] = useState<Draft>(() => draftFrom(settings))
  const [errors, setErrors] = useState<Partial<Record<SettingKey, string>>>({})
  const [problem, setProblem] = useState<string | null>(null)
  const [saved, setSaved] = useState(false)
  const [busy, setBusy] = useState(false)
  // Set by a save of this form: the node's answer replaces the draft, edited or not.
  const resync = useRef(false)
  const dirty = sectionDirty(section, draft, settings)

  // A change saved elsewhere (another window, the CLI) shows here unless this form is being edited.
  const key = section.keys.map((k) => JSON.stringify([settings[k].value, settings[k].source])).join()
  useEffect(() => {
    const mine = resync.current
    resync.current = false
    setDraft((d) => (mine || !sectionDirty(section, d, settings) ? draftFrom(settings) : d))
    // Only when the node's values for this section change.
  }, [key])

  const send = async (update: SettingsUpdateDto) => {
    setBusy(true)
    setProblem(null)
    setSaved(false)
    try {
      resync.current = true
      await save(update)
      setSaved(true)
    } catch (err) {
      resync.current = false
      setProblem(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const r = sectionUpdate(section, draft, settings)
    setErrors(r.errors)
    if (r.update !== null) void send(r.update)
  }

  const reset = resettableKeys(section, settings)
  return (
    <form className="settings-form" onSubmit={submit} noValidate data-testid={`settings-form-${section.id}`} aria-label={section.title}>
      {section.keys.map((k) => {
        const s = settings[k]
        const info = FIELD_INFO[k]
        const id = `setting-${k}`
        const locked = s.lockedBy !== null
        const error = errors[k]
        const value = draft[k]
        return (
          <div className="settings-field" key={k} data-setting={k}>
            {info.kind === 'toggle' ? (
              <label className="settings-toggle" htmlFor={id}>
                <input
                  id={id}
                  type="checkbox"
                  data-testid={id}
                  checked={value === true}
                  disabled={locked || busy}
                  onChange={(e) => {
                    setDraft({ ...draft, [k]: e.target.checked })
                    setSaved(false)
                  }}
                />
                <span>{info.label}</span>
              </label>
            ) : (
              <>
                <label htmlFor={id} className="settings-label">
                  {info.label}
                </label>
                <div className="settings-input-row">
                  <input
                    id={id}
                    className={info.kind === 'url' ? 'input settings-input-url' : 'input settings-input-number'}
                    data-testid={id}
                    type="text"
                    inputMode={info.kind === 'number' ? 'numeric' : 'url'}
                    autoComplete="off"
                    spellCheck={false}
                    placeholder={info.kind === 'number' && s.default === null ? 'no cap' : undefined}
                    value={typeof value === 'string' ? value : ''}
                    disabled={locked || busy}
                    aria-invalid={error !== undefined}
                    aria-describedby={`${id}-hint`}
                    onChange={(e) => {
                      setDraft({ ...draft, [k]: e.target.value })
                      setErrors({ ...errors, [k]: undefined })
                      setSaved(false)
                    }}
                  />
                  {info.unit !== undefined && <span className="settings-unit">{info.unit}</span>}
                </div>
              </>
            )}
            {error !== undefined && (
              <p className="settings-error" role="alert" data-testid={`${id}-error`}>
                {error}
              </p>
            )}
            <p className="settings-hint" id={`${id}-hint`}>
              {info.hint}{' '}
              <span className="settings-effective" data-testid={`${id}-effective`}>
                Now {formatSettingValue(k, s.value)}, {sourceLine(s)}.
              </span>{' '}
              {locked ? <span className="settings-locked">To change it here, remove {s.lockedBy} and restart.</span> : <span>{appliesLine(s)}</span>}
            </p>
          </div>
        )
      })}
      <div className="settings-actions" hidden={section.keys.every((k) => settings[k].lockedBy !== null)}>
        <button type="submit" className="button button-primary" data-testid={`settings-save-${section.id}`} disabled={!dirty || busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        {reset.length > 0 && (
          <button type="button" className="button" data-testid={`settings-reset-${section.id}`} disabled={busy} onClick={() => void send({ reset })}>
            Use default
          </button>
        )}
        {saved && !dirty && (
          <span className="settings-saved" role="status" data-testid={`settings-saved-${section.id}`}>
            Saved.
          </span>
        )}
      </div>
      {problem !== null && (
        <p className="action-line action-line-error" role="alert" data-testid={`settings-problem-${section.id}`}>
          <Sentence text={problem} />
        </p>
      )}
    </form>
  )
}

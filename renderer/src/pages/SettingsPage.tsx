import { useEffect, useState } from 'react'
import type { HostSettingsDto, P2pdsBridge, SettingsDto, SettingsUpdateDto } from '../../../core/api.js'
import { useAccounts } from '../accounts-store.js'
import { ConfigTable } from '../ConfigTable.js'
import { configRows } from '../config-view.js'
import { actionSentence } from '../problem.js'
import { Sentence } from '../Sentence.js'
import { dataDirLine, SETTINGS_SECTIONS } from '../settings-view.js'
import { useApp } from '../store.js'
import { PageHeader } from './PageHeader.js'
import { Panel } from './Panel.js'
import { SettingsSectionForm } from './settings/SettingsSectionForm.js'
import { StorageUsage } from './settings/StorageUsage.js'
import './settings/settings.css'

/**
 * Settings: a form per section (saved on its own, with the effective value and its source), the
 * storage usage bar, launch at login and the data folder from the host, and the full
 * configuration table with the variable or flag behind each value.
 */
export function SettingsPage() {
  const bridge = useAccounts((s) => s.bridge)
  const host = useApp((s) => s.status?.host ?? null)
  const started = useApp((s) => s.status?.state === 'started')
  const liveStorage = useApp((s) => s.status?.storage ?? null)
  const info = useApp((s) => s.info)
  const infoProblem = useApp((s) => s.infoProblem)
  const [dto, setDto] = useState<SettingsDto | null>(null)
  const [problem, setProblem] = useState<string | null>(null)

  useEffect(() => {
    if (bridge === null || !started) return
    let live = true
    const off = bridge.on('settings:changed', (d) => live && setDto(d))
    bridge.settings.get().then(
      (d) => live && (setDto(d), setProblem(null)),
      (err: unknown) => live && setProblem(actionSentence(err, host)),
    )
    return () => {
      live = false
      off()
    }
  }, [bridge, started])

  const save = async (update: SettingsUpdateDto) => {
    if (bridge === null) throw new Error('The page is not connected to the node yet.')
    try {
      setDto(await bridge.settings.update(update))
    } catch (err) {
      throw new Error(actionSentence(err, host))
    }
  }

  const usage = liveStorage ?? dto?.storage ?? null
  const section = (id: string) => SETTINGS_SECTIONS.find((s) => s.id === id)!
  return (
    <section className="page" data-testid="page-settings">
      <PageHeader title="Settings" />
      <p className="lede">
        Settings saved here are kept in the data folder and apply at once unless they say otherwise. A value given by a flag, an environment variable or{' '}
        <code>.env</code> wins and is shown locked.
      </p>
      {problem !== null && (
        <p className="action-line action-line-error" role="alert" data-testid="settings-load-problem">
          <Sentence text={problem} />
        </p>
      )}
      {dto === null ? (
        problem === null && <p className="muted">Shown once the node is running.</p>
      ) : (
        <div className="settings-grid">
          <Panel title="Storage">
            {usage !== null && <StorageUsage usage={usage} />}
            <SettingsSectionForm section={section('storage')} settings={dto.settings} save={save} />
          </Panel>
          <Panel title="Bandwidth">
            <SettingsSectionForm section={section('transfer')} settings={dto.settings} save={save} />
          </Panel>
          <Panel title="Sync schedule">
            <SettingsSectionForm section={section('sync')} settings={dto.settings} save={save} />
          </Panel>
          <Panel title="Real-time sync (firehose)">
            <SettingsSectionForm section={section('firehose')} settings={dto.settings} save={save} />
          </Panel>
          <Panel title="Peer network (IPFS)">
            <SettingsSectionForm section={section('network')} settings={dto.settings} save={save} />
          </Panel>
          {bridge !== null && <HostPanel bridge={bridge} dataDir={dto.dataDir} />}
        </div>
      )}
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

/** Launch at login and the data folder: the host's (desktop app or browser) part of Settings. */
function HostPanel({ bridge, dataDir }: { bridge: P2pdsBridge; dataDir: SettingsDto['dataDir'] }) {
  const [hostSettings, setHostSettings] = useState<HostSettingsDto | null>(null)
  const [problem, setProblem] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    let live = true
    bridge.host.settings().then(
      (h) => live && setHostSettings(h),
      (err: unknown) => live && setProblem(actionSentence(err, null)),
    )
    return () => {
      live = false
    }
  }, [bridge])

  const act = async (fn: () => Promise<HostSettingsDto | void>) => {
    setBusy(true)
    setProblem(null)
    try {
      const out = await fn()
      if (out !== undefined) setHostSettings(out)
    } catch (err) {
      setProblem(actionSentence(err, null))
    } finally {
      setBusy(false)
    }
  }

  const login = hostSettings?.launchAtLogin
  return (
    <Panel title="This computer">
      <div className="settings-form">
        <div className="settings-field">
          <label className="settings-toggle" htmlFor="setting-launchAtLogin">
            <input
              id="setting-launchAtLogin"
              type="checkbox"
              data-testid="setting-launchAtLogin"
              checked={login?.enabled === true}
              disabled={login?.supported !== true || busy}
              onChange={(e) => void act(() => bridge.host.setLaunchAtLogin({ enabled: e.target.checked }))}
            />
            <span>Open P2PDS at login</span>
          </label>
          <p className="settings-hint" data-testid="setting-launchAtLogin-hint">
            {login === undefined ? 'Checking…' : login.supported ? 'Starts hidden, in the tray, when you log in. Applies at once.' : <>Unavailable: <Sentence text={login.reason ?? 'not supported here.'} /></>}
          </p>
        </div>
        <div className="settings-field">
          <span className="settings-label">Data folder</span>
          <div className="settings-input-row">
            <code className="mono" data-testid="settings-data-dir">
              {dataDir.path}
            </code>
            {hostSettings?.canOpenDataFolder === true && (
              <button type="button" className="button button-small" data-testid="settings-open-data-dir" disabled={busy} onClick={() => void act(() => bridge.host.openDataFolder())}>
                Open folder
              </button>
            )}
          </div>
          <p className="settings-hint">
            <Sentence text={dataDirLine(dataDir)} />
          </p>
        </div>
        {problem !== null && (
          <p className="action-line action-line-error" role="alert">
            <Sentence text={problem} />
          </p>
        )}
      </div>
    </Panel>
  )
}

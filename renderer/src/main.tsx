/**
 * Entry point: render the shell at once (it says "Connecting…"), then find the bridge and start
 * feeding the store from it.
 */
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { accountsStore, connectAccounts } from './accounts-store.js'
import { App } from './App.js'
import { ensureBridge, loadScriptElement } from './bridge.js'
import { connectNode } from './connection.js'
import { problemSentence } from './problem.js'
import { appStore } from './store.js'
import './styles.css'

const root = document.getElementById('root')
if (root === null) throw new Error('index.html has no #root element.')
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
)

ensureBridge(window, { loadScript: (src) => loadScriptElement(document, src) }).then(
  (bridge) => {
    connectNode({ bridge, store: appStore })
    connectAccounts({ bridge, store: accountsStore })
  },
  (err: unknown) => appStore.getState().contactLost(problemSentence(err, null)),
)

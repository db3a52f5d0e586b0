/**
 * Which logged-in account acts (publishes offers, consent, joins groups) when several are logged
 * in: the one chosen in the account switcher while it stays logged in, else the first logged in.
 */
import { useStore } from 'zustand'
import { createStore } from 'zustand/vanilla'

/** The acting account's DID: `chosen` while it is logged in, else the first login; null when none. */
export function actingDid(logins: ReadonlyArray<{ did: string }>, chosen: string | null): string | null {
  if (chosen !== null && logins.some((l) => l.did === chosen)) return chosen
  return logins[0]?.did ?? null
}

/** The `as` input of an acting call: given only when several accounts are logged in (else the node picks the only one). */
export function asInput(logins: ReadonlyArray<{ did: string }>, chosen: string | null): { as?: string } {
  const did = actingDid(logins, chosen)
  return logins.length > 1 && did !== null ? { as: did } : {}
}

/** Where the choice is kept for the window's session, so a reload keeps acting as the same account. */
const SESSION_KEY = 'p2pds.actingAccount'

/** The window's sessionStorage, or null where there is none (unit tests) or it is refused. */
function session(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage
  } catch {
    return null
  }
}

/** The account chosen in the switcher (kept for the session of the window, across reloads). */
export const actingStore = createStore<{ chosen: string | null; choose(did: string): void }>()((set) => ({
  chosen: session()?.getItem(SESSION_KEY) ?? null,
  choose: (did) => {
    session()?.setItem(SESSION_KEY, did)
    set({ chosen: did })
  },
}))

/** The chosen account (see {@link actingDid} for the one that acts). */
export function useChosenAccount(): [string | null, (did: string) => void] {
  return [useStore(actingStore, (s) => s.chosen), useStore(actingStore, (s) => s.choose)]
}

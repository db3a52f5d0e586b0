import { PolicyError } from '../errors.js'
import type { Policy, PolicyState } from './types.js'

/**
 * Allowed lifecycle steps. A terminated policy may become active again while its data is still
 * held (an agreement formed again within the grace period); purged is final.
 */
export const TRANSITIONS: Readonly<Record<PolicyState, readonly PolicyState[]>> = {
  proposed: ['active', 'terminated'],
  active: ['suspended', 'terminated'],
  suspended: ['active', 'terminated'],
  terminated: ['active', 'purged'],
  purged: [],
}

/** Whether `from` → `to` is a lifecycle step. */
export function canTransition(from: PolicyState, to: PolicyState): boolean {
  return TRANSITIONS[from].includes(to)
}

/**
 * The policy after moving to `to`. Terminating sets `purgeAt` to `now + graceMs`; any other step
 * clears it. Throws {@link PolicyError} for a step that is not allowed (the policy is unchanged).
 */
export function transition(policy: Policy, to: PolicyState, now: number, graceMs = 0): Policy {
  if (!canTransition(policy.state, to)) {
    throw new PolicyError(`The ${policy.type} policy for ${policy.did} is ${policy.state}; it cannot become ${to}.`)
  }
  return { ...policy, state: to, purgeAt: to === 'terminated' ? now + graceMs : null, updatedAt: now }
}

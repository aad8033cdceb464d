import type { Claimant, SlotStanding } from './standing.js'

/**
 * Why a node claims a slot, for people (logs and events): the rule that gave it the slot. A pass
 * sees live nodes only, so it calls a slot whose holder died `free`; the node, which remembers
 * the dead, names the holder (`failover`).
 */
export type ClaimRule =
  /** Nobody held the slot: a new or scaled-up slot, or one given up. */
  | { rule: 'free' }
  /** Its holder died or left. */
  | { rule: 'failover'; of: string }
  /** Its holder drains (rule 7). */
  | { rule: 'drain'; of: string }
  /** Its holder no longer matches the workload's constraints. */
  | { rule: 'ineligible'; of: string }
  /** A rolling update replaces it, in wave `wave` (from 1) of `maxUnavailable` slots (rule 8). */
  | { rule: 'update'; wave: number }

/** The rule of a claim on a slot nobody keeps, from how it stood: its displaced holder, if any. */
export function placedBecause<C extends Claimant>(state: SlotStanding<C>): ClaimRule {
  const holder = state.claims[0]
  if (state.displaced === undefined || holder === undefined) return { rule: 'free' }
  return { rule: state.displaced === 'draining' ? 'drain' : 'ineligible', of: holder.nodeId }
}

/** The rule in a few words: `free slot`, `failover of n2`, `drain of n2`, `update wave 3`. */
export function describeClaimRule(rule: ClaimRule, name: (id: string) => string = (id) => id): string {
  switch (rule.rule) {
    case 'free':
      return 'free slot'
    case 'failover':
      return `failover of ${name(rule.of)}`
    case 'drain':
      return `drain of ${name(rule.of)}`
    case 'ineligible':
      return `${name(rule.of)} no longer matches`
    case 'update':
      return `update wave ${rule.wave}`
  }
}

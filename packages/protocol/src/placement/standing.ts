import type { SlotPromise } from '../node-state.js'
import type { PlacementNode } from './types.js'
import { displacement, type WorkloadInfo, welcomes } from './workloads.js'

/** A claimant of a slot: a node and its claimed, starting or running promise. */
export interface Claimant {
  nodeId: string
  promise: SlotPromise
}

/** How a live slot stands by its claims (rules 2 and 7), in the exact pass and slot by slot alike. */
export interface SlotStanding<C extends Claimant> {
  key: string
  slot: number
  /** Claimants, best first by rule 2, one per node; the first is the holder. */
  claims: C[]
  /** Why the holder's node may no longer hold the slot (rule 7, or changed labels/constraints). */
  displaced?: 'draining' | 'ineligible'
  /** When displaced: the best claimant on a node that may hold the slot; it is not a loser. */
  successor?: C
}

/**
 * Finds whether the holder (`claims` sorted by rule 2) is displaced and, for a replicated slot,
 * who succeeds it: the best claimant whose node may hold the slot. A global slot belongs to its
 * node and has no successor.
 */
export function judge<C extends Claimant>(
  state: SlotStanding<C>,
  nodeOf: (claim: C) => PlacementNode,
  workload: WorkloadInfo,
): void {
  const holder = state.claims[0]
  if (holder === undefined) return
  const displaced = displacement(nodeOf(holder), workload)
  if (displaced === undefined) return
  state.displaced = displaced
  if (workload.global) return
  const successor = state.claims.find((claim) => welcomes(nodeOf(claim), workload))
  if (successor !== undefined) state.successor = successor
}

/** Who keeps the slot: the holder, or the successor when the holder is displaced; none if free. */
export const currentOf = <C extends Claimant>(state: SlotStanding<C>): C | undefined =>
  state.displaced === undefined ? state.claims[0] : state.successor

/**
 * What node `self` does about its own claim on a live slot: keep it as the slot's current holder
 * (`current`: the caller decides whether to update it, rule 8), keep it while its node drains
 * until the successor runs (`wait`, rule 7), or release it (`ineligible`, `drained`, or `lost` by
 * rule 2).
 */
export function ownVerdict<C extends Claimant>(
  state: SlotStanding<C>,
  self: string,
  global: boolean,
): 'current' | 'wait' | 'ineligible' | 'drained' | 'lost' {
  if (state.claims[0]?.nodeId === self) {
    if (state.displaced === 'ineligible') return 'ineligible'
    if (state.displaced === 'draining')
      return global || state.successor?.promise.phase === 'running' ? 'drained' : 'wait'
    return 'current'
  }
  return currentOf(state)?.nodeId === self ? 'current' : 'lost'
}

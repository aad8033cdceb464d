import type { SlotPromise } from '../node-state.js'
import type { PlacementNode } from './types.js'
import { displacement, type WorkloadInfo, welcomes } from './workloads.js'

/** Running and ready: in the mesh's rotation, at whatever generation. */
export const serves = (promise: SlotPromise): boolean => promise.phase === 'running' && promise.ready

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
  /**
   * Why the holder may no longer keep the slot: its node drains (rule 7), its node's labels
   * changed, or it runs an older generation beside a claim at the workload's (rule 8,
   * `updating`: a successor started before the holder stopped, as start-first does).
   */
  displaced?: 'draining' | 'ineligible' | 'updating'
  /** When displaced: the best claimant on a node that may hold the slot; it is not a loser. */
  successor?: C
}

/**
 * Finds whether the holder (`claims` sorted by rule 2) is displaced and, for a replicated slot,
 * who succeeds it: the best claimant whose node may hold the slot. A global slot belongs to its
 * node and has no successor, but for its own claim at a new generation.
 *
 * A holder at an older generation beside a claim at the workload's generation is succeeded by
 * the best such claim (`updating`): the old container keeps serving until the new one does, on
 * the same node or another (start-first, or a moved slot whose claim was seen before the
 * holder's release).
 */
export function judge<C extends Claimant>(
  state: SlotStanding<C>,
  nodeOf: (claim: C) => PlacementNode,
  workload: WorkloadInfo,
): void {
  const holder = state.claims[0]
  if (holder === undefined) return
  const displaced = displacement(nodeOf(holder), workload)
  if (displaced === undefined) {
    if (holder.promise.generation === workload.generation) return
    const successor = state.claims.find(
      (claim) =>
        claim !== holder &&
        claim.promise.generation === workload.generation &&
        welcomes(nodeOf(claim), workload) &&
        (!workload.global || claim.nodeId === holder.nodeId),
    )
    if (successor === undefined) return
    state.displaced = 'updating'
    state.successor = successor
    return
  }
  state.displaced = displaced
  if (workload.global) return
  const successor = state.claims.find((claim) => welcomes(nodeOf(claim), workload))
  if (successor !== undefined) state.successor = successor
}

/** Who keeps the slot: the holder, or the successor when the holder is displaced; none if free. */
export const currentOf = <C extends Claimant>(state: SlotStanding<C>): C | undefined =>
  state.displaced === undefined ? state.claims[0] : state.successor

/**
 * What node `self` does about its own claim `promise` on a live slot (a node may hold two: an
 * old generation and its successor): keep it as the slot's current holder (`current`: the caller
 * decides whether to update it, rule 8), keep it while its node drains until the successor runs
 * (`wait`, rule 7) or while its successor at a new generation does not serve yet (`wait`, rule
 * 8), or release it (`ineligible`, `drained`, `updating` once the successor serves, or `lost` by
 * rule 2).
 */
export function ownVerdict<C extends Claimant>(
  state: SlotStanding<C>,
  self: string,
  promise: SlotPromise,
  global: boolean,
): 'current' | 'wait' | 'ineligible' | 'drained' | 'updating' | 'lost' {
  const mine = (claim: C | undefined) =>
    claim !== undefined && claim.nodeId === self && claim.promise.generation === promise.generation
  if (mine(state.claims[0])) {
    if (state.displaced === 'ineligible') return 'ineligible'
    if (state.displaced === 'draining')
      return global || state.successor?.promise.phase === 'running' ? 'drained' : 'wait'
    if (state.displaced === 'updating')
      return state.successor !== undefined && serves(state.successor.promise) ? 'updating' : 'wait'
    return 'current'
  }
  return mine(currentOf(state)) ? 'current' : 'lost'
}

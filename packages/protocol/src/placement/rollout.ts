import type { Refusal, SlotPromise } from '../node-state.js'
import { type Claimant, currentOf, type SlotStanding, serves } from './standing.js'
import type { WorkloadInfo } from './workloads.js'

/**
 * Rule 8's vocabulary, shared by the exact pass and `planLocal` (docs/design.md, "Rollouts").
 *
 * A slot *serves* while its promise is running and ready. A slot *counts as updated* once it
 * serves at the workload's generation and is off probation: a slot a rollout started stays on
 * probation until it has been ready for the workload's `monitor` (its holder says so in the
 * promise, so that every node sees the same), and a failure on probation fails the rollout (its
 * holder refuses the generation with `rollout: true`). A rollout is *halted* once some live node
 * holds such a refusal of the workload's generation: it takes no serving slot down any more
 * (`failureAction: pause` stays so; `rollback` soon brings the previous revision back, a write of
 * the refusing node's).
 */

export { serves }

/** Serving at the workload's generation, and past its monitor. */
export const counted = (promise: SlotPromise, workload: WorkloadInfo): boolean =>
  promise.generation === workload.generation && serves(promise) && promise.probation !== true

/** A refusal that failed a rollout of the workload's current generation. */
export const failsRollout = (refusal: Refusal, workload: WorkloadInfo): boolean =>
  refusal.rollout === true && refusal.workload === workload.name && refusal.generation === workload.generation

/** Whether any of the nodes says a rollout of the workload's generation failed: no wave goes on. */
export function halted(nodes: Iterable<{ refusals: readonly Refusal[] }>, workload: WorkloadInfo): boolean {
  for (const node of nodes)
    for (const refusal of node.refusals) if (failsRollout(refusal, workload)) return true
  return false
}

/**
 * Whether a slot holds up the rollout's next wave: it does not serve (for whatever reason: a
 * slot replaced stop-first, one that cannot be placed), or it is being replaced start-first
 * (its successor does not serve yet, or its holder has not stepped down), or its slot at the
 * new generation is still on probation. `maxUnavailable` bounds how many of these a rollout
 * makes at once, whatever the order.
 */
export function inFlight<C extends Claimant, S extends SlotStanding<C>>(
  state: S,
  workload: WorkloadInfo,
  servesNow: (state: S) => boolean,
): boolean {
  if (!servesNow(state)) return true
  if (state.displaced === 'updating') return true
  const current = currentOf(state)
  return (
    current !== undefined &&
    current.promise.generation === workload.generation &&
    !counted(current.promise, workload)
  )
}

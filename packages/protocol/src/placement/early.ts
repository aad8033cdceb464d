import type { SlotPromise } from '../node-state.js'
import { AnsweredClaims } from './answered.js'
import { FailoverClaims } from './failover.js'
import { refuses } from './refusals.js'
import type { PlacementNode, PlacementView } from './types.js'
import { matchesConstraints, type WorkloadInfo } from './workloads.js'

/** What `SelfActionList.startOrKeep` asks of a young claim: whether an early start applies. */
export interface EarlyStart {
  answered: () => boolean
  failover: () => boolean
}

/**
 * Rule 5's exceptions that read the rivals' states, as both passes ask them of a claim: an opening
 * claim that every rival answered (`AnsweredClaims`), and a failover claim whose deaths every
 * rival published (`FailoverClaims`). A rival is any other node that may take the workload
 * (constraints and refusals; draining counts). `others` undefined: the view holds only part of
 * the cluster, and neither applies.
 */
export function earlyStarts(
  view: PlacementView,
  others: (() => readonly PlacementNode[]) | undefined,
): (workload: WorkloadInfo, promise: SlotPromise) => EarlyStart {
  const mayTake = (node: PlacementNode, workload: WorkloadInfo) =>
    matchesConstraints(node, workload) && !refuses(node, workload)
  const answered = new AnsweredClaims(view.openingClaims, others, mayTake, view.claimStamps)
  const failover = new FailoverClaims(view.failoverClaims, view.claimStamps, others, mayTake)
  return (workload, promise) => ({
    answered: () => answered.of(workload, promise),
    failover: () => failover.of(workload, promise),
  })
}

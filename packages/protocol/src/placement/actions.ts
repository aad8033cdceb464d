import { placedBecause } from './claim-rule.js'
import type { Classification } from './classify.js'
import type { Context } from './context.js'
import { earlyStarts } from './early.js'
import type { Outcome } from './outcome.js'
import { decideOwn, SelfActionList } from './own.js'
import { stopsOwn, takesNewWork } from './partition.js'
import { promiseSlotKey } from './slots.js'
import { SoleCandidates } from './sole.js'
import type { SelfAction } from './types.js'
import { matchesConstraints, type WorkloadInfo } from './workloads.js'

/**
 * This node's part of the plan: a decision for each of its own promises, from the bucket its slot
 * is in, then a claim for each slot placed on it.
 */
export function selfActions(context: Context, classification: Classification, out: Outcome): SelfAction[] {
  const { view, config, self } = context
  if (self === undefined) return []
  // Rule 10: cut off from most of the cluster, each workload does what its partition policy says.
  const takes = (workload: WorkloadInfo) => takesNewWork(workload.partition, view)
  const actions = new SelfActionList(view.nowWall, config.settleMs)
  const sole = new SoleCandidates((workload) =>
    context.nodes.some(
      (node, i) =>
        i !== context.self &&
        matchesConstraints(node, workload) &&
        !context.refusals.refused(i, workload.name, workload.generation),
    ),
  )
  const early = earlyStarts(view, () => context.nodes.filter((_, i) => i !== context.self))
  decideOwn(
    classification.own,
    context.byName,
    view.self,
    (workload, promise) => classification.byKey.get(promiseSlotKey(workload.global, promise, view.self)),
    (workload, promise, state) => {
      if (out.updating.has(state.key) && takes(workload)) actions.release(promise, 'updating')
      else actions.startOrKeep(promise, sole.of(workload), early(workload, promise))
    },
    actions,
    (workload) => !takes(workload),
    (workload) => stopsOwn(workload.partition, view),
  )
  for (const state of out.placed)
    if (out.assignment.get(state.key) === view.self && takes(state.workload))
      actions.claim(
        state.workload,
        state.slot,
        out.because.get(state.key) ?? placedBecause(state),
        out.rollout.has(state.key),
      )
  return actions.list()
}

import type { PartitionPolicy } from '../spec.js'
import type { PlacementConfig, PlacementView } from './types.js'

/**
 * What a workload does on a node cut off from most of the cluster (rule 10's partial view), by
 * its `partition` policy. The majority side always re-places the slots of the members it holds
 * dead; these rules say what the other side does:
 *
 * - `minority: keep` (the default): keep and restart its own slots, take over nothing, for as
 *   long as the view is partial; `takeover`: the same for `afterMs`, then take over the slots of
 *   the members it holds dead (edge-style work that must run on both sides);
 * - `isolated: stop`: once the view has been partial for `stopAfterMs`, stop its own copies too,
 *   so that a singleton does not run twice once the majority has replaced it; `keep` (the
 *   default) keeps them.
 *
 * A node still warming up is told its view is partial for 0 ms, so it never stops anything then
 * (`stopAfterMs` is at least 1 ms).
 */
export interface ResolvedPartition {
  minority: 'keep' | 'takeover'
  afterMs: number
  isolated: 'keep' | 'stop'
  stopAfterMs: number
}

export const DEFAULT_STOP_AFTER_MS = 30_000

/** The workload's policy with every default filled in; `after` defaults to the config's grace. */
export function partitionPolicy(
  policy: PartitionPolicy | undefined,
  config: Pick<PlacementConfig, 'partialViewGraceMs'>,
): ResolvedPartition {
  return {
    minority: policy?.minority ?? 'keep',
    afterMs: policy?.afterMs ?? config.partialViewGraceMs,
    isolated: policy?.isolated ?? 'keep',
    stopAfterMs: Math.max(1, policy?.stopAfterMs ?? DEFAULT_STOP_AFTER_MS),
  }
}

type PartialView = Pick<PlacementView, 'partialView' | 'partialViewForMs'>

/** Whether the node takes new work of the workload now: claims, and rolling updates. */
export function takesNewWork(policy: ResolvedPartition, view: PartialView): boolean {
  if (!view.partialView) return true
  return (
    policy.minority === 'takeover' && policy.isolated !== 'stop' && view.partialViewForMs >= policy.afterMs
  )
}

/** Whether the node stops its own copies of the workload now. */
export function stopsOwn(policy: ResolvedPartition, view: PartialView): boolean {
  return view.partialView && policy.isolated === 'stop' && view.partialViewForMs >= policy.stopAfterMs
}

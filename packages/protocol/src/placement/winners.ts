import { hlcCompare } from '../hlc.js'
import type { SlotPromise } from '../node-state.js'
import { compareText } from './compare.js'
import { promiseSlotKey } from './slots.js'
import type { PlacementView } from './types.js'
import { describeWorkloads } from './workloads.js'

const PHASE_RANK: Record<SlotPromise['phase'], number> = {
  running: 3,
  starting: 2,
  restarting: 2,
  claimed: 1,
  failed: 0,
  releasing: 0,
}

/** Claimed, starting and running promises compete for a slot; failed and releasing do not. */
export const isClaimant = (promise: SlotPromise): boolean => PHASE_RANK[promise.phase] > 0

export interface Claim {
  /** The node's index in the view's nodes sorted by id. */
  node: number
  nodeId: string
  promise: SlotPromise
}

/**
 * Rule 2's order, best first: phase (running > starting > claimed), then older `since`, then
 * smaller node id. Generation breaks the tie between two promises of one node for one slot,
 * which a well-behaved node never publishes, so that even that case is decided the same way.
 */
export function rankClaims(
  a: { nodeId: string; promise: SlotPromise },
  b: { nodeId: string; promise: SlotPromise },
): number {
  return (
    PHASE_RANK[b.promise.phase] - PHASE_RANK[a.promise.phase] ||
    hlcCompare(a.promise.since, b.promise.since) ||
    compareText(a.nodeId, b.nodeId) ||
    compareText(a.promise.generation, b.promise.generation) ||
    Number(b.promise.ready) - Number(a.promise.ready)
  )
}

/** Rule 2's order for two claims as `winners` reports them: negative when `a` is the better. */
export const compareClaims = (
  a: { node: string; promise: SlotPromise },
  b: { node: string; promise: SlotPromise },
): number => rankClaims({ nodeId: a.node, promise: a.promise }, { nodeId: b.node, promise: b.promise })

/**
 * Rule 2 alone: the best claimant of every slot any live node claims, keyed by `slotKey` (global
 * workloads: `globalSlotKey`, one slot per node, so never a conflict). Includes slots of deleted
 * workloads and past `replicas`. `plan` adds what rule 2 leaves out: a successor placed for a
 * draining node's slot keeps its claim although the draining node's promise ranks higher.
 */
export function winners(view: PlacementView): Map<string, { node: string; promise: SlotPromise }> {
  const global = new Set(
    describeWorkloads(view.workloads)
      .filter((w) => w.global)
      .map((w) => w.name),
  )
  const best = new Map<string, { nodeId: string; promise: SlotPromise }>()
  for (const node of view.nodes) {
    for (const promise of node.promises) {
      if (!isClaimant(promise)) continue
      const key = promiseSlotKey(global.has(promise.workload), promise, node.id)
      const claim = { nodeId: node.id, promise }
      const current = best.get(key)
      if (current === undefined || rankClaims(claim, current) < 0) best.set(key, claim)
    }
  }
  const result = new Map<string, { node: string; promise: SlotPromise }>()
  for (const [key, claim] of best) result.set(key, { node: claim.nodeId, promise: claim.promise })
  return result
}

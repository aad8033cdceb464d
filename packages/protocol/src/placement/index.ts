/**
 * Placement: which node runs which slot, decided by every node alone from the same view
 * (DESIGN.md section 5). Nodes that see the same declarations and promises compute the same
 * assignment without talking; where views differ for a moment, rule 2 settles the conflict.
 *
 * @example
 * ```ts
 * import { plan } from '@gary/protocol'
 *
 * const { actions, unschedulable } = plan({
 *   self: myPeerId,
 *   workloads: store.live(),           // declarations, deleted ones left out
 *   nodes: liveMembers.map(toPlacementNode), // live nodes only, self included
 *   nowWall: Date.now(),               // the caller reads the clock, not the rules
 *   partialView: false,
 *   partialViewForMs: 0,
 * })
 * for (const action of actions) await actuator.apply(action) // claim, start, release or keep
 * for (const slot of unschedulable) log.warn({ workload: slot.workload, slot: slot.slot }, slot.reasons.join('; '))
 * ```
 */
export { openingKey, opensGeneration } from './answered.js'
export { ClaimIndex, type IndexedPromise } from './claim-index.js'
export { type ClaimRule, describeClaimRule } from './claim-rule.js'
export { type Credence, credenceOf, credibleNode, type Incredible, incredible } from './credible.js'
export { hash53 } from './hash.js'
export { plan } from './plan.js'
export { decides, inScope, listenShards, MAX_SHARDS, shardAt, shardOf, shardsNear } from './shards.js'
export { slotPosition } from './slots.js'
export {
  BUCKETS,
  type BucketName,
  DEFAULT_PLACEMENT_CONFIG,
  globalSlotKey,
  type PlacementConfig,
  type PlacementNode,
  type PlacementView,
  type Plan,
  type ReleaseReason,
  type SelfAction,
  slotKey,
  type Unschedulable,
} from './types.js'
export { compareClaims, isClaimant, winners } from './winners.js'

import { selfActions } from './actions.js'
import { ClaimIndex } from './claim-index.js'
import { classify } from './classify.js'
import { compareSlots } from './compare.js'
import { buildContext } from './context.js'
import { incredible } from './credible.js'
import { Placers, placeFree, reserveHolders } from './free.js'
import { Ledger } from './ledger.js'
import { planLocal } from './local.js'
import { emptyOutcome } from './outcome.js'
import { explain } from './reasons.js'
import {
  DEFAULT_PLACEMENT_CONFIG,
  type PlacementConfig,
  type PlacementView,
  type Plan,
  type SelfAction,
} from './types.js'
import { rollUpdates } from './update.js'
import { isClaimant } from './winners.js'

/**
 * The placement rules (DESIGN.md section 5) as one pure function of the view. Everything but
 * `actions` is the same for every node that has the same view; `actions` are what `view.self`
 * does about its own promises.
 *
 * The pass: classify every promise and slot; reserve what stays (rule 3); place slots that have
 * nobody to keep them (phase A, rules 4, 7, 9); roll updates (phase B, rule 8); explain what could
 * not be placed (rule 6); derive this node's actions (rules 2, 5, 7, 10).
 * Cost: O(promises + nodes x workloads + slots x (log nodes + candidates)).
 *
 * Past `planLocallyAbove` live nodes, each node decides only the slots it can win (`planLocal`).
 */
export function plan(view: PlacementView, config: Partial<PlacementConfig> = {}): Plan {
  const credence = view.credence
  if (credence === undefined) return planView(view, config)
  // Self is judged as every receiver judges it: what they do not believe, it gives up.
  const at = view.nodes.findIndex((node) => node.id === view.self)
  const self = view.nodes[at]
  const dropped = self === undefined ? new Map() : incredible(self, credence)
  const lost = self?.promises.filter((promise) => dropped.has(promise) && isClaimant(promise)) ?? []
  let judged = view
  if (self !== undefined && dropped.size > 0) {
    const nodes = [...view.nodes]
    nodes[at] = { ...self, promises: self.promises.filter((promise) => !dropped.has(promise)) }
    judged = { ...view, nodes }
  }
  const result = planView(judged, config)
  const releases: SelfAction[] = lost.sort(compareSlots).map((promise) => ({
    kind: 'release',
    workload: promise.workload,
    slot: promise.slot,
    generation: promise.generation,
    reason: 'lost',
  }))
  // A claim stamped now by a clock behind the generation's declaration would not be believed.
  const actions = result.actions.filter(
    (action) =>
      action.kind !== 'claim' ||
      (credence.generationAt.get(action.workload)?.wall ?? 0) - credence.maxClockOffsetMs <= view.nowWall,
  )
  return { ...result, actions: [...releases, ...actions] }
}

function planView(view: PlacementView, config: Partial<PlacementConfig>): Plan {
  const full = { ...DEFAULT_PLACEMENT_CONFIG, ...config }
  // Shards leave a node only its neighbourhood's promises: the exact pass needs every one.
  if (view.nodes.length > full.planLocallyAbove || full.shards > 1)
    return planLocal(view, full, view.claims ?? ClaimIndex.of(view.nodes.filter((n) => n.id !== view.self)))
  const context = buildContext(view, full)
  const out = emptyOutcome()
  const classification = classify(context, out.buckets)
  const ledger = new Ledger(context.nodes)
  const placers = new Placers(context, ledger)

  reserveHolders(classification, ledger)
  placeFree(context, classification, ledger, placers, out)
  rollUpdates(context, classification, ledger, placers, out)
  const unschedulable = explain(context, ledger, out.unschedulable)
  const actions = selfActions(context, classification, out)

  for (const name of ['scaled-down', 'deleted'] as const) out.buckets[name] = [...new Set(out.buckets[name])]
  return { actions, assignment: out.assignment, unschedulable, buckets: out.buckets }
}

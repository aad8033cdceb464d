import { selfActions } from './actions.js'
import { ClaimIndex } from './claim-index.js'
import { classify } from './classify.js'
import { buildContext } from './context.js'
import { Placers, placeFree, reserveHolders } from './free.js'
import { Ledger } from './ledger.js'
import { planLocal } from './local.js'
import { emptyOutcome } from './outcome.js'
import { explain } from './reasons.js'
import { DEFAULT_PLACEMENT_CONFIG, type PlacementConfig, type PlacementView, type Plan } from './types.js'
import { rollUpdates } from './update.js'

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

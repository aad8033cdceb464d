import { compareText } from './compare.js'
import { RefusalIndex } from './refusals.js'
import { buildRing, type Ring } from './ring.js'
import type { PlacementConfig, PlacementNode, PlacementView } from './types.js'
import { describeWorkloads, type WorkloadInfo, welcomes } from './workloads.js'

/** The view, indexed once per pass. Nodes are referred to by their index in `nodes`. */
export interface Context {
  view: PlacementView
  config: PlacementConfig
  /** Live nodes sorted by id. */
  nodes: PlacementNode[]
  ids: string[]
  self: number | undefined
  workloads: WorkloadInfo[]
  byName: Map<string, WorkloadInfo>
  refusals: RefusalIndex
  ring: Ring
}

export function buildContext(view: PlacementView, config: PlacementConfig): Context {
  const nodes = [...view.nodes].sort((a, b) => compareText(a.id, b.id))
  const ids = nodes.map((node) => node.id)
  const self = ids.indexOf(view.self)
  const workloads = describeWorkloads(view.workloads, config)
  return {
    view,
    config,
    nodes,
    ids,
    self: self === -1 ? undefined : self,
    workloads,
    byName: new Map(workloads.map((w) => [w.name, w])),
    refusals: new RefusalIndex(nodes),
    ring: buildRing(ids),
  }
}

/** Whether a node may take a new slot of the workload (rule 4, capacity aside). */
export function mayTake(context: Context, node: number, workload: WorkloadInfo): boolean {
  return (
    welcomes(context.nodes[node] as PlacementNode, workload) &&
    !context.refusals.refused(node, workload.name, workload.generation)
  )
}

import { compareText, entry } from './compare.js'
import { RefusalIndex } from './refusals.js'
import { buildRing, type Ring } from './ring.js'
import { type PlacementConfig, type PlacementNode, type PlacementView, slotKey } from './types.js'
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
  /** The nodes holding a named volume of each slot (`web/3`), in id order. */
  volumeHolders: Map<string, number[]>
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
    volumeHolders: volumeHolders(nodes),
  }
}

function volumeHolders(nodes: readonly PlacementNode[]): Map<string, number[]> {
  const holders = new Map<string, number[]>()
  nodes.forEach((node, index) => {
    for (const volume of node.volumes ?? []) {
      const list = entry(holders, slotKey(volume.workload, volume.slot), () => [] as number[])
      if (list.at(-1) !== index) list.push(index)
    }
  })
  return holders
}

/** Whether a node may take a new slot of the workload (rule 4, capacity aside). */
export function mayTake(context: Context, node: number, workload: WorkloadInfo): boolean {
  return (
    welcomes(context.nodes[node] as PlacementNode, workload) &&
    !context.refusals.refused(node, workload.name, workload.generation)
  )
}

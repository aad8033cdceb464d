import { hlcCompare } from '../hlc.js'
import type { Refusal } from '../node-state.js'
import { entry } from './compare.js'
import type { PlacementNode } from './types.js'
import type { WorkloadInfo } from './workloads.js'

/** Who refused which workload at which generation, and the latest reason each gave. */
export class RefusalIndex {
  private readonly byKey = new Map<string, Map<number, Refusal>>()

  constructor(nodes: readonly { refusals: readonly Refusal[] }[]) {
    nodes.forEach((node, index) => {
      for (const refusal of node.refusals) {
        const key = `${refusal.workload}\u0000${refusal.generation}`
        const perNode = entry(this.byKey, key, () => new Map<number, Refusal>())
        const other = perNode.get(index)
        if (other === undefined || isLater(refusal, other)) perNode.set(index, refusal)
      }
    })
  }

  refused(node: number, workload: string, generation: string): boolean {
    return this.byKey.get(`${workload}\u0000${generation}`)?.has(node) ?? false
  }

  /** The nodes that refused, by node index, with the latest refusal of each. */
  of(workload: string, generation: string): ReadonlyMap<number, Refusal> {
    return this.byKey.get(`${workload}\u0000${generation}`) ?? new Map()
  }
}

/** Whether the node refused the workload's current generation. */
export const refuses = (node: PlacementNode, workload: WorkloadInfo): boolean =>
  node.refusals.some((r) => r.workload === workload.name && r.generation === workload.generation)

/** The node's latest refusal of the workload's current generation: the reason it gives. */
export function latestRefusal(node: PlacementNode, workload: WorkloadInfo): Refusal | undefined {
  let latest: Refusal | undefined
  for (const refusal of node.refusals) {
    if (refusal.workload !== workload.name || refusal.generation !== workload.generation) continue
    if (latest === undefined || isLater(refusal, latest)) latest = refusal
  }
  return latest
}

/** Of two refusals of one generation by one node, the one that counts: the later, then by reason. */
const isLater = (a: Refusal, b: Refusal): boolean => {
  const order = hlcCompare(a.at, b.at)
  return order > 0 || (order === 0 && a.reason < b.reason)
}

import { hlcCompare } from '../hlc.js'
import type { Refusal } from '../node-state.js'
import { entry } from './compare.js'

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

const isLater = (a: Refusal, b: Refusal): boolean => {
  const order = hlcCompare(a.at, b.at)
  return order > 0 || (order === 0 && a.reason < b.reason)
}

import { fits, loadOf, overCommitted, type Used } from './capacity.js'
import { entry } from './compare.js'
import type { PlacementNode } from './types.js'
import type { WorkloadInfo } from './workloads.js'

/**
 * What the pass has promised on each node so far: capacity reserved and replicas per workload.
 * Reservations only grow during a pass: capacity that a release frees is reused in the next
 * pass, once the release shows in the view. Every reservation uses the workload's current
 * resources, since an old generation's are not known.
 */
export class Ledger {
  private readonly cpu: Float64Array
  private readonly memory: Float64Array
  private readonly counts = new Map<string, Map<number, number>>()
  /** Host ports bound per node, by node index; absent while none is. */
  private readonly ports = new Map<number, Set<string>>()

  constructor(private readonly nodes: readonly PlacementNode[]) {
    this.cpu = new Float64Array(nodes.length)
    this.memory = new Float64Array(nodes.length)
  }

  reserve(node: number, workload: WorkloadInfo): void {
    this.cpu[node] = (this.cpu[node] ?? 0) + workload.cpuMillis
    this.memory[node] = (this.memory[node] ?? 0) + workload.memoryBytes
    if (workload.hostPorts.length > 0) {
      const ports = entry(this.ports, node, () => new Set<string>())
      for (const port of workload.hostPorts) ports.add(port)
    }
    const perNode = entry(this.counts, workload.name, () => new Map<number, number>())
    perNode.set(node, (perNode.get(node) ?? 0) + 1)
  }

  fits(node: number, workload: WorkloadInfo): boolean {
    return fits(this.capacity(node), this.used(node), workload)
  }

  /** What is reserved on the node. */
  used(node: number): Used {
    return {
      cpu: this.cpu[node] ?? 0,
      memory: this.memory[node] ?? 0,
      ports: this.ports.get(node) ?? NO_PORTS,
    }
  }

  /** Whether what is reserved on the node exceeds its capacity. */
  overCommitted(node: number): boolean {
    return overCommitted(this.capacity(node), this.cpu[node] ?? 0, this.memory[node] ?? 0)
  }

  /** The used fraction of the node's scarcer resource. */
  load(node: number): number {
    return loadOf(this.capacity(node), this.cpu[node] ?? 0, this.memory[node] ?? 0)
  }

  /** Replicas of the workload reserved on the node. */
  count(node: number, workload: string): number {
    return this.counts.get(workload)?.get(node) ?? 0
  }

  capacity(node: number): PlacementNode['capacity'] {
    return (this.nodes[node] as PlacementNode).capacity
  }
}

const NO_PORTS: ReadonlySet<string> = new Set()

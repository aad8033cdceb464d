import { formatCpu, formatMemory } from '../quantity.js'
import type { LocalView } from './local-view.js'
import { refused } from './local-view.js'
import { decides } from './shards.js'
import type { PlacementNode, Unschedulable } from './types.js'
import { matches, type WorkloadInfo } from './workloads.js'

/**
 * Why no node can take each slot, in a large cluster (rule 6): the nodes' labels, draining,
 * refusals and published room. Read over every node that may take the slot, so only for the slots
 * this node reports.
 */
export function explainLocal(
  local: LocalView,
  slots: readonly { workload: WorkloadInfo; slot: number }[],
): Unschedulable[] {
  const perWorkload = new Map<string, string[]>()
  return slots.map(({ workload, slot }) => {
    if (workload.global)
      return {
        workload: workload.name,
        slot,
        node: local.self.id,
        reasons: reasonsOver(local, workload, [local.self]),
      }
    // With ring shards, only the nodes of the slot's shard and the next may take it.
    const shard = local.slotShard(workload, slot)
    const key = `${workload.name}\u0000${shard}`
    let reasons = perWorkload.get(key)
    if (reasons === undefined) {
      const nodes = local.ring.ids.flatMap((id, i) =>
        local.shards > 1 && !decides(local.shardAtIndex(i), shard, local.shards)
          ? []
          : (local.node(id) ?? []),
      )
      reasons =
        nodes.length === 0
          ? [`no node in ring shards ${shard} and ${(shard + 1) % local.shards}`]
          : reasonsOver(local, workload, nodes)
      perWorkload.set(key, reasons)
    }
    return { workload: workload.name, slot, reasons }
  })
}

function reasonsOver(local: LocalView, workload: WorkloadInfo, nodes: readonly PlacementNode[]): string[] {
  const matching = nodes.filter((node) => matches(node.labels, workload.constraints))
  if (matching.length === 0)
    return [`no node matches ${workload.constraints.map(([key, value]) => `${key}=${value}`).join(', ')}`]
  const reasons: string[] = []
  const draining = matching.filter((node) => node.draining).length
  if (draining > 0) reasons.push(`${draining} ${draining === 1 ? 'node is' : 'nodes are'} draining`)
  const refusing = matching.filter((node) => !node.draining && refused(node, workload)).length
  if (refusing > 0) reasons.push(`${refusing} ${refusing === 1 ? 'node' : 'nodes'} refused ${workload.name}`)
  const rest = matching.filter((node) => !node.draining && !refused(node, workload))
  if (rest.length > 0) {
    const free = rest.map((node) => {
      const usage = local.usage(node)
      return { cpu: node.capacity.cpuMillis - usage.cpu, memory: node.capacity.memoryBytes - usage.memory }
    })
    const cpu = free.some((f) => f.cpu >= workload.cpuMillis)
    const memory = free.some((f) => f.memory >= workload.memoryBytes)
    if (!cpu) reasons.push(`no node has ${formatCpu(workload.cpuMillis)} cpu free`)
    if (!memory) reasons.push(`no node has ${formatMemory(workload.memoryBytes)} memory free`)
    if (cpu && memory)
      reasons.push(
        `no node has both ${formatCpu(workload.cpuMillis)} cpu and ${formatMemory(workload.memoryBytes)} memory free`,
      )
  }
  return reasons
}

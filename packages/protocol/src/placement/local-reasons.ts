import { compareText } from './compare.js'
import type { Room } from './local.js'
import type { LocalView } from './local-view.js'
import { explainOver, explainOwner } from './reasons.js'
import { latestRefusal } from './refusals.js'
import { decides } from './shards.js'
import type { Unschedulable } from './types.js'
import type { WorkloadInfo } from './workloads.js'

/**
 * Why no node can take each slot, in a large cluster (rule 6), in the exact pass's words: read
 * over every node that may take the slot (their labels, draining, refusals and published room),
 * so only for the slots this node reports. A global workload's slot is read on this node's room,
 * claims of this pass included, as it was judged.
 */
export function explainLocal(
  local: LocalView,
  slots: readonly { workload: WorkloadInfo; slot: number }[],
  room: Room,
): Unschedulable[] {
  const perWorkload = new Map<string, string[]>()
  return slots.map(({ workload, slot }) => {
    if (workload.global)
      return {
        workload: workload.name,
        slot,
        node: local.self.id,
        reasons: explainOwner(workload, local.self, latestRefusal(local.self, workload), room.used),
      }
    // With ring shards, only the nodes of the slot's shard and the next may take it.
    const shard = local.slotShard(workload, slot)
    const key = `${workload.name}\u0000${shard}`
    let reasons = perWorkload.get(key)
    if (reasons === undefined) {
      const nodes = local.ring.ids
        .flatMap((id, i) =>
          local.shards > 1 && !decides(local.shardAtIndex(i), shard, local.shards)
            ? []
            : (local.node(id) ?? []),
        )
        .sort((a, b) => compareText(a.id, b.id))
      reasons =
        nodes.length === 0
          ? [`no node in ring shards ${shard} and ${(shard + 1) % local.shards}`]
          : explainOver(
              workload,
              nodes,
              (node) => latestRefusal(node, workload),
              (node) => local.usage(node),
            )
      perWorkload.set(key, reasons)
    }
    return { workload: workload.name, slot, reasons }
  })
}

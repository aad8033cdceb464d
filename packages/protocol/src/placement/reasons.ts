import type { Refusal } from '../node-state.js'
import { formatCpu, formatMemory } from '../quantity.js'
import { portsTaken, type Used } from './capacity.js'
import type { SlotState } from './classify.js'
import { compareText, entry } from './compare.js'
import type { Context } from './context.js'
import type { Ledger } from './ledger.js'
import type { PlacementNode, Unschedulable } from './types.js'
import { hostPathRefused, matches, type WorkloadInfo } from './workloads.js'

/** Nodes named in one reason before the rest are counted. */
const NAMED = 5

/**
 * Why the exact pass could place no node for each unschedulable slot (rule 6), from the
 * reservations at the end of the pass.
 */
export function explain(context: Context, ledger: Ledger, slots: readonly SlotState[]): Unschedulable[] {
  const perWorkload = new Map<string, string[]>()
  const usedOf = (_: PlacementNode, node: number): Used => ledger.used(node)
  return slots.map((state) => {
    const { workload } = state
    const refusals = context.refusals.of(workload.name, workload.generation)
    if (workload.global) {
      const owner = state.owner as number
      const node = context.nodes[owner] as PlacementNode
      return {
        workload: workload.name,
        slot: 0,
        node: node.id,
        reasons: explainOwner(workload, node, refusals.get(owner), usedOf(node, owner)),
      }
    }
    const reasons = entry(perWorkload, workload.name, () =>
      explainOver(workload, context.nodes, (_, node) => refusals.get(node), usedOf),
    )
    return { workload: workload.name, slot: state.slot, reasons }
  })
}

/**
 * Rule 6 for a replicated slot: why none of `nodes` (sorted by id) can take a slot of the
 * workload, in a fixed wording and order. Constraints first (nothing else matters if no node
 * matches), then host paths the nodes do not allow, grouped by path, then draining nodes, then refusals grouped by reason, then host ports bound by
 * other slots, grouped by port, then the room of the rest.
 */
export function explainOver(
  workload: WorkloadInfo,
  nodes: readonly PlacementNode[],
  refusalOf: (node: PlacementNode, index: number) => Refusal | undefined,
  usedOf: (node: PlacementNode, index: number) => Used,
): string[] {
  if (nodes.length === 0) return ['no live nodes']
  const matching = nodes.flatMap((node, index) => (matches(node.labels, workload.constraints) ? [index] : []))
  if (matching.length === 0) {
    return [`no node matches ${workload.constraints.map(([key, value]) => `${key}=${value}`).join(', ')}`]
  }
  const reasons: string[] = []
  const byPath = new Map<string, number[]>()
  const allowing = matching.filter((index) => {
    const path = hostPathRefused(nodes[index] as PlacementNode, workload)
    if (path !== undefined) entry(byPath, path, () => [] as number[]).push(index)
    return path === undefined
  })
  for (const [path, refusing] of [...byPath].sort(([a], [b]) => compareText(a, b)))
    reasons.push(`host path ${path} not allowed on ${names(nodes, refusing)}`)
  const draining = allowing.filter((index) => nodes[index]?.draining === true)
  if (draining.length > 0)
    reasons.push(`${names(nodes, draining)} ${draining.length === 1 ? 'is' : 'are'} draining`)
  const byReason = new Map<string, number[]>()
  const byPort = new Map<string, number[]>()
  const rest: { index: number; used: Used }[] = []
  for (const index of allowing) {
    const node = nodes[index] as PlacementNode
    if (node.draining) continue
    const refusal = refusalOf(node, index)
    if (refusal !== undefined) {
      entry(byReason, refusal.reason, () => [] as number[]).push(index)
      continue
    }
    const used = usedOf(node, index)
    const taken = portsTaken(used, workload)[0]
    if (taken !== undefined) entry(byPort, taken, () => [] as number[]).push(index)
    else rest.push({ index, used })
  }
  for (const [reason, refusing] of byReason) reasons.push(`${names(nodes, refusing)} refused: ${reason}`)
  for (const [port, holding] of [...byPort].sort(([a], [b]) => compareText(a, b)))
    reasons.push(`port ${port} in use on ${names(nodes, holding)}`)
  if (rest.length > 0) {
    const free = rest.map(({ index, used }) => freeOf((nodes[index] as PlacementNode).capacity, used))
    const cpu = free.some((f) => f.cpu >= workload.cpuMillis)
    const memory = free.some((f) => f.memory >= workload.memoryBytes)
    if (!cpu) reasons.push(`no node has ${formatCpu(workload.cpuMillis)} cpu free`)
    if (!memory) reasons.push(`no node has ${formatMemory(workload.memoryBytes)} memory free`)
    if (cpu && memory) {
      reasons.push(
        `no node has both ${formatCpu(workload.cpuMillis)} cpu and ${formatMemory(workload.memoryBytes)} memory free`,
      )
    }
  }
  return reasons
}

/** Rule 6 for a global workload's slot on its own node, which matches and does not drain. */
export function explainOwner(
  workload: WorkloadInfo,
  node: PlacementNode,
  refusal: Refusal | undefined,
  used: Used,
): string[] {
  const { id } = node
  const path = hostPathRefused(node, workload)
  if (path !== undefined) return [`host path ${path} not allowed on ${id}`]
  if (refusal !== undefined) return [`${id} refused: ${refusal.reason}`]
  const reasons = portsTaken(used, workload).map((port) => `port ${port} in use on ${id}`)
  const free = freeOf(node.capacity, used)
  if (free.cpu < workload.cpuMillis)
    reasons.push(`${id} has ${formatCpu(free.cpu)} cpu free, needs ${formatCpu(workload.cpuMillis)}`)
  if (free.memory < workload.memoryBytes)
    reasons.push(
      `${id} has ${formatMemory(free.memory)} memory free, needs ${formatMemory(workload.memoryBytes)}`,
    )
  return reasons
}

const freeOf = (capacity: PlacementNode['capacity'], used: Used) => ({
  cpu: capacity.cpuMillis - used.cpu,
  memory: capacity.memoryBytes - used.memory,
})

function names(nodes: readonly PlacementNode[], indices: readonly number[]): string {
  const shown = indices.slice(0, NAMED).map((index) => (nodes[index] as PlacementNode).id)
  const more = indices.length - shown.length
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ')
}

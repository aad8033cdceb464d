import { formatCpu, formatMemory } from '../quantity.js'
import type { SlotState } from './classify.js'
import { entry } from './compare.js'
import type { Context } from './context.js'
import type { Ledger } from './ledger.js'
import type { Unschedulable } from './types.js'
import { matches, type WorkloadInfo } from './workloads.js'

/** Nodes named in one reason before the rest are counted. */
const NAMED = 5

/**
 * Why no node can take each unschedulable slot (rule 6), in a fixed wording and order, from the
 * reservations at the end of the pass. Constraints first (nothing else matters if no node
 * matches), then draining nodes, then refusals grouped by reason, then capacity of the rest.
 */
export function explain(context: Context, ledger: Ledger, slots: readonly SlotState[]): Unschedulable[] {
  const perWorkload = new Map<string, string[]>()
  return slots.map((state) => {
    const { workload } = state
    if (workload.global) {
      const owner = state.owner as number
      return {
        workload: workload.name,
        slot: 0,
        node: context.ids[owner] as string,
        reasons: explainNode(context, ledger, workload, owner),
      }
    }
    const reasons = entry(perWorkload, workload.name, () => explainWorkload(context, ledger, workload))
    return { workload: workload.name, slot: state.slot, reasons }
  })
}

function explainWorkload(context: Context, ledger: Ledger, workload: WorkloadInfo): string[] {
  if (context.nodes.length === 0) return ['no live nodes']
  const matching = context.nodes.flatMap((node, index) =>
    matches(node.labels, workload.constraints) ? [index] : [],
  )
  if (matching.length === 0) {
    return [`no node matches ${workload.constraints.map(([key, value]) => `${key}=${value}`).join(', ')}`]
  }
  const reasons: string[] = []
  const draining = matching.filter((node) => context.nodes[node]?.draining === true)
  if (draining.length > 0)
    reasons.push(`${names(context, draining)} ${draining.length === 1 ? 'is' : 'are'} draining`)
  const refusals = context.refusals.of(workload.name, workload.generation)
  const byReason = new Map<string, number[]>()
  const rest: number[] = []
  for (const node of matching) {
    if (context.nodes[node]?.draining === true) continue
    const refusal = refusals.get(node)
    if (refusal === undefined) {
      rest.push(node)
      continue
    }
    entry(byReason, refusal.reason, () => [] as number[]).push(node)
  }
  for (const [reason, nodes] of byReason) reasons.push(`${names(context, nodes)} refused: ${reason}`)
  if (rest.length > 0) {
    const cpu = rest.some((node) => ledger.freeCpu(node) >= workload.cpuMillis)
    const memory = rest.some((node) => ledger.freeMemory(node) >= workload.memoryBytes)
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

function explainNode(context: Context, ledger: Ledger, workload: WorkloadInfo, node: number): string[] {
  const id = context.ids[node] as string
  const refusal = context.refusals.of(workload.name, workload.generation).get(node)
  if (refusal !== undefined) return [`${id} refused: ${refusal.reason}`]
  const reasons: string[] = []
  const cpu = ledger.freeCpu(node)
  const memory = ledger.freeMemory(node)
  if (cpu < workload.cpuMillis)
    reasons.push(`${id} has ${formatCpu(cpu)} cpu free, needs ${formatCpu(workload.cpuMillis)}`)
  if (memory < workload.memoryBytes)
    reasons.push(`${id} has ${formatMemory(memory)} memory free, needs ${formatMemory(workload.memoryBytes)}`)
  return reasons
}

function names(context: Context, nodes: readonly number[]): string {
  const shown = nodes.slice(0, NAMED).map((node) => context.ids[node] as string)
  const more = nodes.length - shown.length
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ')
}

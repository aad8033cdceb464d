import { generationOf, type SlotPromise, type Unschedulable, type Workload } from '@gary/protocol'
import { isoTime } from './iso-time.js'

/** One row of `gary ps`: a slot a node promised, or a slot no node could take. */
export interface SlotRow {
  workload: string
  slot: number
  /** The promising node; null when no node could take the slot (for a global workload, the node whose slot it is). */
  node: string | null
  phase: SlotPromise['phase'] | 'unschedulable'
  ready: boolean
  containerId: string | null
  /** Where the slot's published ports are reached: `host:port/proto`. */
  endpoints: string[]
  generation: string
  /** ISO time of the claim; null for an unschedulable slot (or a claim time no date has). */
  since: string | null
  /** Milliseconds since the claim. */
  ageMs: number | null
  /** Why no node can take the slot (unschedulable rows only). */
  reasons?: string[]
  /** Times its container was restarted since the slot was claimed (absent: none). */
  restarts?: number
  /** Why its last container stopped: `exit N`, or `unhealthy` (absent: it never did). */
  lastExit?: string
}

/**
 * The rows of `gary ps` from the promises of live nodes and the slots the rules could not place.
 * Every node with the same view lists the same rows.
 */
export function slotRows(
  nodes: readonly { id: string; promises: readonly SlotPromise[] }[],
  workloads: readonly Workload[],
  unschedulable: readonly Unschedulable[],
  nowWall: number,
): SlotRow[] {
  const rows: SlotRow[] = []
  for (const node of nodes) {
    for (const promise of node.promises) {
      rows.push({
        workload: promise.workload,
        slot: promise.slot,
        node: node.id,
        phase: promise.phase,
        ready: promise.ready,
        containerId: promise.container ?? null,
        endpoints: promise.endpoints,
        generation: promise.generation,
        since: isoTime(promise.since.wall),
        ageMs: Math.max(0, nowWall - promise.since.wall),
        ...(promise.restarts === undefined ? {} : { restarts: promise.restarts }),
        ...(promise.unhealthy === true
          ? { lastExit: 'unhealthy' }
          : promise.exitCode === undefined
            ? {}
            : { lastExit: `exit ${promise.exitCode}` }),
      })
    }
  }
  const generations = new Map(workloads.map((w) => [w.name, generationOf(w)]))
  for (const slot of unschedulable) {
    rows.push({
      workload: slot.workload,
      slot: slot.slot,
      // A global workload's slot belongs to one node even when it cannot run there.
      node: slot.node ?? null,
      phase: 'unschedulable',
      ready: false,
      containerId: null,
      endpoints: [],
      generation: generations.get(slot.workload) ?? '',
      since: null,
      ageMs: null,
      reasons: slot.reasons,
    })
  }
  return rows.sort(
    (a, b) => compare(a.workload, b.workload) || a.slot - b.slot || compare(a.node ?? '', b.node ?? '') || 0,
  )
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

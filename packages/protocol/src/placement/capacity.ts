import type { PlacementNode } from './types.js'
import type { WorkloadInfo } from './workloads.js'

type Capacity = PlacementNode['capacity']

/** What a node's slots take: millicores, bytes, and host ports (`18080/tcp`). */
export interface Used {
  cpu: number
  memory: number
  ports: ReadonlySet<string>
}

/**
 * Whether one more slot of the workload fits beside what is used: its cpu and memory, and none
 * of its host ports bound there already (item 8: two slots cannot bind one port of a node).
 */
export const fits = (capacity: Capacity, used: Used, workload: WorkloadInfo): boolean =>
  used.cpu + workload.cpuMillis <= capacity.cpuMillis &&
  used.memory + workload.memoryBytes <= capacity.memoryBytes &&
  portsTaken(used, workload).length === 0

/** The workload's host ports that are bound on the node already. */
export const portsTaken = (used: { ports: ReadonlySet<string> }, workload: WorkloadInfo): string[] =>
  workload.hostPorts.length === 0 ? [] : workload.hostPorts.filter((port) => used.ports.has(port))

/** Whether what is used exceeds the capacity. */
export const overCommitted = (capacity: Capacity, cpu: number, memory: number): boolean =>
  cpu > capacity.cpuMillis || memory > capacity.memoryBytes

/** The used fraction of the scarcer resource; infinite when something is used of nothing. */
export const loadOf = (capacity: Capacity, cpu: number, memory: number): number =>
  Math.max(fraction(cpu, capacity.cpuMillis), fraction(memory, capacity.memoryBytes))

const fraction = (used: number, capacity: number): number =>
  capacity > 0 ? used / capacity : used > 0 ? Number.POSITIVE_INFINITY : 0

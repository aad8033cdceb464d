import type { PlacementNode } from './types.js'
import type { WorkloadInfo } from './workloads.js'

type Capacity = PlacementNode['capacity']

/** Whether one more slot of the workload fits beside `cpu` millicores and `memory` bytes used. */
export const fits = (capacity: Capacity, cpu: number, memory: number, workload: WorkloadInfo): boolean =>
  cpu + workload.cpuMillis <= capacity.cpuMillis && memory + workload.memoryBytes <= capacity.memoryBytes

/** Whether what is used exceeds the capacity. */
export const overCommitted = (capacity: Capacity, cpu: number, memory: number): boolean =>
  cpu > capacity.cpuMillis || memory > capacity.memoryBytes

/** The used fraction of the scarcer resource; infinite when something is used of nothing. */
export const loadOf = (capacity: Capacity, cpu: number, memory: number): number =>
  Math.max(fraction(cpu, capacity.cpuMillis), fraction(memory, capacity.memoryBytes))

const fraction = (used: number, capacity: number): number =>
  capacity > 0 ? used / capacity : used > 0 ? Number.POSITIVE_INFINITY : 0

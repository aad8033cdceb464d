import { canonicalJson } from '../canonical.js'
import { hostPathAllowed } from '../host-path.js'
import { generationOf, type Workload } from '../spec.js'
import { compareText } from './compare.js'
import { partitionPolicy, type ResolvedPartition } from './partition.js'
import { DEFAULT_PLACEMENT_CONFIG, type PlacementConfig, type PlacementNode } from './types.js'

/** A declaration with what the rules read from it computed once. */
export interface WorkloadInfo {
  name: string
  spec: Workload
  generation: string
  global: boolean
  /** Slots to run; 0 for a global workload. */
  replicas: number
  cpuMillis: number
  memoryBytes: number
  /** At least 1. */
  maxUnavailable: number
  /** How a rollout replaces a slot (rule 8). */
  order: 'stop-first' | 'start-first'
  /** The host ports a slot binds on its node, `18080/tcp`: no two slots on a node may share one. */
  hostPorts: string[]
  /** Constraint pairs sorted by key. */
  constraints: [string, string][]
  /** The node paths its bind mounts mount, sorted: a node must allow each (`--allow-host-path`). */
  hostPaths: string[]
  /** It mounts a named volume: a free slot goes back to the node that holds the slot's data. */
  keepsData: boolean
  /** What it does on a node cut off from most of the cluster. */
  partition: ResolvedPartition
}

/**
 * The declarations sorted by name, the order in which free slots are placed. Names are unique in
 * a declaration store; should two arrive anyway, the one with the smaller canonical JSON counts,
 * so that the choice does not depend on the order of the list.
 */
export function describeWorkloads(
  workloads: readonly Workload[],
  config: Pick<PlacementConfig, 'partialViewGraceMs'> = DEFAULT_PLACEMENT_CONFIG,
): WorkloadInfo[] {
  const byName = new Map<string, Workload>()
  for (const workload of workloads) {
    const other = byName.get(workload.name)
    if (other === undefined || canonicalJson(workload) < canonicalJson(other))
      byName.set(workload.name, workload)
  }
  return [...byName.values()]
    .sort((a, b) => compareText(a.name, b.name))
    .map((spec) => ({
      name: spec.name,
      spec,
      generation: generationOf(spec),
      global: spec.mode === 'global',
      replicas: spec.mode === 'global' ? 0 : spec.replicas,
      cpuMillis: spec.resources.cpuMillis,
      memoryBytes: spec.resources.memoryBytes,
      maxUnavailable: Math.max(1, spec.update.maxUnavailable),
      order: spec.update.order,
      hostPorts: hostPortsOf(spec),
      constraints: Object.entries(spec.constraints).sort(([a], [b]) => compareText(a, b)),
      hostPaths: hostPathsOf(spec),
      keepsData: (spec.volumes ?? []).some((volume) => volume.name !== undefined),
      partition: partitionPolicy(spec.partition, config),
    }))
}

/** The host ports a workload's slot binds, `PORT/PROTOCOL`, sorted (`portKey`). */
export function hostPortsOf(spec: Workload): string[] {
  const ports = new Set<string>()
  for (const port of spec.ports)
    if (port.hostPort !== undefined) ports.add(portKey(port.hostPort, port.protocol))
  return [...ports].sort()
}

/** The node paths a workload's bind mounts mount, without duplicates, sorted. */
export function hostPathsOf(spec: Workload): string[] {
  const paths = new Set<string>()
  for (const volume of spec.volumes ?? []) if (volume.source !== undefined) paths.add(volume.source)
  return [...paths].sort(compareText)
}

/**
 * The first of the workload's bind mount sources the node does not allow, which keeps the
 * workload off it; undefined when it allows them all. A node publishes its prefixes with its
 * capacity, so every node judges every other alike.
 */
export function hostPathRefused(node: PlacementNode, workload: WorkloadInfo): string | undefined {
  if (workload.hostPaths.length === 0) return undefined
  const allowed = node.hostPaths ?? []
  return workload.hostPaths.find((path) => !hostPathAllowed(path, allowed))
}

/** A port of a node as placement counts it: `18080/tcp`. */
export const portKey = (port: number, protocol: string): string => `${port}/${protocol}`

/** Whether a node's labels carry every constraint, with its value. */
export function matches(labels: Record<string, string>, constraints: readonly [string, string][]): boolean {
  for (const [key, value] of constraints) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false
  }
  return true
}

/**
 * Why a node may no longer hold the workload's slots: it drains (rule 7), or its labels no longer
 * carry the constraints. Undefined when it may.
 */
export function displacement(
  node: PlacementNode,
  workload: WorkloadInfo,
): 'draining' | 'ineligible' | undefined {
  if (node.draining) return 'draining'
  if (!matches(node.labels, workload.constraints)) return 'ineligible'
  if (hostPathRefused(node, workload) !== undefined) return 'ineligible'
  return undefined
}

/** Whether a node's labels carry the workload's constraints and it allows its host paths, draining aside. */
export const matchesConstraints = (node: PlacementNode, workload: WorkloadInfo): boolean =>
  matches(node.labels, workload.constraints) && hostPathRefused(node, workload) === undefined

/** Whether a node may hold the workload at all: it matches the constraints and is not draining. */
export const welcomes = (node: PlacementNode, workload: WorkloadInfo): boolean =>
  displacement(node, workload) === undefined

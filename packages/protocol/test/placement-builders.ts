import { expect } from 'vitest'
import {
  generationOf,
  type Hlc,
  type PlacementNode,
  type SelfAction,
  type SlotPromise,
  slotKey,
  type Workload,
} from '../src/index.js'

export const MI = 2 ** 20
export const GI = 2 ** 30

/** A small replicated workload, with overrides. */
export function workload(name: string, overrides: Partial<Workload> = {}): Workload {
  return {
    name,
    image: 'img:1',
    env: {},
    mode: 'replicated',
    replicas: 1,
    resources: { cpuMillis: 100, memoryBytes: 64 * MI },
    ports: [],
    constraints: {},
    restart: { policy: 'always', maxRetries: 5 },
    update: { maxUnavailable: 1 },
    labels: {},
    ...overrides,
  }
}

/** A node with 4 cores and 8 GiB, no labels, promises or refusals, with overrides. */
export function node(id: string, overrides: Partial<PlacementNode> = {}): PlacementNode {
  return {
    id,
    labels: {},
    capacity: { cpuMillis: 4000, memoryBytes: 8 * GI },
    draining: false,
    promises: [],
    refusals: [],
    ...overrides,
  }
}

/** The promise a node publishes when it carries out a claim action. */
export function claimedPromise(action: Extract<SelfAction, { kind: 'claim' }>, since: Hlc): SlotPromise {
  return {
    workload: action.workload,
    slot: action.slot,
    generation: action.generation,
    phase: 'claimed',
    since,
    ready: false,
    endpoints: [],
  }
}

/** The promise of a slot running the workload's generation, ready, since wall time `round`. */
export const runningPromise = (w: Workload, slot: number, round: number): SlotPromise => ({
  workload: w.name,
  slot,
  generation: generationOf(w),
  phase: 'running',
  since: { wall: round, logical: 0 },
  ready: true,
  endpoints: [],
})

/** The cpu a node's promises take, by the declared workloads. */
export const cpuUsed = (workloads: readonly Workload[], n: PlacementNode): number =>
  n.promises.reduce(
    (sum, p) => sum + (workloads.find((w) => w.name === p.workload)?.resources.cpuMillis ?? 0),
    0,
  )

/**
 * No slot is held twice, and a slot nobody holds has no room left on any node that `mayHold` it
 * (by cpu, as the declared workloads count it).
 */
export function expectHeldOnceOrNoRoom(
  c: { nodes: readonly PlacementNode[]; workloads: readonly Workload[] },
  mayHold: (node: PlacementNode, workload: Workload, slot: number) => boolean,
): void {
  const holders = new Map<string, string[]>()
  for (const x of c.nodes)
    for (const p of x.promises) {
      const key = slotKey(p.workload, p.slot)
      holders.set(key, [...(holders.get(key) ?? []), x.id])
    }
  for (const ids of holders.values()) expect(ids).toHaveLength(1)
  for (const w of c.workloads)
    for (let slot = 0; slot < w.replicas; slot++) {
      if (holders.has(slotKey(w.name, slot))) continue
      const room = c.nodes.filter(
        (x) => mayHold(x, w, slot) && cpuUsed(c.workloads, x) + w.resources.cpuMillis <= x.capacity.cpuMillis,
      )
      expect(room.map((x) => x.id)).toStrictEqual([])
    }
}

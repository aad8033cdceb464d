import type { Hlc, SlotPromise } from '../node-state.js'
import type { Workload } from '../spec.js'
import { fits } from './capacity.js'
import { compareSlots } from './compare.js'
import type { PlacementNode } from './types.js'
import { isClaimant, rankClaims } from './winners.js'
import { describeWorkloads, type WorkloadInfo } from './workloads.js'

/**
 * What every receiver knows alike that bounds a member's promises: the declarations (with when
 * each workload's current generation was declared) and the bound on clock offset.
 */
export interface Credence {
  /** Declared workloads by name. */
  workloads: ReadonlyMap<string, WorkloadInfo>
  /** When the workload's current generation was first declared, if the declaration says. */
  generationAt: ReadonlyMap<string, Hlc>
  /** The largest clock offset tolerated between members, ms (`--max-clock-offset-ms`). */
  maxClockOffsetMs: number
}

/** The credence of a set of declarations. */
export function credenceOf(
  workloads: readonly Workload[],
  generationAt: ReadonlyMap<string, Hlc>,
  maxClockOffsetMs: number,
): Credence {
  const infos = describeWorkloads(workloads)
  return { workloads: new Map(infos.map((w) => [w.name, w])), generationAt, maxClockOffsetMs }
}

/** Why a promise does not count. */
export type Incredible = 'since-before-generation' | 'beyond-capacity'

/**
 * Which of a member's promises are not credible, and why (a member may only promise about
 * itself, so a promise that could not be true must not take a slot from anyone):
 * - `since-before-generation`: it holds the workload's current generation since before that
 *   generation was declared (less the offset bound);
 * - `beyond-capacity`: the member's claims of declared slots take more than the capacity it
 *   publishes (or bind one host port twice); it keeps the best by rule 2's order (then slot
 *   order), as many as fit, counted at the workloads' current resources.
 * A `since` ahead of every clock is not bounded: it only makes a claim lose (rule 2), and
 * receivers' clocks differ, so they would not drop it alike. Failed and releasing promises, and
 * promises of slots no longer declared, take nothing. A pure function of the node and the
 * declarations: every receiver with the same declarations drops the same promises.
 */
export function incredible(node: PlacementNode, credence: Credence): Map<SlotPromise, Incredible> {
  const out = new Map<SlotPromise, Incredible>()
  if (allCredible(node, credence)) return out
  const claims: SlotPromise[] = []
  for (const promise of node.promises) {
    const workload = credence.workloads.get(promise.workload)
    if (workload === undefined) continue
    if (predatesGeneration(promise, workload, credence)) {
      out.set(promise, 'since-before-generation')
      continue
    }
    if (countsAsClaim(promise, workload)) claims.push(promise)
  }
  claims.sort(
    (a, b) => rankClaims({ nodeId: '', promise: a }, { nodeId: '', promise: b }) || compareSlots(a, b),
  )
  const used = { cpu: 0, memory: 0, ports: new Set<string>() }
  const seen = new Set<string>()
  for (const promise of claims) {
    const key = `${promise.workload}/${promise.slot}`
    // A second promise for one slot (another generation, started first) is not counted again.
    if (seen.has(key)) continue
    const workload = credence.workloads.get(promise.workload) as WorkloadInfo
    if (!fits(node.capacity, used, workload)) {
      out.set(promise, 'beyond-capacity')
      continue
    }
    seen.add(key)
    used.cpu += workload.cpuMillis
    used.memory += workload.memoryBytes
    for (const port of workload.hostPorts) used.ports.add(port)
  }
  return out
}

/** A promise of the current generation held since before that generation was declared (less the offset bound). */
function predatesGeneration(promise: SlotPromise, workload: WorkloadInfo, credence: Credence): boolean {
  const declared = credence.generationAt.get(workload.name)
  return (
    declared !== undefined &&
    promise.generation === workload.generation &&
    promise.since.wall < declared.wall - credence.maxClockOffsetMs
  )
}

/** A claim on one of the workload's declared slots: what the member's capacity must hold. */
function countsAsClaim(promise: SlotPromise, workload: WorkloadInfo): boolean {
  const declared = workload.global ? promise.slot === 0 : promise.slot < workload.replicas
  return declared && isClaimant(promise)
}

/**
 * Whether every promise is credible, found without sorting: none held since before its
 * generation, and the claims fit the capacity together, whatever their order (then none is beyond
 * it). Most states are such, and sorting each member's claims by rule 2 for each state received
 * was a tenth of a simulated 1000-node deploy. False also when only the full count can tell.
 */
function allCredible(node: PlacementNode, credence: Credence): boolean {
  const { cpuMillis, memoryBytes } = node.capacity
  const known = judged.get(node.promises)
  if (known?.credence === credence && known.cpuMillis === cpuMillis && known.memoryBytes === memoryBytes)
    return known.credible
  const credible = countAllCredible(node, credence)
  judged.set(node.promises, { credence, cpuMillis, memoryBytes, credible })
  return credible
}

/**
 * `allCredible` as last found for a member's promises (the same array for every receiver of one
 * state), under one credence and capacity: the nodes a simulator runs share their credence
 * (`ClusterView`), and each judged every state of its scope again.
 */
const judged = new WeakMap<
  readonly SlotPromise[],
  { credence: Credence; cpuMillis: number; memoryBytes: number; credible: boolean }
>()

function countAllCredible(node: PlacementNode, credence: Credence): boolean {
  let cpu = 0
  let memory = 0
  for (const promise of node.promises) {
    const workload = credence.workloads.get(promise.workload)
    if (workload === undefined) continue
    if (predatesGeneration(promise, workload, credence)) return false
    if (!countsAsClaim(promise, workload)) continue
    // Host ports, negative amounts and rounding depend on the order: the full count judges them.
    const { cpuMillis, memoryBytes } = workload
    if (workload.hostPorts.length > 0 || !(cpuMillis >= 0 && memoryBytes >= 0)) return false
    if (!Number.isSafeInteger(cpuMillis) || !Number.isSafeInteger(memoryBytes)) return false
    cpu += cpuMillis
    memory += memoryBytes
  }
  return cpu <= node.capacity.cpuMillis && memory <= node.capacity.memoryBytes
}

/**
 * The node as placement reads it: its credible promises only (`incredible`). The same object
 * when every promise is credible.
 */
export function credibleNode(node: PlacementNode, credence: Credence): PlacementNode {
  if (allCredible(node, credence)) return node
  const dropped = incredible(node, credence)
  if (dropped.size === 0) return node
  return { ...node, promises: node.promises.filter((promise) => !dropped.has(promise)) }
}

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
  /** The receiver's wall clock, ms. */
  nowWall: number
  /** The largest clock offset tolerated between members, ms (`--max-clock-offset-ms`). */
  maxClockOffsetMs: number
}

/** The credence of a set of declarations, at the receiver's wall time. */
export function credenceOf(
  workloads: readonly Workload[],
  generationAt: ReadonlyMap<string, Hlc>,
  nowWall: number,
  maxClockOffsetMs: number,
): Credence {
  const infos = describeWorkloads(workloads)
  return { workloads: new Map(infos.map((w) => [w.name, w])), generationAt, nowWall, maxClockOffsetMs }
}

/** Why a promise does not count. */
export type Incredible = 'since-ahead' | 'since-before-generation' | 'beyond-capacity'

/**
 * Which of a member's promises are not credible, and why (a member may only promise about
 * itself, so a promise that could not be true must not take a slot from anyone):
 * - `since-ahead`: its `since` is ahead of the receiver's clock by more than the offset bound;
 * - `since-before-generation`: it holds the workload's current generation since before that
 *   generation was declared (less the offset bound);
 * - `beyond-capacity`: the member's claims of declared slots take more than the capacity it
 *   publishes; it keeps the best by rule 2's order (then slot order), as many as fit, counted
 *   at the workloads' current resources.
 * Failed and releasing promises, and promises of slots no longer declared, take nothing and are
 * judged on `since` only. A pure function of the node and the credence: every receiver with the
 * same declarations drops the same promises.
 */
export function incredible(node: PlacementNode, credence: Credence): Map<SlotPromise, Incredible> {
  const out = new Map<SlotPromise, Incredible>()
  const latest = credence.nowWall + credence.maxClockOffsetMs
  const claims: SlotPromise[] = []
  for (const promise of node.promises) {
    if (promise.since.wall > latest) {
      out.set(promise, 'since-ahead')
      continue
    }
    const workload = credence.workloads.get(promise.workload)
    if (workload === undefined) continue
    const declared = credence.generationAt.get(workload.name)
    if (
      declared !== undefined &&
      promise.generation === workload.generation &&
      promise.since.wall < declared.wall - credence.maxClockOffsetMs
    ) {
      out.set(promise, 'since-before-generation')
      continue
    }
    const counts = workload.global ? promise.slot === 0 : promise.slot < workload.replicas
    if (counts && isClaimant(promise)) claims.push(promise)
  }
  claims.sort(
    (a, b) => rankClaims({ nodeId: '', promise: a }, { nodeId: '', promise: b }) || compareSlots(a, b),
  )
  let cpu = 0
  let memory = 0
  const seen = new Set<string>()
  for (const promise of claims) {
    const key = `${promise.workload}/${promise.slot}`
    // A second promise for one slot takes nothing more (`ownPromises` keeps one).
    if (seen.has(key)) continue
    const workload = credence.workloads.get(promise.workload) as WorkloadInfo
    if (!fits(node.capacity, cpu, memory, workload)) {
      out.set(promise, 'beyond-capacity')
      continue
    }
    seen.add(key)
    cpu += workload.cpuMillis
    memory += workload.memoryBytes
  }
  return out
}

/**
 * The node as placement reads it: its credible promises only (`incredible`). The same object
 * when every promise is credible.
 */
export function credibleNode(node: PlacementNode, credence: Credence): PlacementNode {
  const dropped = incredible(node, credence)
  if (dropped.size === 0) return node
  return { ...node, promises: node.promises.filter((promise) => !dropped.has(promise)) }
}

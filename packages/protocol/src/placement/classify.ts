import type { SlotPromise } from '../node-state.js'
import { compareSlots } from './compare.js'
import type { Context } from './context.js'
import { promiseSlotKey, strayReason } from './slots.js'
import { judge, type SlotStanding } from './standing.js'
import { type BucketName, globalSlotKey, type PlacementNode, slotKey } from './types.js'
import { type Claim, isClaimant, rankClaims } from './winners.js'
import { type WorkloadInfo, welcomes } from './workloads.js'

/** One live slot: a replicated workload's slot below `replicas`, or a global workload's slot on one node. */
export interface SlotState extends SlotStanding<Claim> {
  workload: WorkloadInfo
  /** Global workloads: the node whose slot this is. */
  owner?: number
  /** Some node has a failed or releasing promise for the slot. */
  withdrawn: boolean
}

/** A promise for a slot the declarations do not have. */
export interface Stray {
  key: string
  node: number
  promise: SlotPromise
  reason: 'deleted' | 'scaled-down'
}

export interface Classification {
  /** Live slots per workload, in placement order (slot; global: node id). */
  slots: Map<string, SlotState[]>
  byKey: Map<string, SlotState>
  strays: Stray[]
  /** Self's promises, one per (workload, slot), in slot order. */
  own: SlotPromise[]
}

/**
 * Sorts every promise into its slot and every slot into its bucket (how it stands in the view),
 * before anything is decided.
 */
export function classify(context: Context, buckets: Record<BucketName, string[]>): Classification {
  const byKey = new Map<string, SlotState>()
  const strays: Stray[] = []
  const own: Classification['own'] = []
  context.nodes.forEach((node, index) => {
    for (const promise of ownPromises(node.promises)) {
      const workload = context.byName.get(promise.workload)
      const key = promiseSlotKey(workload?.global === true, promise, node.id)
      if (index === context.self) own.push(promise)
      const reason = strayReason(workload, promise.slot)
      if (reason !== undefined) {
        strays.push({ key, node: index, promise, reason })
        continue
      }
      const w = workload as WorkloadInfo
      let state = byKey.get(key)
      if (state === undefined) {
        state = { key, workload: w, slot: promise.slot, claims: [], withdrawn: false }
        if (w.global) state.owner = index
        byKey.set(key, state)
      }
      if (isClaimant(promise)) state.claims.push({ node: index, nodeId: node.id, promise })
      else state.withdrawn = true
    }
  })

  const slots = new Map<string, SlotState[]>()
  for (const workload of context.workloads) {
    const list: SlotState[] = []
    if (workload.global) {
      context.ids.forEach((id, index) => {
        const key = globalSlotKey(workload.name, id)
        let state = byKey.get(key)
        const welcome = welcomes(context.nodes[index] as PlacementNode, workload)
        if (state !== undefined && state.claims.length === 0 && !welcome) {
          byKey.delete(key) // a withdrawn promise on a node that may not hold the slot: no slot there
          state = undefined
        }
        if (state === undefined && welcome) {
          state = { key, workload, slot: 0, owner: index, claims: [], withdrawn: false }
          byKey.set(key, state)
        }
        if (state !== undefined) list.push(state)
      })
    } else {
      for (let slot = 0; slot < workload.replicas; slot++) {
        const key = slotKey(workload.name, slot)
        let state = byKey.get(key)
        if (state === undefined) {
          state = { key, workload, slot, claims: [], withdrawn: false }
          byKey.set(key, state)
        }
        list.push(state)
      }
    }
    for (const state of list) settle(context, state, buckets)
    slots.set(workload.name, list)
  }

  own.sort(compareSlots)
  strays.sort((a, b) => compareSlots(a.promise, b.promise) || a.node - b.node)
  for (const stray of strays) buckets[stray.reason].push(stray.key)
  return { slots, byKey, strays, own }
}

/** Ranks the claimants, finds displacement and successor, and files the slot in its bucket. */
function settle(context: Context, state: SlotState, buckets: Record<BucketName, string[]>): void {
  state.claims.sort(rankClaims)
  if (state.claims.length > 1) buckets.conflicting.push(state.key)
  if (state.claims.length === 0) {
    buckets[state.withdrawn ? 'orphaned' : 'free'].push(state.key)
    return
  }
  judge(state, (claim) => context.nodes[claim.node] as PlacementNode, state.workload)
  buckets[state.displaced ?? 'kept'].push(state.key)
}

/**
 * A node's promises, one per (workload, slot, generation): the best by rule 2 should a node
 * publish two. A node holds two promises for one slot only while a successor at a new generation
 * starts beside the old one (rule 8, start-first).
 */
export function ownPromises(promises: readonly SlotPromise[]): SlotPromise[] {
  if (promises.length < 2) return [...promises]
  const best = new Map<string, SlotPromise>()
  for (const promise of promises) {
    const key = `${slotKey(promise.workload, promise.slot)}\u0000${promise.generation}`
    const other = best.get(key)
    if (other === undefined || better(promise, other)) best.set(key, promise)
  }
  return [...best.values()]
}

const better = (a: SlotPromise, b: SlotPromise): boolean => {
  // Claimants before withdrawn promises: a node that both claims and withdraws a slot still holds it.
  if (isClaimant(a) !== isClaimant(b)) return isClaimant(a)
  return rankClaims({ nodeId: '', promise: a }, { nodeId: '', promise: b }) < 0
}

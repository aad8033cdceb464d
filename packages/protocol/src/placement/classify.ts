import type { SlotPromise } from '../node-state.js'
import { type Context, welcomes } from './context.js'
import { type BucketName, globalSlotKey, slotKey } from './types.js'
import { type Claim, isClaimant, rankClaims } from './winners.js'
import type { WorkloadInfo } from './workloads.js'
import { matches } from './workloads.js'

/** One live slot: a replicated workload's slot below `replicas`, or a global workload's slot on one node. */
export interface SlotState {
  key: string
  workload: WorkloadInfo
  slot: number
  /** Global workloads: the node whose slot this is. */
  owner?: number
  /** Claimants, best first (rule 2); the first is the holder. */
  claims: Claim[]
  /** Some node has a failed or releasing promise for the slot. */
  withdrawn: boolean
  /** Why the holder's node may no longer hold the slot (rule 7, or changed labels/constraints). */
  displaced?: 'draining' | 'ineligible'
  /** When displaced: the best claimant on a node that may hold the slot; it is not a loser. */
  successor?: Claim
}

/** The holder, or the successor when the holder is displaced: who keeps the slot. */
export const currentOf = (state: SlotState): Claim | undefined =>
  state.displaced === undefined ? state.claims[0] : state.successor

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
  /** Self's promises, one per (workload, slot), in (workload, slot) order. */
  own: { key: string; promise: SlotPromise; stray?: Stray }[]
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
      const key =
        workload?.global === true && promise.slot === 0
          ? globalSlotKey(workload.name, node.id)
          : slotKey(promise.workload, promise.slot)
      let stray: Stray | undefined
      if (workload === undefined) stray = { key, node: index, promise, reason: 'deleted' }
      else if (workload.global ? promise.slot !== 0 : promise.slot >= workload.replicas)
        stray = { key, node: index, promise, reason: 'scaled-down' }
      if (index === context.self) own.push({ key, promise, ...(stray ? { stray } : {}) })
      if (stray !== undefined) {
        strays.push(stray)
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
        if (state !== undefined && state.claims.length === 0 && !welcomes(context, index, workload)) {
          byKey.delete(key) // a withdrawn promise on a node that may not hold the slot: no slot there
          state = undefined
        }
        if (state === undefined && welcomes(context, index, workload)) {
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

  own.sort((a, b) => compareSlot(a.promise, b.promise))
  strays.sort((a, b) => compareSlot(a.promise, b.promise) || a.node - b.node)
  for (const stray of strays) buckets[stray.reason].push(stray.key)
  return { slots, byKey, strays, own }
}

/** Ranks the claimants, finds displacement and successor, and files the slot in its bucket. */
function settle(context: Context, state: SlotState, buckets: Record<BucketName, string[]>): void {
  state.claims.sort(rankClaims)
  if (state.claims.length > 1) buckets.conflicting.push(state.key)
  const holder = state.claims[0]
  if (holder === undefined) {
    buckets[state.withdrawn ? 'orphaned' : 'free'].push(state.key)
    return
  }
  const node = context.nodes[holder.node]
  if (node?.draining === true) state.displaced = 'draining'
  else if (!matches(node?.labels ?? {}, state.workload.constraints)) state.displaced = 'ineligible'
  if (state.displaced === undefined) {
    buckets.kept.push(state.key)
    return
  }
  buckets[state.displaced].push(state.key)
  if (!state.workload.global) {
    const successor = state.claims.find((claim) => welcomes(context, claim.node, state.workload))
    if (successor !== undefined) state.successor = successor
  }
}

/**
 * A node's promises, one per (workload, slot): the best by rule 2 should a node publish two.
 */
export function ownPromises(promises: readonly SlotPromise[]): SlotPromise[] {
  if (promises.length < 2) return [...promises]
  const best = new Map<string, SlotPromise>()
  for (const promise of promises) {
    const key = slotKey(promise.workload, promise.slot)
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

const compareSlot = (a: SlotPromise, b: SlotPromise): number =>
  a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : a.slot - b.slot

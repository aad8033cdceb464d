import type { DeclEntry } from './decl-store.js'
import type { Refusal, SlotPromise } from './node-state.js'
import type { Unschedulable } from './placement/types.js'
import { isClaimant } from './placement/winners.js'
import { revisionOf } from './revisions.js'
import { generationOf } from './spec.js'

/**
 * Where a workload's rollout stands, as any node sees it (`gary rollout status`, `apply --wait`).
 *
 * - `complete`: every slot serves the wanted generation, past its monitor, and no slot of an
 *   older one is left.
 * - `progressing`: not yet; `reasons` says what holds it up, if anything is known to.
 * - `failed`: it will not complete: a slot failed on probation (the rollout halted, and rolls
 *   back unless the workload says `pause`), the revision was rolled back, or a later write or a
 *   deletion replaced it. `reasons` says which, and why.
 */
export interface RolloutStatus {
  workload: string
  /** The revision followed, and its generation. */
  revision: number
  generation: string
  state: 'progressing' | 'complete' | 'failed'
  /** Slots the workload wants (a global workload: the nodes that hold or cannot take its slot). */
  total: number
  /** Slots with a claim at the generation, in whatever phase. */
  updated: number
  /** Slots serving the generation past its monitor: what counts as done. */
  ready: number
  /** Slots still held at another generation. */
  old: number
  /** The wave under way, 1-based, of `waves` (`maxUnavailable` slots a wave). */
  wave: number
  waves: number
  /** The current revision, when it is no longer the one followed. */
  current?: number
  reasons: string[]
}

export interface RolloutInputs {
  /** The workload's declaration as this node holds it (undefined: never declared here). */
  entry: DeclEntry | undefined
  /** Live nodes, their promises and refusals. */
  nodes: readonly { id: string; promises: readonly SlotPromise[]; refusals: readonly Refusal[] }[]
  /** The slots no node can take, from the last plan. */
  unschedulable: readonly Unschedulable[]
  /** The revision to follow; the current one if absent. */
  revision?: number
  /** The generation of the revision followed, when the caller knows it (an apply's answer). */
  generation?: string
}

/** The rollout of `revision` (or the current one) of a workload, from a view. A pure function. */
export function rolloutStatus(inputs: RolloutInputs): RolloutStatus {
  const { entry } = inputs
  const name = entry?.name ?? ''
  const workload = entry?.workload
  const current = entry === undefined || workload === undefined ? undefined : revisionOf(entry)
  const revision = inputs.revision ?? current ?? 0
  const base = {
    workload: name,
    revision,
    generation: inputs.generation ?? '',
    total: 0,
    updated: 0,
    ready: 0,
    old: 0,
    wave: 0,
    waves: 0,
  }
  if (entry === undefined || workload === undefined)
    return { ...base, state: 'failed', reasons: [`${name || 'the workload'} is not declared (deleted?)`] }
  const generation = generationOf(workload)
  if (revision !== current) {
    const undone = entry.rollback?.revision === revision
    const reason = undone
      ? `revision ${revision} was rolled back (revision ${current} runs the previous spec): ${entry.rollback?.reason}`
      : `revision ${revision} was replaced by revision ${current}`
    return { ...base, current, state: 'failed', reasons: [reason] }
  }

  const slots = new Map<string, { updated: boolean; counted: boolean; old: boolean }>()
  const slotOf = (node: string, promise: SlotPromise) => {
    const key = workload.mode === 'global' ? node : String(promise.slot)
    let slot = slots.get(key)
    if (slot === undefined) {
      slot = { updated: false, counted: false, old: false }
      slots.set(key, slot)
    }
    return slot
  }
  const failures: string[] = []
  const refusals: string[] = []
  for (const node of inputs.nodes) {
    for (const promise of node.promises) {
      if (promise.workload !== name || !isClaimant(promise)) continue
      if (workload.mode !== 'global' && promise.slot >= workload.replicas) continue
      const slot = slotOf(node.id, promise)
      if (promise.generation !== generation) slot.old = true
      else {
        slot.updated = true
        if (promise.phase === 'running' && promise.ready && promise.probation !== true) slot.counted = true
      }
    }
    for (const refusal of node.refusals) {
      if (refusal.workload !== name || refusal.generation !== generation) continue
      const line = `${node.id} refused: ${refusal.reason}`
      if (refusal.rollout === true) failures.push(line)
      else refusals.push(line)
    }
  }
  const stuck = inputs.unschedulable.filter((u) => u.workload === name)
  for (const u of stuck)
    if (workload.mode === 'global' && u.node !== undefined) slotOf(u.node, { slot: 0 } as SlotPromise)
  const total = workload.mode === 'global' ? slots.size : workload.replicas
  let updated = 0
  let ready = 0
  let old = 0
  for (const slot of slots.values()) {
    if (slot.updated) updated++
    if (slot.counted) ready++
    if (slot.old) old++
  }
  const m = Math.max(1, workload.update.maxUnavailable)
  const waves = Math.ceil(total / m)
  const counts = { total, updated, ready, old, waves, wave: Math.min(waves, Math.floor(ready / m) + 1) }
  const status = { ...base, ...counts, generation }
  if (failures.length > 0) {
    const then =
      workload.update.failureAction === 'rollback'
        ? 'the previous revision is being declared again'
        : 'the rollout is paused (failureAction: pause): apply a fix, or gary rollback'
    return { ...status, state: 'failed', reasons: [`a new slot failed on probation: ${then}`, ...failures] }
  }
  const reasons = [...new Set([...stuck.flatMap((u) => u.reasons), ...refusals])]
  const complete = ready === total && old === 0 && stuck.length === 0
  return { ...status, state: complete ? 'complete' : 'progressing', reasons }
}

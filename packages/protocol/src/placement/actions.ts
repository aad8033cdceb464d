import { type Classification, currentOf, type SlotState } from './classify.js'
import type { Context } from './context.js'
import type { Outcome } from './outcome.js'
import type { ReleaseReason, SelfAction } from './types.js'
import { type Claim, isClaimant } from './winners.js'

/**
 * This node's part of the plan: a decision for each of its own promises, from the bucket its slot
 * is in, then a claim for each slot placed on it. Releases come first, so that an actuator frees
 * what it gives up before it takes more.
 */
export function selfActions(context: Context, classification: Classification, out: Outcome): SelfAction[] {
  const { view, config, self } = context
  if (self === undefined) return []
  // Rule 10: cut off from most of the cluster, keep and start own work, take nothing new.
  const holdBack = view.partialView && view.partialViewForMs < config.partialViewGraceMs
  const releases: SelfAction[] = []
  const starts: SelfAction[] = []
  const keeps: SelfAction[] = []
  const release = (key: { workload: string; slot: number }, reason: ReleaseReason) =>
    releases.push({ kind: 'release', workload: key.workload, slot: key.slot, reason })
  const startOrKeep = (claim: Claim) => {
    const { workload, slot, generation, phase, since } = claim.promise
    if (phase === 'claimed' && since.wall <= view.nowWall - config.settleMs)
      starts.push({ kind: 'start', workload, slot, generation })
    else keeps.push({ kind: 'keep', workload, slot })
  }
  const keepCurrent = (state: SlotState, claim: Claim) => {
    if (out.updating.has(state.key) && !holdBack) release(claim.promise, 'updating')
    else startOrKeep(claim)
  }

  for (const { key, promise, stray } of classification.own) {
    if (stray !== undefined) {
      if (promise.phase !== 'releasing') release(promise, stray.reason)
      continue
    }
    // Failed and releasing promises are the actuator's to withdraw.
    if (!isClaimant(promise)) continue
    const state = classification.byKey.get(key)
    if (state === undefined) continue
    const holder = state.claims[0] as Claim
    const current = currentOf(state)
    if (holder.node === self) {
      if (state.displaced === 'ineligible') release(promise, 'ineligible')
      else if (state.displaced === 'draining') {
        // Rule 7: hand over once the successor runs (a global slot has no successor).
        if (state.workload.global || state.successor?.promise.phase === 'running') release(promise, 'drained')
        else startOrKeep(holder)
      } else keepCurrent(state, holder)
    } else if (current?.node === self) keepCurrent(state, current)
    else release(promise, 'lost')
  }

  const claims: SelfAction[] = []
  if (!holdBack) {
    for (const state of out.placed) {
      if (out.assignment.get(state.key) !== view.self) continue
      claims.push({
        kind: 'claim',
        workload: state.workload.name,
        slot: state.slot,
        generation: state.workload.generation,
      })
    }
  }
  claims.sort((a, b) => (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : a.slot - b.slot))
  return [...releases, ...starts, ...keeps, ...claims]
}

import type { Classification, SlotState } from './classify.js'
import type { Context } from './context.js'
import { type Placers, place } from './free.js'
import type { Ledger } from './ledger.js'
import type { Outcome } from './outcome.js'
import { halted, inFlight } from './rollout.js'
import { currentOf } from './standing.js'
import type { Claim } from './winners.js'
import type { WorkloadInfo } from './workloads.js'

/**
 * Phase B, rule 8: rolling updates (docs/design.md, "Rollouts"). A workload takes old-generation
 * slots that serve out of service only while fewer than `maxUnavailable` of its slots are in
 * flight (`inFlight`: not serving for whatever reason, being replaced, or new and on probation),
 * lowest slot first; every node computes the same set. Replacing a slot that does not serve
 * costs nothing, so such slots are replaced at once. A halted rollout (a slot on probation
 * failed) takes no serving slot down.
 *
 * Stop-first, a slot is replaced in place when its holder can run the new generation (it has
 * not refused it and is not over-committed at the new resources); otherwise on another node with
 * room; otherwise not at all (`update-blocked`): an update never takes down a slot it cannot
 * place again. Start-first, the successor is placed beside the old slot (on the holder's node
 * when it has room for both, host ports included, else on another node with room) and the holder
 * stops once it serves; with room nowhere, the slot is replaced stop-first.
 * A slot that cannot come back (a bad image, say) stays in flight, so it halts the update rather
 * than letting it take the next slot down too. As without surge in Kubernetes, an update also
 * waits while `maxUnavailable` slots are down for other reasons (unschedulable, say).
 */
export function rollUpdates(
  context: Context,
  classification: Classification,
  ledger: Ledger,
  placers: Placers,
  out: Outcome,
): void {
  for (const workload of context.workloads) {
    const states = classification.slots.get(workload.name) ?? []
    // Waves of `maxUnavailable` slots, in slot order (a global workload's: its nodes' order).
    const waveOf = (state: SlotState) =>
      Math.floor((workload.global ? states.indexOf(state) : state.slot) / workload.maxUnavailable) + 1
    const outdated = states.filter((state) => {
      const current = currentOf(state)
      return current !== undefined && current.promise.generation !== workload.generation
    })
    if (outdated.length === 0) continue
    const stopped = halted(context.nodes, workload)
    let budget = workload.maxUnavailable - inFlightCount(context, workload, states, out)
    for (const state of outdated) {
      const current = currentOf(state) as Claim
      const serving = current.promise.phase === 'running' && current.promise.ready
      if (serving && (budget <= 0 || stopped)) {
        out.buckets.outdated.push(state.key)
        continue
      }
      const mayRun = !context.refusals.refused(current.node, workload.name, workload.generation)
      if (serving && workload.order === 'start-first') {
        const beside =
          mayRun && ledger.fits(current.node, workload)
            ? current.node
            : workload.global
              ? undefined
              : placers.for(workload).place(state.slot)
        if (beside !== undefined) {
          if (beside === current.node) ledger.reserve(beside, workload)
          out.buckets.updating.push(state.key)
          if (beside !== current.node) out.buckets.moved.push(state.key)
          out.rollout.add(state.key)
          place(context, out, state, beside)
          out.because.set(state.key, { rule: 'update', wave: waveOf(state) })
          budget--
          continue
        }
      }
      const inPlace = mayRun && !ledger.overCommitted(current.node)
      const target = inPlace
        ? current.node
        : workload.global
          ? undefined
          : placers.for(workload).place(state.slot)
      if (target === undefined) {
        out.buckets.outdated.push(state.key)
        out.buckets['update-blocked'].push(state.key)
        continue
      }
      out.updating.add(state.key)
      out.rollout.add(state.key)
      out.buckets.updating.push(state.key)
      if (target !== current.node) out.buckets.moved.push(state.key)
      place(context, out, state, target)
      out.because.set(state.key, { rule: 'update', wave: waveOf(state) })
      if (serving) budget--
    }
  }
}

function inFlightCount(
  context: Context,
  workload: WorkloadInfo,
  states: readonly SlotState[],
  out: Outcome,
): number {
  let count = 0
  for (const state of states) {
    if (workload.global) {
      if (state.displaced === 'draining' || state.displaced === 'ineligible') continue // leaving this node for good
      if (state.claims.length > 0) {
        if (inFlight(state, workload, available)) count++
      } else if (
        out.assignment.has(state.key) ||
        context.refusals.refused(state.owner as number, workload.name, workload.generation)
      ) {
        // A new node's slot being placed, or one refused (perhaps by this update): both are down.
        // A node the workload never fitted on is not counted, or it would halt every update.
        count++
      }
    } else if (inFlight(state, workload, available)) count++
  }
  return count
}

const available = (state: SlotState): boolean =>
  state.claims.some(
    (claim) =>
      ((claim === state.claims[0] && state.displaced !== 'ineligible') || claim === state.successor) &&
      claim.promise.phase === 'running' &&
      claim.promise.ready,
  )

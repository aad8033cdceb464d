import type { Classification } from './classify.js'
import { type Context, mayTake } from './context.js'
import type { Ledger } from './ledger.js'
import type { Outcome } from './outcome.js'
import { Placer } from './place.js'
import { currentOf } from './standing.js'
import { slotKey } from './types.js'
import type { WorkloadInfo } from './workloads.js'

/** Placers per workload, made on first use and shared by the phases of one pass. */
export class Placers {
  private readonly made = new Map<string, Placer>()

  constructor(
    private readonly context: Context,
    private readonly ledger: Ledger,
  ) {}

  for(workload: WorkloadInfo): Placer {
    let placer = this.made.get(workload.name)
    if (placer === undefined) {
      const { context } = this
      const eligible = context.ring.order.filter((node) => mayTake(context, node, workload))
      placer = new Placer(
        workload,
        eligible,
        context.ring,
        context.ids,
        this.ledger,
        context.config.candidates,
        context.config.considerAllUpTo,
        workload.keepsData
          ? (slot) => context.volumeHolders.get(slotKey(workload.name, slot)) ?? []
          : undefined,
      )
      this.made.set(workload.name, placer)
    }
    return placer
  }
}

/**
 * Reserves what stays where it is: every holder (sticky, rule 3) except one that releases now
 * because its node no longer matches, and every successor of a displaced holder. Losers, strays
 * and withdrawn promises reserve nothing.
 */
export function reserveHolders(classification: Classification, ledger: Ledger): void {
  for (const states of classification.slots.values()) {
    for (const state of states) {
      const holder = state.claims[0]
      if (holder === undefined) continue
      const keeps =
        state.displaced === undefined ||
        state.displaced === 'updating' ||
        (state.displaced === 'draining' && !state.workload.global)
      if (keeps) ledger.reserve(holder.node, state.workload)
      if (state.successor !== undefined) ledger.reserve(state.successor.node, state.workload)
    }
  }
}

/**
 * Phase A, rules 3, 4, 7 and 9: in (workload, slot) order, a slot with someone to keep it stays;
 * a slot without (free, orphaned, or displaced with no successor yet) is placed.
 */
export function placeFree(
  context: Context,
  classification: Classification,
  ledger: Ledger,
  placers: Placers,
  out: Outcome,
): void {
  for (const workload of context.workloads) {
    for (const state of classification.slots.get(workload.name) ?? []) {
      const current = currentOf(state)
      if (workload.global) {
        const owner = state.owner as number
        if (state.claims.length > 0) {
          if (state.displaced === undefined || state.displaced === 'updating')
            out.assignment.set(state.key, context.ids[owner] as string)
          continue // a draining or ineligible global slot has no successor: its node releases it
        }
        if (mayTake(context, owner, workload) && ledger.fits(owner, workload)) {
          ledger.reserve(owner, workload)
          place(context, out, state, owner)
        } else {
          unschedulable(out, state)
        }
        continue
      }
      if (current !== undefined) {
        out.assignment.set(state.key, current.nodeId)
        continue
      }
      const node = placers.for(workload).place(state.slot)
      if (node !== undefined) place(context, out, state, node)
      else if (state.displaced === 'draining') {
        out.assignment.set(state.key, (state.claims[0] as { nodeId: string }).nodeId)
        out.buckets['drain-blocked'].push(state.key)
      } else unschedulable(out, state)
    }
  }
}

export function place(context: Context, out: Outcome, state: Outcome['placed'][number], node: number): void {
  out.assignment.set(state.key, context.ids[node] as string)
  out.placed.push(state)
  out.buckets.placed.push(state.key)
}

function unschedulable(out: Outcome, state: Outcome['placed'][number]): void {
  out.unschedulable.push(state)
  out.buckets.unschedulable.push(state.key)
}

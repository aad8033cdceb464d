import type { DeclStore, MemberTable, PlacementNode } from '@gary/protocol'
import { PartialView } from './partial-view.js'
import type { ReconcileView } from './reconciler.js'

export interface ClusterViewInit {
  /**
   * A just-started node claims nothing until a peer agrees with its view (`agreed`) or, alone,
   * for this long, so that it first learns the others' promises, ms. Default 2000.
   */
  warmupMs?: number
  /** Members heard from within this window count as "seen recently" for rule 10, ms. Default 300000. */
  recentWindowMs?: number
}

export interface ClusterViewComponents {
  members: MemberTable
  declarations: DeclStore
  /** What this node offers now. */
  self: () => ReconcileView['self']
  /** Monotonic ms. */
  now: () => number
  /** True once a peer's heartbeat showed the same members and declarations as this node's. */
  agreed: () => boolean
}

/**
 * The reconcile loop's view of the cluster, read from the member table and the declaration
 * store: live members (alive or suspect, with a known state) and their promises, live
 * declarations, and whether this node's view is partial (rule 10) or still warming up.
 */
export class ClusterView {
  readonly #partial = new PartialView()
  readonly #startedAt: number
  readonly #warmupMs: number
  readonly #recentWindowMs: number

  constructor(
    init: ClusterViewInit,
    private readonly components: ClusterViewComponents,
  ) {
    this.#startedAt = components.now()
    this.#warmupMs = init.warmupMs ?? 2000
    this.#recentWindowMs = init.recentWindowMs ?? 300_000
  }

  /** When the warm-up ends, monotonic ms. */
  get warmAt(): number {
    return this.#startedAt + this.#warmupMs
  }

  read(): ReconcileView {
    const now = this.components.now()
    const others: PlacementNode[] = []
    let recent = 1
    // Rule 10 counts the members this node hears now: a node cut off sees its peers turn suspect
    // together, and one of them dead a moment before the rest; counting suspects as seen let it
    // take the first one's slots.
    let hearing = 1
    let waitingForState: string | undefined
    for (const member of this.components.members.list()) {
      if (now - member.heardAt <= this.#recentWindowMs) recent++
      if (member.status === 'alive') hearing++
      if (member.status === 'dead') continue
      const state = member.state
      if (state === undefined) {
        waitingForState = member.id
        continue
      }
      others.push({
        id: member.id,
        labels: state.labels,
        capacity: state.capacity,
        draining: state.draining,
        promises: state.promises,
        refusals: state.refusals,
      })
    }
    const partial = this.#partial.observe(hearing, recent, now)
    return {
      workloads: this.components.declarations.live(),
      others,
      self: this.components.self(),
      partialView: partial.partial,
      partialViewForMs: partial.forMs,
      warm: (this.components.agreed() || now >= this.warmAt) && waitingForState === undefined,
      waitingFor: waitingForState,
    }
  }
}

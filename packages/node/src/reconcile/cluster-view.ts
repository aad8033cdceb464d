import {
  ClaimIndex,
  type DeclStore,
  type MemberTable,
  type NodeState,
  type PlacementNode,
} from '@gary/protocol'
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
  /** The live members' promises, indexed once per state received rather than once per pass. */
  readonly #index = new ClaimIndex()
  /** The placement node made from each member's current state, so an unchanged member costs nothing. */
  readonly #made = new Map<string, { state: NodeState; node: PlacementNode }>()
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
    // Rule 10 is judged twice. Over all members: a node cut off with others (a minority) hears of
    // the rest's deaths from its side's witnesses. Over its own connections: a node cut off alone
    // hears no report at all, only its peers going silent. Members count as seen recently when
    // heard within the window, this node included; as seen now when alive: a node cut off sees
    // its peers turn suspect together, and one of them dead a moment before the rest; counting
    // suspects as seen let it take the first one's slots.
    const all = { recent: 1, hearing: 1 }
    const direct = { recent: 1, hearing: 1 }
    let waitingForState: string | undefined
    // Unsorted: sorting every member on every pass was the largest cost of a cold start at 400 nodes.
    for (const member of this.components.members.members()) {
      if (now - member.heardAt <= this.#recentWindowMs) all.recent++
      if (member.status === 'alive') all.hearing++
      if (member.lastDirectAt !== undefined && now - member.lastDirectAt <= this.#recentWindowMs) {
        direct.recent++
        if (member.direct && member.status === 'alive') direct.hearing++
      }
      if (member.status === 'dead') continue
      const state = member.state
      if (state === undefined) {
        waitingForState = member.id
        continue
      }
      others.push(this.#placementNode(state))
    }
    this.#reindex(others)
    const worse = all.hearing * direct.recent <= direct.hearing * all.recent ? all : direct
    const partial = this.#partial.observe(worse.hearing, worse.recent, now)
    return {
      workloads: this.components.declarations.live(),
      others,
      index: this.#index,
      self: this.components.self(),
      partialView: partial.partial,
      partialViewForMs: partial.forMs,
      warm: (this.components.agreed() || now >= this.warmAt) && waitingForState === undefined,
      waitingFor: waitingForState,
    }
  }

  #placementNode(state: NodeState): PlacementNode {
    const made = this.#made.get(state.node)
    if (made?.state === state) return made.node
    const node: PlacementNode = {
      id: state.node,
      labels: state.labels,
      capacity: state.capacity,
      draining: state.draining,
      promises: state.promises,
      refusals: state.refusals,
    }
    this.#made.set(state.node, { state, node })
    return node
  }

  /** Brings the index to exactly `live`: new and changed members in, departed ones out. */
  #reindex(live: readonly PlacementNode[]): void {
    for (const node of live) this.#index.set(node)
    if (this.#index.size === live.length) return
    const ids = new Set(live.map((node) => node.id))
    for (const id of [...this.#index.ids()]) {
      if (ids.has(id)) continue
      this.#index.delete(id)
      this.#made.delete(id)
    }
  }
}

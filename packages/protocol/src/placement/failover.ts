import type { SlotPromise } from '../node-state.js'
import { openingKey } from './answered.js'
import type { PlacementNode } from './types.js'
import { isClaimant } from './winners.js'
import type { WorkloadInfo } from './workloads.js'

/**
 * Whether `node` published every death of `stamp` (`NodeState.seenDead`) but its own: a node never
 * acts on the death of its previous process (`deathKey` names the member first).
 */
export function sawAll(node: PlacementNode, stamp: readonly string[] | undefined): boolean {
  if (stamp === undefined || stamp.length === 0) return true
  const seen = node.seenDead ?? []
  const own = `${node.id}@`
  return stamp.every((death) => seen.includes(death) || death.startsWith(own))
}

/** Whether every node of `others` that may take `workload` published every death of `stamp`. */
export function rivalsSaw(
  others: Iterable<PlacementNode>,
  workload: WorkloadInfo,
  stamp: readonly string[],
  mayTake: (node: PlacementNode, workload: WorkloadInfo) => boolean,
): boolean {
  for (const node of others) if (mayTake(node, workload) && !sawAll(node, stamp)) return false
  return true
}

/**
 * Rule 5's third exception: a node's failover claims (`PlacementView.failoverClaims`: those it made
 * in a pass that first acted on a death, a new key in its `seenDead`) start before the settle
 * delay ends once every other node that may take a slot of the workload (constraints and
 * refusals; draining counts, as for `AnsweredClaims`) has published every death the claimant had
 * acted on when it claimed (its stamp), and no node of the view claims the slot.
 *
 * No two nodes start one slot early this way. A node adds a death to `seenDead` once (it never
 * adds a key again), and publishes the claims of the pass that added it with it. Say A and B both
 * started slot s early, A's claim made in pass PA, which added the deaths DA, B's in PB adding DB.
 * B's state that A read lists A's stamp, DA among it, and claims no s, so it was published before
 * PB (B holds s since then): B had added DA before PB. A's state that B read likewise shows A
 * added DB before PA, so DB is in A's stamp, so in B's state that A read: that state lists a death
 * B added in PB, so was published after PB, and holds B's claim of s. A would not have started.
 * An opening claim (`AnsweredClaims`) requires every rival's stamp too, so the same holds between
 * an opening claim and a failover claim (the opening node's state that B read claims no s, so
 * predates its opening pass; it lists DB, so DB is in the opening claim's stamp, which A read in
 * B's state). "DB is in A's stamp" needs A to have kept DB until PA: a node adds only deaths of
 * members heard from within the last 10 s, and keeps each for a minute, or for 10 s after its
 * member is no longer dead there, so it drops a death only once no rival can add it any more
 * (states of a live member reach a node within a heartbeat or two). A rival is not asked for its
 * own death: a rebooted node never acts on the death of its previous process.
 * A rival the view cannot see, or whose claim settles, loses to the early start by rule 2
 * (`starting` beats `claimed`), as with the other exceptions.
 */
export class FailoverClaims {
  /** Per workload: the slots the other nodes claim. */
  readonly #claimed = new Map<string, ReadonlySet<number>>()

  constructor(
    private readonly failover: ReadonlySet<string> | undefined,
    private readonly stamps: ReadonlyMap<string, readonly string[]> | undefined,
    /** The other nodes of the view; undefined when the view holds only part of the cluster. */
    private readonly others: (() => readonly PlacementNode[]) | undefined,
    private readonly mayTake: (node: PlacementNode, workload: WorkloadInfo) => boolean,
  ) {}

  /** Whether the young claim `promise` of `workload` may start now. */
  of(workload: WorkloadInfo, promise: SlotPromise): boolean {
    if (this.failover === undefined || this.others === undefined || workload.global) return false
    if (promise.generation !== workload.generation) return false
    const key = openingKey(promise.workload, promise.slot, promise.generation)
    if (!this.failover.has(key)) return false
    const stamp = this.stamps?.get(key)
    if (stamp === undefined || stamp.length === 0) return false
    const others = this.others()
    let claimed = this.#claimed.get(workload.name)
    if (claimed === undefined) {
      const slots = new Set<number>()
      for (const node of others)
        for (const p of node.promises) if (p.workload === workload.name && isClaimant(p)) slots.add(p.slot)
      claimed = slots
      this.#claimed.set(workload.name, claimed)
    }
    if (claimed.has(promise.slot)) return false
    return rivalsSaw(others, workload, stamp, this.mayTake)
  }
}

import type { SlotPromise } from '../node-state.js'
import { rivalsSaw } from './failover.js'
import type { PlacementNode } from './types.js'
import { isClaimant } from './winners.js'
import type { WorkloadInfo } from './workloads.js'

/** The key of an opening claim (`PlacementView.openingClaims`). */
export const openingKey = (workload: string, slot: number, generation: string): string =>
  `${workload}\u0000${slot}\u0000${generation}`

/**
 * Whether a claim of `generation` of `workload` by `node` made now would be an opening one, as far
 * as its promises tell (the caller adds what only it knows: that it never claimed the generation
 * before): it holds no promise of that generation.
 */
export function opensGeneration(
  node: { promises: readonly SlotPromise[] },
  workload: string,
  generation: string,
): boolean {
  return !node.promises.some((p) => p.workload === workload && p.generation === generation)
}

/**
 * Rule 5's second exception: a node's opening claims of a workload's generation (the ones it made
 * in its first pass that claimed any slot of that generation, holding no promise of it before:
 * `PlacementView.openingClaims`) start before the settle delay
 * ends once every other node that may take a slot of the workload (constraints and refusals;
 * draining counts, as for `SoleCandidates`) has answered in the view: it holds a claim of the same
 * generation, and no node of the view claims the slot.
 *
 * No two nodes start one slot early this way. Say A and B both did for slot s. B's state that A
 * saw holds a promise of the generation, so it was published after B's opening pass (B held none
 * before), which claimed s: every state B published since holds its claim of s (B still holds it,
 * as it is starting it), so A saw B claim s and would not start. (A state of an incarnation B has
 * left is not read: `currentState`.) A rival the view cannot
 * see, or one whose claim was not an opening one, waits out the delay, and the early start,
 * published at once, outranks its claim by rule 2 (`starting` beats `claimed`) before the delay
 * ends, as a sole candidate's does. A deploy's claims thus start once the last node's claims
 * reach the others (one gossip hop after the declaration reached it), not after the delay. A
 * rollout's claims, and the claims of a node that holds the generation already (a scale-up),
 * settle; so does every claim while a rival that may take the workload holds none of it (more
 * nodes than replicas). Every rival must also have published the deaths the claimant had acted on
 * when it claimed (`claimStamps`), as for a failover claim (`FailoverClaims`): else an opening
 * claim and a rival's failover claim of one slot could both start early.
 */
export class AnsweredClaims {
  /** Per workload: the slots the other nodes claim, or undefined while a rival has not answered. */
  readonly #known = new Map<string, ReadonlySet<number> | undefined>()

  constructor(
    private readonly opening: ReadonlySet<string> | undefined,
    /** The other nodes of the view, and whether each may take a slot of the workload (capacity aside). */
    private readonly others: (() => Iterable<PlacementNode>) | undefined,
    private readonly mayTake: (node: PlacementNode, workload: WorkloadInfo) => boolean,
    private readonly stamps?: ReadonlyMap<string, readonly string[]>,
  ) {}

  /** Whether the young claim `promise` of `workload` may start now. */
  of(workload: WorkloadInfo, promise: SlotPromise): boolean {
    if (this.opening === undefined || this.others === undefined || workload.global) return false
    const key = openingKey(promise.workload, promise.slot, promise.generation)
    if (!this.opening.has(key)) return false
    if (promise.generation !== workload.generation) return false
    let claimed = this.#known.get(workload.name)
    if (!this.#known.has(workload.name)) {
      claimed = this.#answered(workload, this.others())
      this.#known.set(workload.name, claimed)
    }
    if (claimed === undefined || claimed.has(promise.slot)) return false
    const stamp = this.stamps?.get(key)
    return (
      stamp === undefined || stamp.length === 0 || rivalsSaw(this.others(), workload, stamp, this.mayTake)
    )
  }

  #answered(workload: WorkloadInfo, others: Iterable<PlacementNode>): ReadonlySet<number> | undefined {
    const claimed = new Set<number>()
    for (const node of others) {
      let answered = false
      for (const p of node.promises) {
        if (p.workload !== workload.name || !isClaimant(p)) continue
        claimed.add(p.slot)
        if (p.generation === workload.generation) answered = true
      }
      if (!answered && this.mayTake(node, workload)) return undefined
    }
    return claimed
  }
}

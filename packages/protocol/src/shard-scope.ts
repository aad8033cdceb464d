import type { StateVersion } from './freshness.js'
import type { Observation } from './members.js'
import { type NodeState, placementMoved } from './node-state.js'
import { inScope, shardOf, shardsNear } from './placement/shards.js'

/**
 * What ring shards change in membership (docs/design.md) besides the topics: whose newer states
 * this node pulls, and whom it dials first. With one shard every member is in scope and both are
 * as before shards.
 */
export class ShardScope {
  readonly #own: number

  constructor(
    readonly self: string,
    readonly shards: number,
  ) {
    this.#own = shardOf(self, shards)
  }

  /** Whether this node and `member` hear each other's state changes. */
  near(member: string): boolean {
    return inScope(this.self, member, this.shards)
  }

  /**
   * Whether a member that announced a newer state than the one held is worth a pull. One out of
   * scope keeps the older state on purpose: its membership, labels and addresses are all this
   * node reads of it. Labels change only with a restart (a new incarnation), and addresses are
   * sent to every member when they change, as the first state of an incarnation is; a pull
   * catches that state when it was missed.
   */
  pulls(member: {
    readonly id: string
    readonly state?: { readonly incarnation: number }
    readonly announced: StateVersion
  }): boolean {
    const held = member.state
    return held === undefined || held.incarnation < member.announced.incarnation || this.near(member.id)
  }

  /**
   * Whether news of a member (a state observed, with its outcome and the state it replaced, or a
   * status change) calls for a reconcile pass: with shards, placement reads only the members in
   * scope, and rule 10's counts of the others are read as they stand at the next pass; a new or
   * restarted member may end the warm-up; an updated state that changes nothing placement reads
   * (`placementMoved`) calls for none.
   */
  replans(member: string, outcome?: Observation, states?: { before?: NodeState; after: NodeState }): boolean {
    if (outcome === 'new' || outcome === 'restarted') return true
    if (!this.near(member)) return false
    return outcome !== 'updated' || states === undefined || placementMoved(states.before, states.after)
  }

  /**
   * Whether a member's state relayed by a peer (a member sync) must be pulled from the member
   * itself: the member is in this node's scope and not in the peer's, so the peer holds an older
   * state of it on purpose. A restarted node that trusted such a state took a slot its holder
   * still held, and nothing told it otherwise until the holder's next beacon (simulated churn).
   */
  checks(member: string, relayer: string): boolean {
    return this.shards > 1 && this.near(member) && !inScope(relayer, member, this.shards)
  }

  /**
   * Whom to dial among `candidates`, holding `connected` connections of which `held` are in
   * scope: members in scope first, even past `target` until half of it are in scope, then the rest
   * up to `target`. Gossipsub meshes form over existing connections, so each shard topic needs some
   * among its own nodes, and with partial membership a node learns the members of its scope only
   * from peers in it; the other half stay random, which keeps the cluster's connection graph one
   * whole. With one shard every member is in scope: the first up to `target`.
   *
   * Candidates are taken in the order given, or with `random` in a random order, drawn as far as
   * the choice needs (`candidates` is shuffled in place that far): a node under its target looks
   * again after every dial, and shuffling every member it knows each time was most of a simulated
   * cluster's start. A candidate's `shard`, when given, spares hashing its id.
   */
  toDial<T extends { id: string; shard?: number }>(
    candidates: T[],
    connected: number,
    held: number,
    target: number,
    random?: () => number,
  ): T[] {
    const quota = Math.max(0, Math.floor(target / 2) - held)
    const first: T[] = []
    const rest: T[] = []
    for (let i = 0; i < candidates.length; i++) {
      if (random !== undefined) {
        const j = i + Math.floor(random() * (candidates.length - i))
        ;[candidates[i], candidates[j]] = [candidates[j] as T, candidates[i] as T]
      }
      const candidate = candidates[i] as T
      const near = candidate.shard === undefined ? this.near(candidate.id) : this.#nearShard(candidate.shard)
      if (first.length < quota && near) first.push(candidate)
      else rest.push(candidate)
      if (first.length === quota && rest.length >= target - connected - quota) break
    }
    return [...first, ...rest.slice(0, Math.max(0, target - connected - first.length))]
  }

  #nearShard(shard: number): boolean {
    return shardsNear(this.#own, shard, this.shards)
  }
}

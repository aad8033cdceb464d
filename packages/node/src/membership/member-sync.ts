import { type MemberVersions, MismatchTrigger, type NodeState, syncAnswer } from '@gary/protocol'
import { DIAL_TIMEOUT_MS, MEMBER_SYNC_AFTER_MS } from '../timing.js'
import type { MembershipContext } from './context.js'

export interface MemberSyncHooks {
  /** A state a peer relayed: taken if newer than the one held. */
  observe(state: NodeState): void
  /** Pulls a member's own state. */
  pull(member: string): void
  /** Dials a member held dead that a peer holds live. */
  check(member: string): void
}

/**
 * Member sync: when a connected peer's member digest has differed from this node's for a second,
 * this node sends it the member versions it holds, and it answers with the states this node
 * misses and those of members this node holds dead that it holds live.
 */
export class MemberSync {
  readonly #trigger = new MismatchTrigger(MEMBER_SYNC_AFTER_MS)

  constructor(
    private readonly ctx: MembershipContext,
    private readonly hooks: MemberSyncHooks,
  ) {}

  /** A heartbeat from `peer` said whether its member digest matches ours (undefined: not comparable). */
  heard(peer: string, sameMembers: boolean | undefined, now: number): void {
    if (this.#trigger.check(peer, sameMembers !== false, now)) this.#ask(peer)
  }

  /** The peer is no longer connected: its mismatch no longer counts. */
  forget(peer: string): void {
    this.#trigger.forget(peer)
  }

  /** The states `peer` misses: with partial membership, of the members of its scope only. */
  answer(peer: string, versions: MemberVersions): NodeState[] {
    return syncAnswer([this.ctx.self.current, ...this.ctx.table.liveStates(peer)], versions)
  }

  /**
   * Sends `peer` the member versions this node holds; it answers with the states we miss, and
   * those of members we hold dead that it holds live, which this node then dials to check.
   */
  #ask(peer: string): void {
    const { node, incarnation, seq } = this.ctx.self.current
    const versions = [{ node, incarnation, seq }, ...this.ctx.table.syncVersions()]
    this.ctx.port.syncMembers(peer, versions, DIAL_TIMEOUT_MS, (result) => {
      if (!result.ok) {
        this.ctx.logger.debug({ peer, err: result.reason }, 'member sync failed')
        return
      }
      // These states are relayed, not signed by their members: they are trusted because every peer
      // holds the cluster key. Each is taken only if newer than the one held, and a member's own
      // newer state or beacon overrides it.
      for (const state of result.value) {
        this.hooks.observe(state)
        if (this.ctx.table.get(state.node)?.status === 'dead') this.hooks.check(state.node)
        else if (this.ctx.scope.checks(state.node, peer)) this.hooks.pull(state.node)
      }
    })
  }
}

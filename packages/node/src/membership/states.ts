import type { NodeState } from '@gary/protocol'
import { Rejection } from '../net/rejections.js'
import type { Verdict } from '../port.js'
import { DIAL_TIMEOUT_MS } from '../timing.js'
import type { MembershipContext } from './context.js'

export interface StatesHooks {
  /** Fresh evidence of a member: its status is judged again now. */
  sweep(member: string): void
  /** A member's state arrived: it is a member now, no longer a hint. */
  known(member: string): void
  /** This node's member digest changed: peers are told by a heartbeat soon. */
  digestChanged(): void
}

/** Members' states: taken from gossip, pulls and member syncs, and pulled when announced newer. */
export class States {
  readonly #pulling = new Set<string>()

  constructor(
    private readonly ctx: MembershipContext,
    private readonly hooks: StatesHooks,
  ) {}

  /** A state gossiped by `signer`: a node speaks only for itself. */
  gossiped(signer: string, state: NodeState): Verdict {
    if (state.node !== signer) {
      this.ctx.rejections.refuse(Rejection.StateSignedByAnother, { from: signer, claims: state.node })
      return 'reject'
    }
    return this.observe(state, 'gossip') ? 'accept' : 'ignore'
  }

  /** Returns false when the state was stale or our own. */
  observe(state: NodeState, via: string): boolean {
    const { table, logger, scope } = this.ctx
    const before = table.get(state.node)?.state
    const outcome = table.observeState(state, this.ctx.now())
    if (outcome === 'self' || outcome === 'stale') {
      logger.debug({ member: state.node, seq: state.seq, outcome }, 'ignored state')
      return false
    }
    if (outcome === 'new') {
      this.hooks.known(state.node)
      // Our member digest changed: tell peers now, so those who miss the newcomer ask at once.
      this.hooks.digestChanged()
      logger.info(
        {
          member: state.node,
          name: this.ctx.name(state.node),
          labels: state.labels,
          capacity: state.capacity,
          via,
        },
        'member joined',
      )
      this.ctx.record({ kind: 'joined', member: state.node })
    } else if (outcome === 'restarted') {
      logger.info(
        { member: state.node, name: this.ctx.name(state.node), incarnation: state.incarnation, via },
        'member restarted',
      )
      this.ctx.record({ kind: 'joined', member: state.node, reason: 'restarted' })
    } else {
      logger.debug({ member: state.node, seq: state.seq, via }, 'member updated')
    }
    // Fresh evidence can change only this member's status: a sweep of the table for every state
    // made each round of states O(N^2) per node.
    this.hooks.sweep(state.node)
    if (scope.replans(state.node, outcome, { before, after: state })) this.ctx.changed()
    return true
  }

  /** A member announced a newer state than the one held: pulled if this node reads it. */
  announced(id: string): void {
    const member = this.ctx.table.get(id)
    if (member !== undefined && this.ctx.scope.pulls(member)) this.pull(id)
  }

  /** Pulls a member's own state: over the connection to it, or at its addresses if not connected. */
  pull(peer: string): void {
    const { port, table, logger } = this.ctx
    if (this.#pulling.has(peer) || this.ctx.stopped) return
    this.#pulling.add(peer)
    const member = table.get(peer)
    const addrs =
      port.connections().has(peer) || member === undefined ? undefined : (member.state?.addrs ?? [])
    port.pullState(peer, addrs, DIAL_TIMEOUT_MS, (result) => {
      this.#pulling.delete(peer)
      if (!result.ok) logger.debug({ peer, err: result.reason }, 'state pull failed')
      else if (result.value.node !== peer)
        this.ctx.rejections.refuse(Rejection.PulledStateOfAnother, { peer, claims: result.value.node })
      else this.observe(result.value, 'pull')
    })
  }
}

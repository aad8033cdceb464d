import type { Heartbeat, MemberNote, MemberVersions, NodeState, PeerHints } from '@gary/protocol'
import type { Reply, Verdict } from '../port.js'
import { BEACON_INTERVAL_MS, SWEEP_MS } from '../timing.js'
import { type MembershipComponents, MembershipContext, type MembershipInit } from './context.js'
import { Discovery } from './discovery.js'
import { FastWatch } from './fast-watch.js'
import { Liveness } from './liveness.js'
import { MemberSync } from './member-sync.js'
import { OwnState } from './own-state.js'
import { States } from './states.js'

/**
 * Who is in the cluster, decided without libp2p: heartbeats to and from connected peers, this
 * node's NodeState gossiped when it changes and pulled by peers that miss it, member sync with a
 * peer whose member digest differs, peer hints and redials so every member finds every other, and
 * relayed liveness (witnesses' reports, refutation, beacons). Everything it sends goes through its
 * port; the daemon's port is libp2p (`membership.ts`), the simulator's a simulated network, so both
 * run this code. Time and chance come from its clock and random source.
 *
 * @example
 * ```ts
 * const agent = new MembershipAgent(init, { port, clock: systemClock, random: Math.random, logger, self, declsDigest })
 * agent.start()
 * onConnect((peer, dialled) => agent.connected(peer, dialled))
 * onHeartbeatFrame((peer, beat) => agent.heartbeatReceived(peer, beat))
 * ```
 */
/** How long after a death this node asks its peers to answer its roll call, ms. */
const ROLL_CALL_AFTER_MS = 1

export class MembershipAgent {
  readonly #ctx: MembershipContext
  readonly #own: OwnState
  readonly #states: States
  readonly #liveness: Liveness
  readonly #sync: MemberSync
  readonly #discovery: Discovery
  /** This node announced that it leaves: it sends no more heartbeats. */
  #left = false
  readonly #fast: FastWatch
  #agreedAt: number | undefined
  /** When each peer's heartbeat last agreed with this node's view. */
  readonly #agreedWith = new Map<string, number>()
  #joined: boolean
  #lastBeatAt = Number.NEGATIVE_INFINITY
  #beatPending = false

  constructor(init: MembershipInit, components: MembershipComponents) {
    const ctx = new MembershipContext(init, components)
    this.#joined = init.join.length === 0
    this.#ctx = ctx
    this.#own = new OwnState(ctx)
    this.#discovery = new Discovery(ctx, () => this.#fast.successors)
    this.#liveness = new Liveness(ctx, {
      announced: (member) => this.#states.announced(member),
      refuted: () => {
        this.#own.owedToAll()
        this.#own.publish()
      },
      died: () => this.#rollCall(),
      onTime: () => this.#fast.health.mayAccuse(ctx.now()),
    })
    this.#states = new States(ctx, {
      sweep: (member) => this.#liveness.sweep(member),
      known: (member) => this.#discovery.known(member),
      digestChanged: () => this.#beatSoon(),
    })
    this.#fast = new FastWatch(ctx, {
      beat: (peer) => {
        if (!this.#left) ctx.port.sendHeartbeats((to) => this.#beatFor(to), peer)
      },
      accuse: (member) => this.#liveness.accuse(member),
    })
    this.#sync = new MemberSync(ctx, {
      observe: (state) => this.#states.observe(state, 'sync'),
      pull: (member) => this.#states.pull(member),
      check: (member) => this.#discovery.check(member),
    })
  }

  get table() {
    return this.#ctx.table
  }

  get topics() {
    return this.#ctx.topics
  }

  /** The messages refused, by reason code. */
  get rejections() {
    return this.#ctx.rejections
  }

  /**
   * True once a peer's heartbeat showed that it knows the same live members and declarations as
   * this node: from then on this node's view is as complete as that peer's.
   */
  get agreedWithAPeer(): boolean {
    return this.#agreedAt !== undefined
  }

  /**
   * Dials one of `members` unless a connection to one of them is open or under way, even at
   * `targetPeers`: a node back from a cut must hear the other side (`ClusterView`), and a
   * member that gossip brought back alive is not dialled otherwise.
   */
  reach(members: readonly string[]): void {
    if (this.#ctx.stopped || this.#left) return
    this.#discovery.reach(members, this.#ctx.now())
  }

  /** When a peer's heartbeat (with `peer`, that peer's) last agreed with this node's view, if ever. */
  agreedAt(peer?: string): number | undefined {
    return peer === undefined ? this.#agreedAt : this.#agreedWith.get(peer)
  }

  /**
   * True once a member's heartbeat was heard, or from the start for a node given no address to
   * join: a node told to join takes no work before (one that never reaches the cluster, for a
   * wrong cluster key or address, would otherwise run everything alone).
   */
  get joined(): boolean {
    return this.#joined
  }

  /**
   * Starts the heartbeat, the sweep and the beacon, each at a random phase of its interval (nodes
   * started together do not beat together), and the first dials.
   */
  start(): void {
    const { init, random } = this.#ctx
    const phase = random()
    this.#ctx.every(init.heartbeatMs, phase * init.heartbeatMs, () => this.#heartbeat())
    this.#ctx.every(SWEEP_MS, phase * SWEEP_MS, () => {
      this.#fast.swept()
      this.#liveness.sweep()
      this.#fast.judge()
    })
    // Half an interval away from the sweep: two timers due at one instant fire in an order the
    // simulator and the daemon need not share.
    this.#fast.start((phase + 0.5) % 1)
    this.#ctx.every(BEACON_INTERVAL_MS, phase * BEACON_INTERVAL_MS, () => this.#liveness.beacon())
    this.#discovery.redial(this.#ctx.now())
  }

  /**
   * Tells every member that this node leaves the cluster (a graceful stop, its slots handed
   * over): it sends no more heartbeats, and its `left` note, which only it may sign, makes every
   * member that keeps it hold it dead at once and say it left. `done` hears how many peers the
   * note went to.
   */
  leave(done: Reply<number>): void {
    this.#left = true
    const { incarnation, seq } = this.#ctx.self.current
    const note: MemberNote = { kind: 'left', node: this.#ctx.selfId, incarnation, seq }
    this.#ctx.port.publishNote(this.#ctx.topics.noteTopicOf(this.#ctx.selfId), note, done)
  }

  /** Stops every timer; replies that arrive later change nothing. */
  stop(): void {
    this.#ctx.stop()
  }

  /**
   * Gossips this node's NodeState now (after it changed): to the nodes in its scope, or with
   * `everyone` to every member that keeps it, for a change that concerns them all (its addresses).
   */
  publishState(everyone = false): void {
    if (everyone) this.#own.owedToAll()
    this.#own.publish()
  }

  /**
   * A connection to `peer` opened: it hears our heartbeat now; if this node dialled it, it tells
   * us whom it knows. Both ends asking cost two hints answers a connection, 90 per node when 1000
   * simulated nodes start; the end dialled learns the dialler itself, and the rest by member sync.
   */
  connected(peer: string, dialled: boolean): void {
    if (this.#ctx.stopped || this.#left) return
    this.#ctx.port.sendHeartbeats((to) => this.#beatFor(to), peer)
    this.#discovery.connected(peer)
    this.#fast.reshape()
    this.#own.retry()
    if (dialled) this.#discovery.askPeers(peer)
  }

  /** The last connection to `peer` closed: from now on this node knows it only by gossip, unless it is gone. */
  disconnected(peer: string): void {
    this.#ctx.table.setIndirect(peer)
    this.#sync.forget(peer)
    this.#fast.reshape()
    this.#liveness.probe(peer)
  }

  heartbeatReceived(peer: string, beat: Heartbeat): void {
    const { table, components } = this.#ctx
    const now = this.#ctx.now()
    this.#joined = true
    // A beat read while this node's own loop lags waited unread: its clock reading looks behind by
    // the lag, and a cold start of 30 on 2 cores had nodes refuse writes for a clock "ahead of its
    // peers". Only beats read on time are clock samples.
    if (this.#fast.health.mayAccuse(now)) components.clockGuard.observe(peer, beat.wall)
    // A peer's roll call: it counts who answers before it takes a dead member's work.
    if (beat.ask === true && !this.#left) this.#ctx.port.sendHeartbeats((to) => this.#beatFor(to), peer)
    const held = table.get(peer)
    if (held?.status === 'dead') this.#liveness.heardFromDead(held)
    const answered = table.rollCalling ? table.rollCall() : undefined
    const outcome = table.observeHeartbeat(peer, beat, now)
    // Each answer to this node's roll call may end rule 10's wait, which needs half of the members
    // (`ClusterView`), and the last ends the roll call: placement looks again. Only the last did
    // before, and a pass that saw the roll call short waited for the slowest peer's answer or
    // the partial view's recheck: a lab survivor claimed a dead member's slots 500 ms after its death.
    if (answered !== undefined && table.rollCall() !== answered) this.#ctx.changed()
    if (outcome === 'needs-state') this.#states.announced(peer)
    // Fresh evidence: a member not alive here comes back now, not at the next sweep.
    if (outcome !== 'stale' && table.get(peer)?.status !== 'alive') this.#liveness.sweep(peer)
    components.onHeartbeat?.(peer, table.get(peer)?.declDigest, now)
    // Undefined: the peer's digest covers a shard out of this node's scope (partial membership).
    const sameMembers = table.sameMembers(peer, beat.members)
    if (sameMembers === true && beat.decls === components.declsDigest()) {
      const first = this.#agreedAt === undefined
      this.#agreedAt = now
      this.#agreedWith.set(peer, now)
      if (first) this.#ctx.changed()
    }
    this.#sync.heard(peer, sameMembers, now)
    this.#discovery.heard(peer, sameMembers, now)
  }

  /** A state gossiped by `signer`. */
  stateGossiped(signer: string, state: NodeState): Verdict {
    return this.#states.gossiped(signer, state)
  }

  /** A member note (beacon or witness's report) gossiped by `signer`. */
  noteGossiped(signer: string, note: MemberNote): Verdict {
    return this.#liveness.noteGossiped(signer, note)
  }

  /** A note told by `peer` over a stream; false: not one to tell (drop the stream). */
  noteTold(peer: string, note: MemberNote): boolean {
    return this.#liveness.noteTold(peer, note)
  }

  /** This node's own state, for a peer that pulls it. */
  ownState(): NodeState {
    return this.#ctx.self.current
  }

  /** What `peer`'s member sync request (the versions it holds) is answered with. */
  memberSyncAsked(peer: string, versions: MemberVersions): NodeState[] {
    return this.#sync.answer(peer, versions)
  }

  /** Where the members this node knows can be dialled, for `peer` that asks. */
  peerHintsAsked(peer: string): PeerHints {
    return this.#discovery.hintsFor(peer)
  }

  #heartbeat(): void {
    if (this.#ctx.stopped || this.#left) return
    this.#lastBeatAt = this.#ctx.now()
    const { incarnation, seq } = this.#ctx.self.current
    const decls = this.#ctx.components.declsDigest()
    const wall = this.#ctx.clock.wallNow()
    this.#fast.reshape()
    // Peers beaten fast hear this node often enough: the regular beat goes to the others.
    const beat = (peer: string) => this.#beatFor(peer, incarnation, seq, decls, wall)
    for (const peer of this.#ctx.port.connections())
      if (!this.#fast.beatsFast(peer)) this.#ctx.port.sendHeartbeats(beat, peer)
    this.#own.retry()
    this.#discovery.redial(this.#lastBeatAt)
  }

  /**
   * A member died here: ask every connected peer for a heartbeat at once, and count only those
   * that answer until all have (`MemberTable.startRollCall`): on a cut-off side they do not.
   */
  #rollCall(): void {
    if (this.#ctx.stopped || this.#left || !this.#ctx.table.startRollCall(this.#ctx.now())) return
    // A moment after the death, not with the witness's report this node may be sending: peers
    // hear the report first on any transport (the simulator and the daemon's order messages
    // that arrive at one instant differently).
    this.#ctx.after(ROLL_CALL_AFTER_MS, () => {
      if (this.#left) return
      this.#ctx.port.sendHeartbeats((to) => ({ ...this.#beatFor(to), ask: true }))
    })
  }

  /** Per peer with partial membership: of the members both keep (`MemberTable.liveDigest`). */
  #beatFor(
    peer: string,
    incarnation = this.#ctx.self.current.incarnation,
    seq = this.#ctx.self.current.seq,
    decls = this.#ctx.components.declsDigest(),
    wall = this.#ctx.clock.wallNow(),
  ): Heartbeat {
    return { incarnation, seq, members: this.#ctx.table.liveDigest(peer), decls, wall }
  }

  /**
   * Our member digest changed: tell peers now, so those who miss the newcomer ask at once; within
   * half an interval of the last heartbeat, at the end of that half. A heartbeat for every member
   * heard of (the daemon's first version) sent every node about one round per member at a
   * cluster's start: at 1000 simulated nodes twelve times the heartbeats of the intervals.
   */
  #beatSoon(): void {
    if (this.#beatPending) return
    this.#beatPending = true
    const wait = Math.max(0, this.#lastBeatAt + this.#ctx.init.heartbeatMs / 2 - this.#ctx.now())
    this.#ctx.after(wait, () => {
      this.#beatPending = false
      this.#heartbeat()
    })
  }
}

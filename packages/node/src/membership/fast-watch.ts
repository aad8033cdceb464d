import {
  DEFAULT_DETECTOR,
  type Knock,
  LocalHealth,
  MAX_AGE_STRETCH,
  ringNeighbours,
  silence,
} from '@gary/protocol'
import { SWEEP_MS } from '../timing.js'
import type { MembershipContext } from './context.js'

/**
 * A sweep this much late follows a stall of this node's own loop, not jitter, ms: a silent member
 * is still seen dead within the regular thresholds plus this node's stalls.
 */
const STALL_MS = 500

export interface FastWatchHooks {
  /** Sends this node's heartbeat to one connected peer. */
  beat(peer: string): void
  /** This node, a witness, heard a member fall silent: accuse it. */
  accuse(member: string): void
}

/**
 * Fast detection of silent members (docs/design.md, "Fast detection"): beats this node's ring
 * successors every `fastBeatMs`, and accuses a member that was beating it fast and fell silent
 * once its machine does not answer a knock either (a stalled process's kernel answers); keeps Lifeguard's local health from the lateness of its own timers, which stretches the member
 * table's age thresholds and stops accusations while this node is the slow one.
 */
export class FastWatch {
  readonly health = new LocalHealth()
  readonly #config = DEFAULT_DETECTOR
  #successors: readonly string[] = []
  /** The members that beat this node: the only ones whose silence it judges. */
  #predecessors: readonly string[] = []
  #ringVersion = Number.NaN
  /** Peers that left the successors, beaten fast until this time (their witness learns the newcomer first). */
  readonly #leaving = new Map<string, number>()
  #beatDueAt = Number.NaN
  #sweepDueAt = Number.NaN
  /** The last knock at each silent predecessor's machine. */
  readonly #knocks = new Map<string, Knock>()
  /** Per predecessor accused, the last heartbeat heard from it then: the silence accused. */
  readonly #accused = new Map<string, number | undefined>()

  constructor(
    private readonly ctx: MembershipContext,
    private readonly hooks: FastWatchHooks,
  ) {}

  /** Starts the fast beat at `phase` (0-1) of its interval. */
  start(phase: number): void {
    const every = this.#config.fastBeatMs
    this.#beatDueAt = this.ctx.now() + phase * every
    this.ctx.every(every, phase * every, () => this.#beat())
  }

  /**
   * The sweep timer fired: how late it was feeds local health, and the table's thresholds follow.
   * A stall of this node's own loop (the sweep later than `STALL_MS`) is not its peers' silence:
   * the member table does not count it (`MemberTable.paused`). Shorter lateness only stretches the
   * thresholds, so that a node that lags all along still sees a dead peer die.
   */
  swept(): void {
    const now = this.ctx.now()
    if (!Number.isNaN(this.#sweepDueAt)) {
      this.health.fired(this.#sweepDueAt, now)
      const late = now - this.#sweepDueAt
      if (late > STALL_MS) this.ctx.table.paused(late, now)
    }
    this.#sweepDueAt = now + SWEEP_MS
    this.ctx.table.stretch(Math.min(MAX_AGE_STRETCH, this.health.multiplier(now)))
  }

  /**
   * Knocks at the machine of every connected predecessor that beat this node fast and fell
   * silent, and accuses those whose machine did not answer, if this node is on time.
   */
  judge(): void {
    if (!this.health.mayAccuse(this.ctx.now())) return
    for (const peer of this.#predecessors) this.#judge(peer)
    for (const peer of this.#knocks.keys()) if (!this.#predecessors.includes(peer)) this.#knocks.delete(peer)
    for (const peer of this.#accused.keys())
      if (!this.#predecessors.includes(peer)) this.#accused.delete(peer)
  }

  #judge(peer: string): void {
    const { table, port } = this.ctx
    if (this.ctx.stopped || !port.connections().has(peer)) return
    const member = table.get(peer)
    if (member === undefined || member.status === 'dead' || member.witnesses?.has(this.ctx.selfId)) return
    // One accusation per silence: the member's refutation (a newer state) clears every report,
    // this node's own included, while its beats on this link may still be late. Accused again,
    // the same silence paired with another link's blip into a false death (simulated lossy at
    // 200 nodes: a witness accused 518 ms into a silence, the member refuted 47 ms later, the
    // witness accused again 103 ms after that, and a second witness's report made it dead
    // everywhere). A member that died after refuting is judged by the regular thresholds.
    if (this.#accused.has(peer) && this.#accused.get(peer) === member.lastDirectAt) return
    const beats = {
      lastAt: member.lastDirectAt,
      previousAt: member.previousDirectAt,
      worstGap: member.worstGap,
    }
    const verdict = silence(beats, this.#knocks.get(peer), this.ctx.now(), this.health, this.#config)
    if (verdict === 'accuse') {
      this.#accused.set(peer, member.lastDirectAt)
      this.hooks.accuse(peer)
    } else if (verdict === 'knock') this.#knock(peer, member.state?.addrs)
  }

  /** Knocks at `peer`'s machine, and judges it again on the answer. */
  #knock(peer: string, addrs: readonly string[] | undefined): void {
    const knock: Knock = { at: this.ctx.now() }
    this.#knocks.set(peer, knock)
    this.ctx.port.knock(peer, addrs ?? [], this.#config.knockTimeoutMs, (result) => {
      knock.answer = result.ok ? 'up' : 'down'
      knock.answeredAt = this.ctx.now()
      this.ctx.logger.debug({ member: peer, answer: knock.answer }, 'knocked at a silent member')
      if (this.#knocks.get(peer) === knock) this.#judge(peer)
    })
  }

  /** The members this node beats fast when connected: the witnesses of its silence. */
  get successors(): readonly string[] {
    return this.#successors
  }

  /** Whether this node beats `peer` fast: the regular heartbeat can skip it. */
  beatsFast(peer: string): boolean {
    return this.#successors.includes(peer) || this.#leaving.has(peer)
  }

  /**
   * The ring over the members alive here, again if they changed: its successors (beaten fast, when
   * connected; `Discovery` dials them) and predecessors (watched). Over every live member, not the
   * connections: then beater and watcher agree on who is whose neighbour, and a member that stops
   * beating a node after a join moved the ring is not judged silent by it.
   */
  reshape(): void {
    const { table } = this.ctx
    if (table.version === this.#ringVersion) return
    this.#ringVersion = table.version
    // With partial membership, over this node's own shard only: every node of a shard keeps all
    // of it, while the rest of a table (the shards next to it, connections out of scope) differs
    // from node to node, and over it one node in six beat a successor that did not watch it
    // (1000 simulated nodes).
    const live: string[] = []
    for (const member of table.members())
      if (
        member.status === 'alive' &&
        member.state !== undefined &&
        (!table.partial || member.shard === table.shard)
      )
        live.push(member.id)
    const { successors: next, predecessors } = ringNeighbours(this.ctx.selfId, live, this.#config.watchers)
    this.#predecessors = predecessors
    const until = this.ctx.now() + this.#config.graceMs
    for (const peer of this.#successors) if (!next.includes(peer)) this.#leaving.set(peer, until)
    for (const peer of next) this.#leaving.delete(peer)
    this.#successors = next
  }

  #beat(): void {
    if (this.ctx.stopped) return
    const now = this.ctx.now()
    this.health.fired(this.#beatDueAt, now)
    this.#beatDueAt = now + this.#config.fastBeatMs
    const connected = this.ctx.port.connections()
    for (const peer of this.#successors) if (connected.has(peer)) this.hooks.beat(peer)
    for (const [peer, until] of this.#leaving) {
      if (until < now || !connected.has(peer)) this.#leaving.delete(peer)
      else this.hooks.beat(peer)
    }
  }
}

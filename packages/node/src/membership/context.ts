import { type EventRecord, MemberTable, ShardScope } from '@gary/protocol'
import type { Clock } from '../clock/clock.js'
import type { ClockGuard } from '../clock/clock-guard.js'
import type { Logger } from '../logger.js'
import { Rejections } from '../net/rejections.js'
import { nodeLabel } from '../node-label.js'
import { FORGET_AFTER_MS, INDIRECT_DEAD_AFTER_MS } from '../timing.js'
import type { MembershipPort } from './port.js'
import type { SelfState } from './self-state.js'
import { type MembershipTopics, membershipTopics } from './topics.js'

export interface MembershipInit {
  cluster: string
  /** Addresses to join through; redialled while under-connected. */
  join: readonly string[]
  heartbeatMs: number
  suspectAfterMs: number
  deadAfterMs: number
  /** Direct connections to keep. */
  targetPeers: number
  /** Ring shards the cluster is cut into; the same on every node. 1: every member hears every state. */
  promiseShards: number
}

export interface MembershipComponents {
  port: MembershipPort
  /**
   * Monotonic time for ages, and the timers of heartbeats, sweeps, beacons and reports; wall time
   * for the heartbeats, which carry it so that peers compare clocks.
   */
  clock: Clock
  /** Follows the peers' clocks from the wall time their heartbeats carry (the clock offset bound). */
  clockGuard: Pick<ClockGuard, 'observe'>
  /** Uniform in [0, 1): dial order, report jitter, the timers' phase. */
  random: () => number
  logger: Logger
  /** This node's own NodeState. */
  self: SelfState
  /** The declaration digest every heartbeat carries. */
  declsDigest: () => string
  /**
   * A heartbeat from a peer was taken in; `declDigest` is the peer's declaration digest as the
   * member table now holds it.
   */
  onHeartbeat?: (peer: string, declDigest: string | undefined, now: number) => void
  /** A member's state or status changed: the placement view changed. */
  onChange?: () => void
  /** Where refused messages are logged and counted; the agent's own by default. */
  rejections?: Rejections
  /** Told what this node saw members do, for `gary events`. */
  record?: (event: EventRecord) => void
}

/** What the parts of the membership agent share: its inputs, its table, and its timers. */
export class MembershipContext {
  readonly selfId: string
  readonly table: MemberTable
  readonly scope: ShardScope
  readonly topics: MembershipTopics
  readonly port: MembershipPort
  readonly clock: Clock
  readonly random: () => number
  readonly logger: Logger
  readonly self: SelfState
  readonly rejections: Rejections
  #stopped = false
  readonly #timers = new Set<unknown>()

  constructor(
    readonly init: MembershipInit,
    readonly components: MembershipComponents,
  ) {
    this.selfId = components.self.current.node
    this.port = components.port
    this.clock = components.clock
    this.random = components.random
    this.logger = components.logger
    this.self = components.self
    this.rejections = components.rejections ?? new Rejections(components.logger)
    this.scope = new ShardScope(this.selfId, init.promiseShards)
    this.topics = membershipTopics(init.cluster, this.selfId, init.promiseShards)
    this.table = new MemberTable(this.selfId, {
      suspectAfterMs: init.suspectAfterMs,
      deadAfterMs: init.deadAfterMs,
      forgetAfterMs: FORGET_AFTER_MS,
      indirectDeadAfterMs: INDIRECT_DEAD_AFTER_MS,
      shards: init.promiseShards,
    })
  }

  get stopped(): boolean {
    return this.#stopped
  }

  now(): number {
    return this.clock.now()
  }

  /** The placement view changed. */
  changed(): void {
    this.components.onChange?.()
  }

  /** Records what this node saw a member do, as its event. */
  record(event: EventRecord): void {
    this.components.record?.(event)
  }

  /** A member as log lines show it: its name beside its short id. */
  name(id: string): string {
    return nodeLabel(id, this.table.get(id)?.state?.name)
  }

  /** Runs `fn` after `ms` unless the agent stops first. */
  after(ms: number, fn: () => void): void {
    if (this.#stopped) return
    const handle = this.clock.setTimeout(() => {
      this.#timers.delete(handle)
      fn()
    }, ms)
    this.#timers.add(handle)
  }

  /** Runs `fn` every `ms`, the first time after `firstMs`, until the agent stops. */
  every(ms: number, firstMs: number, fn: () => void): void {
    const tick = () => {
      this.after(ms, tick)
      fn()
    }
    this.after(firstMs, tick)
  }

  stop(): void {
    this.#stopped = true
    for (const handle of this.#timers) this.clock.clearTimeout(handle)
    this.#timers.clear()
  }
}

import { DeclarationsAgent, type DeclarationsPort } from '@gary/node/declarations'
import {
  ClockGuard,
  type Connections,
  MembershipAgent,
  type MembershipPort,
  SelfState,
} from '@gary/node/membership'
import { type Clock, ClusterView, Reconciler } from '@gary/node/reconcile'
import {
  appliedEntry,
  banName,
  type DeclEntry,
  DeclStore,
  inScope,
  type NodeState,
  rollbackAfterFailure,
  shardOf,
  type Workload,
} from '@gary/protocol'
import { FakeRuntime } from '@gary/runtime'
import { type Logger, pino } from 'pino'
import type { Engine } from './engine.js'
import type { Network } from './network.js'
import type { Random } from './random.js'
import { closeReaches, SimPort } from './sim-port.js'

export interface SimNodeInit {
  id: string
  labels: Record<string, string>
  capacity: { cpuMillis: number; memoryBytes: number }
  /** This node's wall clock is off by this much. */
  skewMs: number
  /**
   * The daemon's `--max-clock-offset-ms`: timestamps further ahead are refused (`ClockGuard`), and
   * it bounds the age a promise may claim (`credibleNode`).
   */
  maxClockOffsetMs: number
  heartbeatMs: number
  /** Direct connections each node keeps, as the daemon's `targetPeers`: heartbeats travel over them. */
  targetPeers: number
  suspectAfterMs: number
  deadAfterMs: number
  settleMs: number
  /** How long the fake engine takes to start a container, and how often a start fails. */
  startDelayMs: number
  startFailureRate: number
  /** Ring shards (the daemon's `--promise-shards`): state changes go to the node's shard topic. */
  shards: number
}

/** The nodes listening on a gossip topic, up or not. */
export interface Subscribers {
  readonly nodes: readonly SimNode[]
  readonly set: ReadonlySet<SimNode>
}

export interface SimWorld {
  engine: Engine
  network: Network
  random: Random
  /** Every node of the simulation, up or not. */
  nodes(): readonly SimNode[]
  /** The nodes listening on a topic. */
  subscribers(topic: string): Subscribers | undefined
  byId(id: string): SimNode | undefined
  /** Where a node that starts joins: the address (id) of a node up, as an operator would give it. */
  joinFor(node: SimNode): string[]
  /** The random source of a node's agents (dial order, report jitter, timer phases). */
  randomFor(node: SimNode): () => number
  /** The logger of a node's agents: silent unless a test listens. */
  loggerFor(node: SimNode): Logger
  /** The ports a node's agents get: its `SimPort`, unless a test listens to it. */
  portFor(node: SimNode, port: SimPort): MembershipPort & DeclarationsPort
  /** Real ms spent in `plan`, per node. */
  onPlanned(node: string, ms: number): void
}

/** The simulated cluster's name: topic names carry it, as the daemon's do. */
export const SIM_CLUSTER = 'sim'

export const silent = pino({ level: 'silent' })

/**
 * One Gary node in the simulator: the daemon's own agents (membership, declarations) and
 * reconcile loop, on the virtual clock, over the simulated network (`SimPort`). This class holds
 * only the process: its start (a new incarnation: empty member table, no containers, the
 * declarations kept as the daemon keeps them in its data dir) and its crash, and `gary apply`.
 */
export class SimNode {
  readonly id: string
  up = false
  /** Down with its machine (`crash({ silent: true })`): nothing answers, not even a refusal. */
  vanished = false
  incarnation = 0
  self!: SelfState
  membership!: MembershipAgent
  declarations!: DeclarationsAgent
  runtime!: FakeRuntime
  reconciler!: Reconciler
  /** The declarations, as the daemon's data dir keeps them across restarts. */
  readonly decls = new DeclStore()
  /** This end's connections, by peer: each end forgets one when it learns it closed. */
  readonly links = new Map<string, SimNode>()
  readonly connections: Connections
  /** This node's ring shard. */
  readonly shard: number

  constructor(
    readonly init: SimNodeInit,
    private readonly world: SimWorld,
  ) {
    this.id = init.id
    this.shard = shardOf(this.id, init.shards)
    const links = this.links
    this.connections = {
      get size() {
        return links.size
      },
      has: (peer) => links.has(peer),
      [Symbol.iterator]: () => links.keys(),
    }
  }

  /** This node's own NodeState, as its peers can pull it. */
  get state(): NodeState {
    return this.self.current
  }

  get table() {
    return this.membership.table
  }

  /**
   * Starts (or restarts) the process: a new incarnation, an empty member table, no containers,
   * joining through `join` (by default a node up).
   */
  start(join: string[] = this.world.joinFor(this)): void {
    const { engine } = this.world
    const clock: Clock = engine.clock(this.init.skewMs)
    // The agents' timers start no promise chain: the engine need not wait for one after them.
    const agentClock = engine.clock(this.init.skewMs, true)
    const logger = this.world.loggerFor(this)
    const random = this.world.randomFor(this)
    this.up = true
    this.vanished = false
    this.incarnation++
    const port = this.world.portFor(this, new SimPort(this, this.world, this.incarnation))
    this.self = new SelfState(this.id, this.incarnation, {
      addrs: [],
      labels: this.init.labels,
      capacity: this.init.capacity,
      draining: false,
      promises: [],
      refusals: [],
    })
    const clockGuard = new ClockGuard(
      { maxOffsetMs: this.init.maxClockOffsetMs },
      { logger, wallNow: agentClock.wallNow, now: agentClock.now },
    )
    this.declarations = new DeclarationsAgent({
      port,
      store: this.decls,
      clock: agentClock,
      clockGuard,
      logger,
      self: this.id,
    })
    this.declarations.restored()
    const declarations = this.declarations
    this.membership = new MembershipAgent(
      {
        cluster: SIM_CLUSTER,
        join,
        heartbeatMs: this.init.heartbeatMs,
        suspectAfterMs: this.init.suspectAfterMs,
        deadAfterMs: this.init.deadAfterMs,
        targetPeers: this.init.targetPeers,
        promiseShards: this.init.shards,
      },
      {
        port,
        clock: agentClock,
        clockGuard,
        random,
        logger,
        self: this.self,
        declsDigest: () => declarations.digest,
        onHeartbeat: (peer, digest, now) => declarations.check(peer, digest, now),
        onChange: () => this.reconciler.viewChanged(),
      },
    )
    this.runtime = new FakeRuntime(
      {
        cpuMillis: this.init.capacity.cpuMillis,
        memoryBytes: this.init.capacity.memoryBytes,
        startDelayMs: this.init.startDelayMs,
        startFailureRate: this.init.startFailureRate,
      },
      { now: clock.wallNow, timers: clock, random: () => this.world.random.next() },
    )
    const membership = this.membership
    const view = new ClusterView(
      { warmupMs: 2 * this.init.heartbeatMs },
      {
        members: membership.table,
        declarations: this.decls,
        now: clock.now,
        agreedAt: (peer) => membership.agreedAt(peer),
        reach: (members) => membership.reach(members),
        reads: (id) => inScope(this.id, id, this.init.shards),
        maxClockOffsetMs: this.init.maxClockOffsetMs,
        self: () => {
          const { labels, capacity, hostPaths, draining } = this.self.current
          return { labels, capacity, draining, ...(hostPaths === undefined ? {} : { hostPaths }) }
        },
      },
    )
    this.reconciler = new Reconciler(
      { placement: { settleMs: this.init.settleMs, shards: this.init.shards }, resyncMs: 5000 },
      {
        self: this.id,
        runtime: this.runtime,
        logger: silent,
        clock,
        view: () => view.read(),
        publish: (promises, refusals, seenDead) => {
          if (this.self.update({ promises, refusals, seenDead })) membership.publishState()
        },
        onPlanned: (ms) => this.world.onPlanned(this.id, ms),
        onRolloutFailed: (failure) => this.#rollBack(failure),
      },
    )
    void this.reconciler.start()
    membership.start()
    // The warm-up's end needs a look, as in the daemon.
    const reconciler = this.reconciler
    engine.after(2 * this.init.heartbeatMs + 1, () => {
      if (this.up && this.reconciler === reconciler) reconciler.trigger()
    })
  }

  /**
   * The process dies with its machine: its containers go. A process crash on a machine still up
   * resets its connections, and a peer's redial is refused. A `silent` loss (a machine powered
   * off, a cable cut) sends nothing: its peers keep their connection and hear only silence, and
   * their dials and requests to it time out (`SimPort`). A silently lost node is not started again.
   */
  crash(options: { silent?: boolean } = {}): void {
    if (!this.up) return
    this.up = false
    this.vanished = options.silent === true
    this.membership.stop()
    void this.reconciler.stop()
    void this.runtime.close()
    // The reset reaches each peer that can be reached, and its redial is refused.
    if (!this.vanished) for (const peer of this.links.values()) closeReaches(this.world, this, peer)
    this.links.clear()
  }

  /** `gary apply` on this node: each workload versioned, kept, and spread. */
  apply(workloads: Workload[]): void {
    const entries: DeclEntry[] = workloads.map((workload) => {
      const version = this.declarations.nextVersion()
      // A new revision with its history, as the daemon writes it (an unchanged spec is written again).
      return (
        appliedEntry(this.decls.get(workload.name), workload, version) ?? {
          name: workload.name,
          version,
          deleted: false,
          workload,
        }
      )
    })
    this.#write(entries)
  }

  /** A rollout failed here: the daemon's automatic rollback, the previous revision declared again. */
  #rollBack(failure: { workload: string; generation: string; reason: string }): void {
    const current = this.decls.get(failure.workload)
    const version = this.declarations.nextVersion()
    const entry = rollbackAfterFailure(current, failure.generation, version, failure.reason)
    if (entry !== undefined) this.#write([entry])
  }

  /** `gary node ban ID` (or `unban`) on this node: a declaration, spread as `apply`'s are. */
  ban(node: string, banned = true): void {
    this.#write([{ name: banName(node), version: this.declarations.nextVersion(), deleted: !banned }])
  }

  #write(entries: DeclEntry[]): void {
    for (const entry of entries) this.decls.merge(entry)
    this.reconciler.viewChanged()
    this.declarations.spread(entries)
  }
}

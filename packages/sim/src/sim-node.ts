import { type Clock, ClusterView, Reconciler } from '@gary/node/reconcile'
import {
  type DeclEntry,
  DeclStore,
  encodeDeclEntries,
  encodeHeartbeat,
  encodeNodeState,
  type Heartbeat,
  HLC_ZERO,
  type Hlc,
  hlcTick,
  MemberTable,
  type NodeState,
  type Workload,
} from '@gary/protocol'
import { FakeRuntime } from '@gary/runtime'
import { pino } from 'pino'
import type { Engine } from './engine.js'
import type { Network } from './network.js'
import type { Random } from './random.js'

export interface SimNodeInit {
  id: string
  labels: Record<string, string>
  capacity: { cpuMillis: number; memoryBytes: number }
  /** This node's wall clock is off by this much. */
  skewMs: number
  heartbeatMs: number
  /** Direct connections each node keeps, as the daemon's `targetPeers`: heartbeats travel over them. */
  targetPeers: number
  suspectAfterMs: number
  deadAfterMs: number
  settleMs: number
  /** How long the fake engine takes to start a container, and how often a start fails. */
  startDelayMs: number
  startFailureRate: number
}

export interface SimWorld {
  engine: Engine
  network: Network
  random: Random
  /** Every node of the simulation, up or not. */
  nodes(): readonly SimNode[]
  byId(id: string): SimNode | undefined
  /** Real ms spent in `plan`, per node. */
  onPlanned(node: string, ms: number): void
}

const SWEEP_MS = 100
const STATE_REFRESH_MS = 30_000
const PULL_REQUEST_BYTES = 16
const DECL_SYNC_AFTER_MS = 1000
const DEAD_REDIAL_MS = 5000
const silent = pino({ level: 'silent' })

/**
 * One Gary node in the simulator. The member table, the declaration store, the cluster view and
 * the reconcile loop are the daemon's own code; what `Membership`, `Declarations` and
 * `AntiEntropy` do over libp2p is modelled here message for message: connections kept and
 * redialled as the daemon does, a heartbeat over each connection each interval, the full
 * NodeState to every member when it changes (gossipsub's flood) and every 30 s, a pull when a
 * heartbeat announces a newer state, declarations spread on write and pulled whole when a peer's
 * digest differs for over a second, and a crashed process's connections closing (its members
 * count it dead at once).
 */
export class SimNode {
  readonly id: string
  up = false
  incarnation = 0
  state!: NodeState
  table!: MemberTable
  readonly decls = new DeclStore()
  runtime!: FakeRuntime
  reconciler!: Reconciler
  #view!: ClusterView
  #clock!: Clock
  #hlc: Hlc = HLC_ZERO
  #agreed = false
  #declMismatchSince = new Map<string, number>()
  #lastDeclPull = new Map<string, number>()
  #timers: { cancelled: boolean }[] = []
  #lastRefreshAt = 0
  /** Peers this node has a connection to (both ends list each other). */
  readonly links = new Set<SimNode>()
  #lastDeadRedialAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly init: SimNodeInit,
    private readonly world: SimWorld,
  ) {
    this.id = init.id
  }

  /** Starts (or restarts) the process: a new incarnation, an empty member table, no containers. */
  start(): void {
    const { engine } = this.world
    this.#clock = engine.clock(this.init.skewMs)
    this.up = true
    this.incarnation++
    this.#agreed = false
    this.table = new MemberTable(this.id, {
      suspectAfterMs: this.init.suspectAfterMs,
      deadAfterMs: this.init.deadAfterMs,
      forgetAfterMs: 3_600_000,
    })
    this.state = {
      node: this.id,
      incarnation: this.incarnation,
      seq: 1,
      addrs: [],
      labels: this.init.labels,
      capacity: this.init.capacity,
      draining: false,
      promises: [],
      refusals: [],
    }
    this.runtime = new FakeRuntime(
      {
        cpuMillis: this.init.capacity.cpuMillis,
        memoryBytes: this.init.capacity.memoryBytes,
        startDelayMs: this.init.startDelayMs,
        startFailureRate: this.init.startFailureRate,
      },
      { now: this.#clock.wallNow, timers: this.#clock, random: () => this.world.random.next() },
    )
    this.#view = new ClusterView(
      { warmupMs: 2 * this.init.heartbeatMs },
      {
        members: this.table,
        declarations: this.decls,
        now: this.#clock.now,
        agreed: () => this.#agreed,
        self: () => ({
          labels: this.state.labels,
          capacity: this.state.capacity,
          draining: this.state.draining,
        }),
      },
    )
    this.reconciler = new Reconciler(
      { placement: { settleMs: this.init.settleMs }, resyncMs: 5000 },
      {
        self: this.id,
        runtime: this.runtime,
        logger: silent,
        clock: this.#clock,
        view: () => this.#view.read(),
        publish: (promises, refusals) => {
          this.state = { ...this.state, seq: this.state.seq + 1, promises, refusals }
          this.#broadcastState()
        },
        onPlanned: (ms) => this.world.onPlanned(this.id, ms),
      },
    )
    void this.reconciler.start()
    const phase = this.world.random.next()
    this.#every(this.init.heartbeatMs, phase * this.init.heartbeatMs, () => this.#heartbeat())
    this.#every(SWEEP_MS, phase * SWEEP_MS, () => this.#sweep())
    this.#redial(true)
    // The warm-up's end needs a look, as in the daemon.
    this.#timers.push(engine.after(2 * this.init.heartbeatMs + 1, () => this.reconciler.trigger()))
    this.#broadcastState()
  }

  /** The process dies with its machine: its containers go, its connections close. */
  crash(): void {
    if (!this.up) return
    this.up = false
    for (const timer of this.#timers) timer.cancelled = true
    this.#timers = []
    void this.reconciler.stop()
    void this.runtime.close()
    for (const peer of [...this.links]) {
      this.#disconnect(peer)
      if (!peer.up || !this.world.network.reachable(this.id, peer.id)) continue
      // The reset reaches the peer, and its redial is refused: dead at once.
      this.world.engine.after(this.world.network.config.baseMs, () => peer.#lostConnection(this.id), true)
    }
  }

  /** `gary apply` on this node. */
  apply(workloads: Workload[]): void {
    const entries: DeclEntry[] = workloads.map((workload) => {
      this.#hlc = hlcTick(this.#hlc, this.#clock.wallNow())
      return { name: workload.name, version: { hlc: this.#hlc, origin: this.id }, deleted: false, workload }
    })
    for (const entry of entries) this.decls.merge(entry)
    this.reconciler.viewChanged()
    const bytes = encodeDeclEntries(entries).length
    for (const peer of this.#peers()) this.#send(peer, bytes, () => peer.#receiveDecls(entries))
  }

  /** Runs `fn` every `intervalMs`; `fn` must be synchronous (heartbeats, sweeps). */
  #every(intervalMs: number, firstMs: number, fn: () => void): void {
    const tick = () => {
      if (!this.up) return
      fn()
      this.#timers.push(this.world.engine.after(intervalMs, tick, true))
    }
    this.#timers.push(this.world.engine.after(firstMs, tick, true))
  }

  #peers(): SimNode[] {
    return this.world.nodes().filter((node) => node !== this)
  }

  #send(to: SimNode, bytes: number, deliver: () => void): void {
    this.world.network.send(this.id, to.id, bytes, () => {
      if (to.up) deliver()
    })
  }

  #heartbeat(): void {
    const beat: Heartbeat = {
      incarnation: this.state.incarnation,
      seq: this.state.seq,
      members: this.table.liveDigest(),
      decls: this.decls.digest(),
    }
    const bytes = encodeHeartbeat(beat).length
    for (const peer of this.links) this.#send(peer, bytes, () => peer.#receiveHeartbeat(this, beat))
    if (this.#clock.now() - this.#lastRefreshAt >= STATE_REFRESH_MS) this.#broadcastState()
    this.#redial()
  }

  /**
   * As the daemon: while under `targetPeers` connections, dial the members not connected (the
   * dead ones only every 5 s, so that a healed partition reconnects). On start, discovery (the
   * join peer and its hints) is modelled as dialling nodes at random, or all of them when
   * `targetPeers` covers the cluster.
   */
  #redial(starting = false): void {
    if (this.links.size >= this.init.targetPeers) return
    const nodes = this.world.nodes()
    const now = this.#clock.now()
    if (starting && this.init.targetPeers >= nodes.length - 1) {
      for (const peer of nodes) this.#connect(peer)
    } else if (starting) {
      for (let tries = 0; tries < 2 * this.init.targetPeers; tries++) {
        this.#connect(this.world.random.pick(nodes))
        if (this.links.size >= this.init.targetPeers) break
      }
    }
    const deadToo = now - this.#lastDeadRedialAt >= DEAD_REDIAL_MS
    if (deadToo) this.#lastDeadRedialAt = now
    for (const member of this.table.list()) {
      if (this.links.size >= this.init.targetPeers) break
      if (member.state === undefined || (member.status === 'dead' && !deadToo)) continue
      const peer = this.world.byId(member.id)
      if (peer !== undefined) this.#connect(peer)
    }
  }

  /** Opens a connection to `peer` if it is up, reachable and not yet connected. */
  #connect(peer: SimNode): boolean {
    if (peer === this || !peer.up || this.links.has(peer) || !this.world.network.reachable(this.id, peer.id))
      return false
    this.links.add(peer)
    peer.links.add(this)
    return true
  }

  #disconnect(peer: SimNode): void {
    this.links.delete(peer)
    peer.links.delete(this)
  }

  #receiveHeartbeat(from: SimNode, beat: Heartbeat): void {
    const now = this.#clock.now()
    const outcome = this.table.observeHeartbeat(from.id, beat, now)
    if (outcome === 'needs-state') this.#pullState(from)
    const sameDecls = beat.decls === this.decls.digest()
    if (!this.#agreed && sameDecls && beat.members === this.table.liveDigest()) {
      this.#agreed = true
      this.reconciler.viewChanged()
    }
    // Anti-entropy: a digest that stays different for over a second means a lost message.
    if (sameDecls) this.#declMismatchSince.delete(from.id)
    else {
      const since = this.#declMismatchSince.get(from.id) ?? now
      this.#declMismatchSince.set(from.id, since)
      if (now - since >= DECL_SYNC_AFTER_MS && now - (this.#lastDeclPull.get(from.id) ?? -Infinity) >= 1000) {
        this.#lastDeclPull.set(from.id, now)
        this.#send(from, PULL_REQUEST_BYTES, () => {
          const entries = from.decls.entries()
          from.#send(this, encodeDeclEntries(entries).length, () => this.#receiveDecls(entries))
        })
      }
    }
  }

  #pullState(from: SimNode): void {
    this.#send(from, PULL_REQUEST_BYTES, () => {
      const state = from.state
      from.#send(this, encodeNodeState(state).length, () => this.#receiveState(state))
    })
  }

  #broadcastState(): void {
    this.#lastRefreshAt = this.#clock.now()
    const state = this.state
    const bytes = encodeNodeState(state).length
    for (const peer of this.#peers()) this.#send(peer, bytes, () => peer.#receiveState(state))
  }

  #receiveState(state: NodeState): void {
    const outcome = this.table.observeState(state, this.#clock.now())
    if (outcome === 'stale' || outcome === 'self') return
    // Only a member that was not alive can change status on fresh evidence: sweeping the whole
    // table for every state made a round of states cost O(N^2) per node.
    if (this.table.get(state.node)?.status !== 'alive') this.#sweep()
    this.reconciler.viewChanged()
  }

  #receiveDecls(entries: DeclEntry[]): void {
    let changed = false
    for (const entry of entries) {
      const outcome = this.decls.merge(entry)
      if (outcome !== 'stale' && outcome !== 'unchanged') changed = true
    }
    if (changed) this.reconciler.viewChanged()
  }

  #sweep(): void {
    const changes = this.table.sweep(this.#clock.now())
    if (changes.length === 0) return
    this.reconciler.viewChanged()
    for (const change of changes) {
      // The daemon hangs up on a member it finds dead.
      if (change.to !== 'dead') continue
      const peer = this.world.byId(change.id)
      if (peer !== undefined && this.links.has(peer)) this.#disconnect(peer)
    }
  }

  #lostConnection(peer: string): void {
    if (!this.up) return
    this.table.markUnreachable(peer, this.#clock.now())
    this.#sweep()
  }
}

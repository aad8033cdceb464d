import { type Clock, ClusterView, Reconciler } from '@gary/node/reconcile'
import {
  appliedEntry,
  BEACON_INTERVAL_MS,
  type DeclEntry,
  DeclStore,
  encodeDeclEntries,
  encodeHeartbeat,
  encodeMemberNote,
  generationOf,
  type Heartbeat,
  HLC_ZERO,
  type Hlc,
  hlcTick,
  INDIRECT_DEAD_AFTER_MS,
  type MemberNote,
  MemberTable,
  MismatchTrigger,
  type NodeState,
  rollbackEntry,
  ShardScope,
  type StateVersion,
  shardOf,
  syncAnswer,
  type Workload,
} from '@gary/protocol'
import { FakeRuntime } from '@gary/runtime'
import { pino } from 'pino'
import type { Engine } from './engine.js'
import type { Network } from './network.js'
import type { Random } from './random.js'
import { stateBytes, statesBytes, versionsBytes } from './sizes.js'

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
  /** Ring shards (the daemon's `--promise-shards`): state changes go to the node's shard topic. */
  shards: number
}

export interface SimWorld {
  engine: Engine
  network: Network
  random: Random
  /** Every node of the simulation, up or not. */
  nodes(): readonly SimNode[]
  /** The nodes listening on a shard's topic, up or not. */
  subscribers(shard: number): readonly SimNode[]
  byId(id: string): SimNode | undefined
  /** Real ms spent in `plan`, per node. */
  onPlanned(node: string, ms: number): void
}

const SWEEP_MS = 100
/** A member refutes reports of its death at most this often (several witnesses report at once). */
const REFUTE_EVERY_MS = 1000
const PULL_REQUEST_BYTES = 16
const DECL_SYNC_AFTER_MS = 1000
/** Member digests differing this long start a member sync; at most one runs per this interval. */
const MEMBER_SYNC_AFTER_MS = 1000
const DEAD_REDIAL_MS = 5000
const DEAD_CHECKS = 4
const FLOOD_PATHS = 3
const REPORT_JITTER_MS = 100
const silent = pino({ level: 'silent' })

/**
 * One Gary node in the simulator. The member table, the declaration store, the cluster view and
 * the reconcile loop are the daemon's own code; what `Membership`, `Declarations` and
 * `AntiEntropy` do over libp2p is modelled here message for message: connections kept and
 * redialled as the daemon does, a heartbeat over each connection each interval, the full
 * NodeState to every member when it changes (gossipsub's flood), a pull when a heartbeat or a
 * beacon announces a newer state, declarations spread on write and pulled whole when a peer's
 * digest differs for over a second, and a crashed process's connections closing (its peers
 * count it dead at once). Liveness is relayed (docs/design.md): a node's peers report its death
 * to all, it refutes a report with a newer state, and it gossips a small beacon every minute.
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
  /** When a peer's heartbeat last agreed with this node's view, as in the daemon. */
  #agreedAt: number | undefined
  readonly #agreedWith = new Map<string, number>()
  #declMismatchSince = new Map<string, number>()
  readonly #memberSync = new MismatchTrigger(MEMBER_SYNC_AFTER_MS)
  #lastDeclPull = new Map<string, number>()
  /** Timers not yet fired, cancelled by a crash. */
  readonly #timers = new Set<{ cancelled: boolean }>()
  #lastRefutedAt = Number.NEGATIVE_INFINITY
  /** Peers this node has a connection to (both ends list each other). */
  readonly links = new Set<SimNode>()
  /** Whose states this node follows, and whom it dials first, with shards (the daemon's code). */
  readonly #scope: ShardScope
  /** This node's ring shard. */
  readonly shard: number
  #lastDeadRedialAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly init: SimNodeInit,
    private readonly world: SimWorld,
  ) {
    this.id = init.id
    this.#scope = new ShardScope(init.id, init.shards)
    this.shard = shardOf(init.id, init.shards)
  }

  /** Starts (or restarts) the process: a new incarnation, an empty member table, no containers. */
  start(): void {
    const { engine } = this.world
    this.#clock = engine.clock(this.init.skewMs)
    this.up = true
    this.incarnation++
    this.#agreedAt = undefined
    this.#agreedWith.clear()
    this.table = new MemberTable(this.id, {
      suspectAfterMs: this.init.suspectAfterMs,
      deadAfterMs: this.init.deadAfterMs,
      forgetAfterMs: 3_600_000,
      indirectDeadAfterMs: INDIRECT_DEAD_AFTER_MS,
      shards: this.init.shards,
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
        agreedAt: (peer) => (peer === undefined ? this.#agreedAt : this.#agreedWith.get(peer)),
        reads: (id) => this.#scope.near(id),
        self: () => ({
          labels: this.state.labels,
          capacity: this.state.capacity,
          draining: this.state.draining,
        }),
      },
    )
    this.reconciler = new Reconciler(
      { placement: { settleMs: this.init.settleMs, shards: this.init.shards }, resyncMs: 5000 },
      {
        self: this.id,
        runtime: this.runtime,
        logger: silent,
        clock: this.#clock,
        view: () => this.#view.read(),
        publish: (promises, refusals) => {
          this.state = { ...this.state, seq: this.state.seq + 1, promises, refusals }
          this.#broadcastState('shards')
        },
        onPlanned: (ms) => this.world.onPlanned(this.id, ms),
        onRolloutFailed: (failure) => this.#rollBack(failure),
      },
    )
    void this.reconciler.start()
    const phase = this.world.random.next()
    this.#every(this.init.heartbeatMs, phase * this.init.heartbeatMs, () => this.#heartbeat())
    this.#every(SWEEP_MS, phase * SWEEP_MS, () => this.#sweep())
    this.#every(BEACON_INTERVAL_MS, phase * BEACON_INTERVAL_MS, () =>
      this.#broadcastNote({ kind: 'alive', node: this.id, ...this.#version() }),
    )
    this.#redial(true)
    // The warm-up's end needs a look, as in the daemon.
    this.#after(2 * this.init.heartbeatMs + 1, () => this.reconciler.trigger(), false)
    this.#broadcastState('all')
  }

  /**
   * The process dies with its machine: its containers go. A process crash on a machine still up
   * closes its connections, and a peer's redial is refused. A `silent` loss (a machine powered
   * off, a cable cut) sends nothing: its peers keep their connection and hear only silence. A
   * silently lost node is not started again.
   */
  crash(options: { silent?: boolean } = {}): void {
    if (!this.up) return
    this.up = false
    for (const timer of this.#timers) timer.cancelled = true
    this.#timers.clear()
    void this.reconciler.stop()
    void this.runtime.close()
    for (const peer of [...this.links]) {
      if (options.silent === true) {
        this.links.delete(peer)
        continue
      }
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
      const version = { hlc: this.#hlc, origin: this.id }
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
    const spec = current?.workload
    if (current === undefined || spec === undefined || generationOf(spec) !== failure.generation) return
    if (spec.update.failureAction !== 'rollback') return
    this.#hlc = hlcTick(this.#hlc, this.#clock.wallNow())
    const entry = rollbackEntry(current, { hlc: this.#hlc, origin: this.id }, failure.reason)
    if (entry !== undefined) this.#write([entry])
  }

  #write(entries: DeclEntry[]): void {
    for (const entry of entries) this.decls.merge(entry)
    this.reconciler.viewChanged()
    const bytes = encodeDeclEntries(entries).length
    this.#flood(bytes, (peer) => peer.#receiveDecls(entries))
  }

  /** Runs `fn` every `intervalMs`; `fn` must be synchronous (heartbeats, sweeps). */
  #every(intervalMs: number, firstMs: number, fn: () => void): void {
    const tick = () => {
      if (!this.up) return
      fn()
      this.#after(intervalMs, tick)
    }
    this.#after(firstMs, tick)
  }

  /**
   * Runs `fn` after `ms` unless the process crashes first. Fired timers are dropped: kept, they
   * grew by eleven a second per node (a leak of 660,000 timers a minute at 1000 nodes).
   */
  #after(ms: number, fn: () => void, sync = true): void {
    const timer = this.world.engine.after(
      ms,
      () => {
        this.#timers.delete(timer)
        fn()
      },
      sync,
    )
    this.#timers.add(timer)
  }

  /**
   * Gossipsub's flood: every other node gets the message once. It travels the mesh, where each
   * node hears it from whichever of its mesh peers (6 by default) forwards it first; the
   * simulator counts 3 of those paths as independent, so a lossy network delays a flood by the
   * fastest of 3 retransmission draws rather than by one.
   */
  #flood(bytes: number, deliver: (peer: SimNode) => void): void {
    this.world.network.flood(
      this.id,
      this.world.nodes(),
      bytes,
      (peer) => peer.up && deliver(peer),
      FLOOD_PATHS,
    )
  }

  #send(to: SimNode, bytes: number, deliver: () => void): void {
    this.world.network.send(this.id, to.id, bytes, () => {
      if (to.up) deliver()
    })
  }

  #heartbeat(): void {
    const decls = this.decls.digest()
    const wall = this.#clock.wallNow()
    let bytes: number | undefined
    for (const peer of this.links) {
      // Per peer, as the daemon's: with partial membership, of the members both keep.
      const beat: Heartbeat = {
        incarnation: this.state.incarnation,
        seq: this.state.seq,
        members: this.table.liveDigest(peer.id),
        decls,
        wall,
      }
      bytes ??= encodeHeartbeat(beat).length
      this.#send(peer, bytes, () => peer.#receiveHeartbeat(this, beat))
    }
    this.#redial()
  }

  #version(): StateVersion {
    return { incarnation: this.state.incarnation, seq: this.state.seq }
  }

  /**
   * As the daemon: while under `targetPeers` connections, dial the members not connected, in
   * random order so that no member gets everyone's connections; every 5 s, dial a few members
   * held dead. On start, discovery (the join peer and its hints) is modelled as dialling nodes at
   * random, or all of them when `targetPeers` covers the cluster.
   */
  #redial(starting = false): void {
    const nodes = this.world.nodes()
    const now = this.#clock.now()
    const deadToo = now - this.#lastDeadRedialAt >= DEAD_REDIAL_MS
    if (deadToo) {
      this.#lastDeadRedialAt = now
      // Even at its target, a node checks a few members it holds dead: one it judged dead on a
      // lossy link, or across a healed partition, comes back without waiting for its beacon.
      // The table's own order (members() is deterministic; list() sorted them, 4 % of a churn).
      const dead = [...this.table.members()].filter(
        (member) => member.status === 'dead' && member.state !== undefined,
      )
      for (const member of this.world.random.shuffle(dead).slice(0, DEAD_CHECKS)) {
        const peer = this.world.byId(member.id)
        if (peer !== undefined) this.#connect(peer)
      }
    }
    const target = this.init.targetPeers
    if (starting && target >= nodes.length - 1) {
      for (const peer of nodes) this.#connect(peer)
      return
    }
    let inScope = 0
    for (const peer of this.links) if (this.#scope.near(peer.id)) inScope++
    if (this.links.size >= target && inScope >= Math.floor(target / 2)) return
    // On start, discovery (the join peer and its hints) is modelled as knowing every node; later,
    // the members known live are dialled. Members in scope first, as the daemon (`ShardScope`).
    const known = starting
      ? nodes
      : [...this.table.members()].flatMap((member) => {
          const peer =
            member.state === undefined || member.status === 'dead' ? undefined : this.world.byId(member.id)
          return peer === undefined ? [] : [peer]
        })
    // A dial to a node down or cut off fails at once, and the daemon tries another.
    const candidates = this.world.random
      .shuffle(known)
      .filter(
        (peer) =>
          peer !== this && peer.up && !this.links.has(peer) && this.world.network.reachable(this.id, peer.id),
      )
    for (const peer of this.#scope.toDial(candidates, this.links.size, inScope, target)) this.#connect(peer)
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
    this.table?.setIndirect(peer.id)
    peer.table?.setIndirect(this.id)
    this.#memberSync.forget(peer.id)
    peer.#memberSync.forget(this.id)
  }

  #receiveHeartbeat(from: SimNode, beat: Heartbeat): void {
    // A closed connection drops what was still in flight on it.
    if (!this.links.has(from)) return
    const now = this.#clock.now()
    const held = this.table.get(from.id)
    // A member this node holds dead talks to it again (a healed partition): the others may hold
    // it dead too, so it is told (directly, as the daemon does), and refutes with a newer state
    // that reaches them all.
    if (held?.status === 'dead') {
      const note: MemberNote = { kind: 'down', node: from.id, ...held.announced }
      this.#send(from, encodeMemberNote(note).length, () => from.#receiveNote(note, this.id))
    }
    const outcome = this.table.observeHeartbeat(from.id, beat, now)
    if (outcome === 'needs-state' && this.#follows(from.id)) this.#pullState(from)
    // Fresh evidence: a member not alive here comes back now, not at the next sweep.
    if (outcome !== 'stale' && this.table.get(from.id)?.status !== 'alive') this.#sweep(from.id)
    const sameDecls = beat.decls === this.decls.digest()
    // Undefined: the peer's digest covers a shard out of this node's scope (partial membership).
    const sameMembers = this.table.sameMembers(from.id, beat.members)
    if (sameDecls && sameMembers === true) {
      const first = this.#agreedAt === undefined
      this.#agreedAt = now
      this.#agreedWith.set(from.id, now)
      if (first) this.reconciler.viewChanged()
    }
    if (this.#memberSync.check(from.id, sameMembers !== false, now)) this.#syncMembers(from)
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

  /**
   * Sends `from` the versions this node holds; it answers with the states we miss, and those of
   * members we hold dead that it holds live, which this node then dials to check.
   */
  #syncMembers(from: SimNode): void {
    const { node, incarnation, seq } = this.state
    const versions = [{ node, incarnation, seq }, ...this.table.syncVersions()]
    this.#send(from, versionsBytes(versions), () => {
      const states = syncAnswer([from.state, ...from.table.liveStates(this.id)], versions)
      from.#send(this, statesBytes(states), () => {
        for (const state of states) {
          this.#receiveState(state)
          const peer = this.world.byId(state.node)
          if (peer === undefined) continue
          if (this.table.get(state.node)?.status === 'dead') this.#connect(peer)
          else if (this.#scope.checks(state.node, from.id)) this.#pullState(peer)
        }
      })
    })
  }

  #pullState(from: SimNode): void {
    this.#send(from, PULL_REQUEST_BYTES, () => {
      const state = from.state
      from.#send(this, stateBytes(state), () => this.#receiveState(state))
    })
  }

  /**
   * A new incarnation's first state, and a refutation, go to every member (with partial
   * membership, every member that keeps this node: its scope); with shards, every other change
   * goes to the node's shard topic, which the nodes of its scope listen on.
   */
  #broadcastState(to: 'all' | 'shards'): void {
    const state = this.state
    const bytes = stateBytes(state)
    this.#publish(to === 'all' && !this.table.partial ? undefined : this.id, bytes, (peer) =>
      peer.#receiveState(state),
    )
  }

  /** Floods to every node, or to the nodes listening on the topic of `about`'s shard (its scope). */
  #publish(about: string | undefined, bytes: number, deliver: (peer: SimNode) => void): void {
    if (about === undefined || this.init.shards <= 1) {
      this.#flood(bytes, deliver)
      return
    }
    this.world.network.flood(
      this.id,
      this.world.subscribers(shardOf(about, this.init.shards)),
      bytes,
      (peer) => peer.up && deliver(peer),
      FLOOD_PATHS,
    )
  }

  /**
   * Whether this node follows the member's state changes: always with one shard; with shards,
   * when their shards are at most one apart, or when it holds no state of the member's current
   * incarnation (a restart's first state, sent to all, may be missed). The others keep an older
   * state of it on purpose: placement never reads their promises.
   */
  #follows(id: string): boolean {
    const member = this.table.get(id)
    return member === undefined || this.#scope.pulls(member)
  }

  #receiveState(state: NodeState): void {
    const before = this.table.get(state.node)?.state
    const outcome = this.table.observeState(state, this.#clock.now())
    if (outcome === 'stale' || outcome === 'self') return
    // Fresh evidence can change only this member's status: sweeping the table for every state
    // made a round of states cost O(N^2) per node.
    this.#sweep(state.node)
    if (this.#scope.replans(state.node, outcome, { before, after: state })) this.reconciler.viewChanged()
  }

  /**
   * Gossips a member note to every node (gossipsub's flood); with partial membership, to the
   * nodes that keep the member it is about: its shard's topic.
   */
  #broadcastNote(note: MemberNote): void {
    const bytes = encodeMemberNote(note).length
    this.#publish(this.table.partial ? note.node : undefined, bytes, (peer) =>
      peer.#receiveNote(note, this.id),
    )
  }

  /** A note gossiped by `signer` (gossipsub signs every message). */
  #receiveNote(note: MemberNote, signer: string): void {
    const now = this.#clock.now()
    if (note.kind === 'alive') {
      const outcome = this.table.observeBeacon(note.node, note, now)
      const from = this.world.byId(note.node)
      if (outcome === 'needs-state' && from !== undefined && this.#follows(note.node)) this.#pullState(from)
      if (outcome !== 'stale') this.#sweep(note.node)
      return
    }
    const outcome = this.table.observeDown(note.node, note, signer, now, note.unreachable === true)
    if (outcome === 'marked') this.#sweep(note.node)
    else if (
      outcome === 'self' &&
      note.incarnation === this.state.incarnation &&
      now - this.#lastRefutedAt >= REFUTE_EVERY_MS
    ) {
      // Reported dead while up: a newer state proves otherwise to every node that hears it.
      this.#lastRefutedAt = now
      this.state = { ...this.state, seq: this.state.seq + 1 }
      this.#broadcastState('all')
    }
  }

  #receiveDecls(entries: DeclEntry[]): void {
    let changed = false
    for (const entry of entries) {
      const outcome = this.decls.merge(entry)
      if (outcome !== 'stale' && outcome !== 'unchanged') changed = true
    }
    if (changed) this.reconciler.viewChanged()
  }

  /** Applies the passage of time to the table; after evidence of one member, to that one only. */
  #sweep(only?: string): void {
    const changes = this.table.sweep(this.#clock.now(), only)
    if (changes.length === 0) return
    // With shards, placement reads only the members in scope; rule 10's counts of the others are
    // read as they stand at the next pass.
    if (changes.some((change) => this.#scope.replans(change.id))) this.reconciler.viewChanged()
    for (const change of changes) {
      if (change.to !== 'dead') continue
      const peer = this.world.byId(change.id)
      if (peer === undefined || !this.links.has(peer)) continue
      // A witness: its heartbeats stopped. Tell every node, and hang up as the daemon does; the
      // member stays dead here until fresh evidence, though no longer connected.
      this.#reportDown(change.id)
      this.table.markUnreachable(change.id, this.#clock.now())
      this.#disconnect(peer)
    }
  }

  /**
   * Reports a death this node witnessed, after a random delay of up to REPORT_JITTER_MS, and only
   * if no other witness's report has made it dead here meanwhile: a crashed member has a witness
   * per connection (about 64 at 1000 nodes), and each report is flooded to every member.
   */
  #reportDown(id: string, unreachable = false): void {
    this.#after(this.world.random.next() * REPORT_JITTER_MS, () => {
      const member = this.table.get(id)
      if (member === undefined || member.confirmed === true) return
      this.#broadcastNote({
        kind: 'down',
        node: id,
        ...member.announced,
        ...(unreachable ? { unreachable } : {}),
      })
    })
  }

  /** A connection broke and the redial was refused: a witness of the peer's death. */
  #lostConnection(peer: string): void {
    if (!this.up) return
    this.table.markUnreachable(peer, this.#clock.now())
    this.#sweep(peer)
    this.#reportDown(peer, true)
  }
}

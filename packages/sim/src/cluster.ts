import type { DeclarationsPort } from '@gary/node/declarations'
import { MEMBERSHIP_DEFAULTS, type MembershipPort, membershipTopics } from '@gary/node/membership'
import { DEFAULT_MAX_CLOCK_OFFSET_MS, normaliseWorkload, type Workload } from '@gary/protocol'
import type { Logger } from 'pino'
import { Census } from './census.js'
import { Engine } from './engine.js'
import { LAN, Network, type NetworkConfig } from './network.js'
import { nodeSeed, Random } from './random.js'
import {
  SIM_CLUSTER,
  SimNode,
  type SimNodeInit,
  type SimWorld,
  type Subscribers,
  silent,
} from './sim-node.js'
import { MemberTrace } from './trace.js'

export interface ClusterInit {
  nodes: number
  seed: number
  /** Ring shards; default `autoShards(nodes)`. */
  shards?: number
  network?: Partial<NetworkConfig>
  node?: Partial<Omit<SimNodeInit, 'id'>>
  /** The logger of each node's agents (tests that read their decisions); default silent. */
  loggerFor?: (node: string) => Logger
  /** What each node's agents get for a port, given its own (tests that record what they send). */
  tapPort?: (node: string, port: MembershipPort & DeclarationsPort) => MembershipPort & DeclarationsPort
  /** Keep a trace of the member a scenario follows (`MemberTrace`), in place of the two above. */
  trace?: boolean
}

const NODE_DEFAULTS: Omit<SimNodeInit, 'id'> = {
  labels: {},
  capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
  skewMs: 0,
  maxClockOffsetMs: DEFAULT_MAX_CLOCK_OFFSET_MS,
  // The daemon's defaults: past 33 nodes, each node hears most members only by relayed liveness.
  ...MEMBERSHIP_DEFAULTS,
  settleMs: 300,
  startDelayMs: 200,
  startFailureRate: 0,
  shards: 1,
}

/** Simulated ms between two samples of what runs (duplicates, missing replicas, invariants). */
const SAMPLE_MS = 100

/** Nodes per ring shard that the simulator aims at by default: about `targetPeers`. */
const SHARD_NODES = 32

/**
 * The shards a cluster of `nodes` is cut into by default: one per SHARD_NODES nodes, and one in
 * all below four (with three or fewer every node is in every node's scope, and several topics
 * only cost more than one).
 */
export const autoShards = (nodes: number): number => {
  const shards = Math.floor(nodes / SHARD_NODES)
  return shards >= 4 ? shards : 1
}

/** A workload for the simulations: `replicas` slots of 100m cpu and 64Mi each. */
export function simWorkload(name: string, replicas: number, extra: Record<string, unknown> = {}): Workload {
  const parsed = normaliseWorkload({ name, image: 'sim/app:1', command: ['serve'], replicas, ...extra })
  if (!parsed.ok) throw new Error(parsed.problems.join('; '))
  return parsed.workloads[0] as Workload
}

/**
 * A simulated cluster: nodes, the network between them, one virtual clock, one seeded random
 * source, and the measurements the scenarios report.
 */
export class SimCluster {
  readonly engine = new Engine()
  readonly random: Random
  readonly network: Network
  readonly nodes: SimNode[] = []
  /** Banned by the cluster: out of the invariants' live nodes, as they are out of every node's view. */
  readonly banned = new Set<SimNode>()
  /** Real ms spent in `plan`, all nodes together. */
  planMs = 0
  /** Replica-seconds with more than one container per slot, and with a slot running nowhere. */
  duplicateSeconds = 0
  missingSeconds = 0
  readonly #world: SimWorld
  readonly #inv3Random: Random
  readonly #byId = new Map<string, SimNode>()
  readonly #subscribers = new Map<string, { nodes: SimNode[]; set: Set<SimNode> }>()
  readonly #randoms = new Map<SimNode, Random>()
  /** What the last sample of `run` counted: the invariants are checked on it right after. */
  #sample: Census | undefined
  /** Checks a scenario asked for, each every `stepMs` of simulated time until it returns true. */
  #watches: { check: () => boolean; stepMs: number }[] = []
  readonly shards: number
  /** What each node did about the member a scenario follows, when `init.trace`. */
  readonly trace: MemberTrace | undefined

  constructor(readonly init: ClusterInit) {
    this.shards = init.shards ?? autoShards(init.nodes)
    const trace =
      init.trace === true
        ? new MemberTrace(
            () => this.engine.now,
            (id) => this.#byId.get(id),
          )
        : undefined
    this.trace = trace
    this.random = new Random(init.seed)
    this.#inv3Random = new Random(init.seed + 1)
    this.network = new Network({ ...LAN, ...init.network }, this.engine, this.random)
    this.#world = {
      engine: this.engine,
      network: this.network,
      random: this.random,
      nodes: () => this.nodes,
      subscribers: (topic): Subscribers | undefined => this.#subscribers.get(topic),
      byId: (id) => this.#byId.get(id),
      joinFor: (node) => {
        const up = this.nodes.filter((other) => other.up && other !== node)
        return up.length === 0 ? [] : [this.random.pick(up).id]
      },
      randomFor: (node) => {
        const random = this.#randoms.get(node) as Random
        return () => random.next()
      },
      loggerFor: (node) => trace?.loggerFor(node.id) ?? init.loggerFor?.(node.id) ?? silent,
      portFor: (node, port) => trace?.tap(node.id, port) ?? init.tapPort?.(node.id, port) ?? port,
      onPlanned: (_node, ms) => {
        this.planMs += ms
      },
    }
    for (let i = 0; i < init.nodes; i++) this.addNode()
  }

  addNode(overrides: Partial<Omit<SimNodeInit, 'id'>> = {}): SimNode {
    const id = `n${String(this.nodes.length).padStart(5, '0')}`
    const node = new SimNode(
      { id, ...NODE_DEFAULTS, shards: this.shards, ...this.init.node, ...overrides },
      this.#world,
    )
    this.#randoms.set(node, new Random(nodeSeed(this.init.seed, this.nodes.length)))
    this.nodes.push(node)
    this.#byId.set(id, node)
    const topics = membershipTopics(SIM_CLUSTER, id, this.shards)
    for (const topic of [...topics.states, ...topics.notes]) {
      let subscribers = this.#subscribers.get(topic)
      if (subscribers === undefined) {
        subscribers = { nodes: [], set: new Set() }
        this.#subscribers.set(topic, subscribers)
      }
      subscribers.nodes.push(node)
      subscribers.set.add(node)
    }
    return node
  }

  get up(): SimNode[] {
    return this.nodes.filter((node) => node.up && !this.banned.has(node))
  }

  get down(): SimNode[] {
    return this.nodes.filter((node) => !node.up)
  }

  /**
   * Runs `check` every `stepMs` of simulated time from now on, during `run` and `converge`, until
   * it returns true; what it throws ends the run. A scenario times what the 100 ms samples would
   * round (a crash seen in 4 ms) or checks a promise at every sample (the lone node's slots).
   */
  watch(check: () => boolean, stepMs = SAMPLE_MS): void {
    this.#watches.push({ check, stepMs })
  }

  /** Runs for `ms` of simulated time, sampling duplicates and missing replicas every 100 ms. */
  async run(ms: number, workloads: () => Workload[] = () => []): Promise<void> {
    const end = this.engine.now + ms
    while (this.engine.now < end) {
      const from = this.engine.now
      await this.#advance(Math.min(end, from + SAMPLE_MS))
      const seconds = (this.engine.now - from) / 1000
      this.#sample = new Census(workloads(), this.up, this.shards, this.down)
      this.duplicateSeconds += this.#sample.duplicates * seconds
      this.missingSeconds += this.#sample.missing * seconds
    }
  }

  /** Runs the engine until `until`, stopping for the watches that are due. */
  async #advance(until: number): Promise<void> {
    while (this.engine.now < until) {
      let step = until - this.engine.now
      for (const watch of this.#watches) step = Math.min(step, watch.stepMs)
      await this.engine.run(this.engine.now + step)
      if (this.#watches.length > 0) this.#watches = this.#watches.filter((watch) => !watch.check())
    }
  }

  /**
   * Runs until the invariants hold and keep holding for `quietMs`, or until `timeoutMs`; returns
   * the simulated time at which they last started to hold, or undefined when they never settled.
   */
  async converge(
    expected: () => Workload[],
    timeoutMs = 60_000,
    quietMs = 3000,
  ): Promise<number | undefined> {
    const deadline = this.engine.now + timeoutMs
    let heldSince: number | undefined
    while (this.engine.now < deadline) {
      await this.run(100, expected)
      // Every pair of INV-3 is checked when the invariants start to hold and when they have held
      // for the quiet time; samples of it in between.
      const pairs = heldSince === undefined ? 'all' : 'sample'
      const sample = this.#sample ?? new Census(expected(), this.up, this.shards, this.down)
      if (sample.violation(pairs, this.#inv3Random) === undefined) heldSince ??= this.engine.now
      else heldSince = undefined
      if (heldSince === undefined || this.engine.now - heldSince < quietMs) continue
      if (this.violation(expected()) === undefined) return heldSince
      heldSince = undefined
    }
    return undefined
  }

  /** The first invariant that does not hold, in words, or undefined (`Census.violation`). */
  violation(workloads: Workload[]): string | undefined {
    return new Census(workloads, this.up, this.shards, this.down).violation('all', this.#inv3Random)
  }
}

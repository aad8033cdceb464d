import {
  hash53,
  inScope,
  isClaimant,
  normaliseWorkload,
  shardAt,
  shardOf,
  topicShards,
  type Workload,
} from '@gary/protocol'
import { Engine } from './engine.js'
import { LAN, Network, type NetworkConfig } from './network.js'
import { Random } from './random.js'
import { SimNode, type SimNodeInit, type SimWorld } from './sim-node.js'

export interface ClusterInit {
  nodes: number
  seed: number
  /** Ring shards; default `autoShards(nodes)`. */
  shards?: number
  network?: Partial<NetworkConfig>
  node?: Partial<Omit<SimNodeInit, 'id'>>
}

const NODE_DEFAULTS: Omit<SimNodeInit, 'id'> = {
  labels: {},
  capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
  skewMs: 0,
  heartbeatMs: 1000,
  // The daemon's default: past 33 nodes, each node hears most members only by relayed liveness.
  targetPeers: 32,
  suspectAfterMs: 2000,
  deadAfterMs: 3000,
  settleMs: 300,
  startDelayMs: 200,
  startFailureRate: 0,
  shards: 1,
}

/** Nodes per ring shard that the simulator aims at by default: about `targetPeers`. */
const SHARD_NODES = 32

/**
 * The shards a cluster of `nodes` is cut into by default: one per SHARD_NODES nodes, and one in
 * all below four (with three or fewer every node is in every node's scope, and two topics only
 * cost more than one).
 */
export const autoShards = (nodes: number): number => {
  const shards = Math.floor(nodes / SHARD_NODES)
  return shards >= 4 ? shards : 1
}

/** Others each node is checked against by a sampled INV-3. */
const INV3_SAMPLE = 16

/** The live nodes' running containers per slot and their promises, at one simulated time. */
interface Census {
  workloads: Workload[]
  up: SimNode[]
  perSlot: Map<string, number>
  rooms: Map<string, Set<number>>
  claimed: Set<string>
  /** The first running container without its node's `running` promise (INV-2), in words. */
  unpromised: string | undefined
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
  /** Real ms spent in `plan`, all nodes together. */
  planMs = 0
  /** Replica-seconds with more than one container per slot, and with a slot running nowhere. */
  duplicateSeconds = 0
  missingSeconds = 0
  readonly #world: SimWorld
  readonly #inv3Random: Random
  readonly #byId = new Map<string, SimNode>()
  readonly #subscribers = new Map<number, SimNode[]>()
  /** What the last sample of `run` counted: the invariants are checked on it right after. */
  #sample: Census | undefined
  readonly shards: number

  constructor(readonly init: ClusterInit) {
    this.shards = init.shards ?? autoShards(init.nodes)
    this.random = new Random(init.seed)
    this.#inv3Random = new Random(init.seed + 1)
    this.network = new Network({ ...LAN, ...init.network }, this.engine, this.random)
    this.#world = {
      engine: this.engine,
      network: this.network,
      random: this.random,
      nodes: () => this.nodes,
      subscribers: (shard) => this.#subscribers.get(shard) ?? [],
      byId: (id) => this.#byId.get(id),
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
    this.nodes.push(node)
    this.#byId.set(id, node)
    for (const shard of topicShards(id, this.shards)) {
      const list = this.#subscribers.get(shard) ?? []
      list.push(node)
      this.#subscribers.set(shard, list)
    }
    return node
  }

  get up(): SimNode[] {
    return this.nodes.filter((node) => node.up)
  }

  /** Runs for `ms` of simulated time, sampling duplicates and missing replicas every 100 ms. */
  async run(ms: number, workloads: () => Workload[] = () => []): Promise<void> {
    const end = this.engine.now + ms
    while (this.engine.now < end) {
      const next = Math.min(end, this.engine.now + 100)
      await this.engine.run(next)
      this.#sample = this.#census(workloads())
      const { duplicates, missing } = this.#replicaGaps(this.#sample)
      this.duplicateSeconds += duplicates * 0.1
      this.missingSeconds += missing * 0.1
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
      const sample = this.#sample ?? this.#census(expected())
      if (this.#violation(sample, pairs) === undefined) heldSince ??= this.engine.now
      else heldSince = undefined
      if (heldSince === undefined || this.engine.now - heldSince < quietMs) continue
      if (this.violation(expected()) === undefined) return heldSince
      heldSince = undefined
    }
    return undefined
  }

  /**
   * The first invariant that does not hold, in words, or undefined. INV-1: each workload runs
   * its replicas (a global one, one per live node) across the live nodes, no slot twice, and a
   * slot runs nowhere only when nobody claims it and no node that may hold it has room for it by
   * its promises (with shards, the nodes of the slot's shard and the next); INV-2: every running container is
   * promised, running, by its node; INV-3: every live node holds the current promises of every
   * live node in its scope (all of them, with one shard), and the current incarnation of the
   * others.
   */
  violation(workloads: Workload[]): string | undefined {
    return this.#violation(this.#census(workloads), 'all')
  }

  /**
   * The invariants over a census. INV-3 costs N^2 lookups: `sample` checks each node against
   * INV3_SAMPLE others drawn from a random source of its own (the simulation's draws stay as
   * they are).
   */
  #violation(census: Census, pairs: 'all' | 'sample'): string | undefined {
    const { workloads, up, perSlot, rooms, claimed, unpromised } = census
    if (unpromised !== undefined) return unpromised
    for (const workload of workloads) {
      if (workload.mode === 'global') {
        let have = 0
        for (const [key, count] of perSlot) if (key.startsWith(`${workload.name}/`)) have += count
        if (have !== up.length) return `INV-1: ${workload.name} runs ${have} containers, not ${up.length}`
        continue
      }
      const roomy = rooms.get(workload.name) as Set<number>
      for (let slot = 0; slot < workload.replicas; slot++) {
        const count = perSlot.get(`${workload.name}/${slot}`) ?? 0
        if (count > 1) return `INV-1: ${workload.name}/${slot} runs ${count} times`
        if (count > 0) continue
        // A claim counts as room taken: a slot claimed and not yet running is not unschedulable.
        if (claimed.has(`${workload.name}/${slot}`))
          return `INV-1: ${workload.name}/${slot} is claimed and runs nowhere`
        if (roomy.has(this.#slotShard(workload.name, slot)))
          return `INV-1: ${workload.name}/${slot} runs nowhere, though a node that may hold it has room`
      }
      for (const key of perSlot.keys())
        if (
          key.startsWith(`${workload.name}/`) &&
          Number(key.slice(workload.name.length + 1)) >= workload.replicas
        )
          return `INV-1: ${key} runs, past ${workload.replicas} replicas`
    }
    const sampled = pairs === 'sample' && up.length > INV3_SAMPLE
    for (const node of up) {
      const others = sampled ? Array.from({ length: INV3_SAMPLE }, () => this.#inv3Random.pick(up)) : up
      for (const other of others) {
        if (other === node) continue
        const held = node.table.get(other.id)?.state
        if (held?.incarnation !== other.state.incarnation)
          return `INV-3: ${node.id} does not hold ${other.id}'s current incarnation`
        // A state that only refutes a report of the node's death keeps its promises (the same
        // object): under 30 % loss false reports come every second somewhere in a large cluster,
        // and INV-3 is about the promises.
        const same = held.seq === other.state.seq || held.promises === other.state.promises
        if (!same && inScope(node.id, other.id, this.shards))
          return `INV-3: ${node.id} does not hold ${other.id}'s current promises`
      }
    }
    return undefined
  }

  /** Per workload, the shards whose slots some live node that may hold them has room for. */
  #roomyShards(workloads: readonly Workload[], up: readonly SimNode[]): Map<string, Set<number>> {
    const byName = new Map(workloads.map((w) => [w.name, w]))
    const rooms = new Map(workloads.map((w) => [w.name, new Set<number>()]))
    for (const node of up) {
      let cpu = 0
      let memory = 0
      for (const p of node.state.promises) {
        if (!isClaimant(p)) continue
        cpu += byName.get(p.workload)?.resources.cpuMillis ?? 0
        memory += byName.get(p.workload)?.resources.memoryBytes ?? 0
      }
      const own = shardOf(node.id, this.shards)
      const { capacity } = node.init
      for (const workload of workloads) {
        const { cpuMillis, memoryBytes } = workload.resources
        if (cpu + cpuMillis > capacity.cpuMillis || memory + memoryBytes > capacity.memoryBytes) continue
        const roomy = rooms.get(workload.name) as Set<number>
        roomy.add(own)
        roomy.add((own - 1 + this.shards) % this.shards)
      }
    }
    return rooms
  }

  /** The slots some live node promises to hold, as `workload/slot`. */
  #claimed(up: readonly SimNode[]): Set<string> {
    const claimed = new Set<string>()
    for (const node of up)
      for (const p of node.state.promises) if (isClaimant(p)) claimed.add(`${p.workload}/${p.slot}`)
    return claimed
  }

  #slotShard(workload: string, slot: number): number {
    return shardAt(hash53(`${workload}/${slot}`), this.shards)
  }

  /**
   * What the running containers and the promises of the live nodes are now. A sample counts them
   * once for the replica gaps and the invariants (counted apart, they were 16 % of a simulated
   * churn at 1000 nodes).
   */
  #census(workloads: Workload[]): Census {
    const up = this.up
    const perSlot = new Map<string, number>()
    let unpromised: string | undefined
    for (const node of up) {
      const promises = new Map(node.reconciler.promises.map((p) => [p.container, p]))
      for (const container of node.runtime.runningContainers()) {
        const key = `${container.labels['gary.workload']}/${container.labels['gary.slot']}`
        perSlot.set(key, (perSlot.get(key) ?? 0) + 1)
        if (unpromised === undefined && promises.get(container.id)?.phase !== 'running')
          unpromised = `INV-2: ${container.name} on ${node.id} runs without its node's promise`
      }
    }
    const rooms = this.#roomyShards(workloads, up)
    const claimed = this.#claimed(up)
    return { workloads, up, perSlot, rooms, claimed, unpromised }
  }

  #replicaGaps({ workloads, perSlot, rooms, claimed }: Census): { duplicates: number; missing: number } {
    let duplicates = 0
    for (const count of perSlot.values()) duplicates += Math.max(0, count - 1)
    let missing = 0
    for (const workload of workloads) {
      if (workload.mode === 'global') continue
      // Only the slots that could run somewhere count as missing: claimed, or with room for them.
      const roomy = rooms.get(workload.name) as Set<number>
      for (let slot = 0; slot < workload.replicas; slot++) {
        const key = `${workload.name}/${slot}`
        if (!perSlot.has(key) && (claimed.has(key) || roomy.has(this.#slotShard(workload.name, slot))))
          missing++
      }
    }
    return { duplicates, missing }
  }
}

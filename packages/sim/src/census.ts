import { LABELS } from '@gary/node/reconcile'
import { isClaimant, shardAt, slotKey, slotPosition, type Workload } from '@gary/protocol'
import type { Random } from './random.js'
import type { SimNode } from './sim-node.js'

/** Others each node is checked against by a sampled INV-3. */
const INV3_SAMPLE = 16

/** Per workload object, the ring shard of each of its slots (hashed once, not per sample). */
const slotShardCache = new WeakMap<Workload, { shards: number; of: Uint16Array }>()

function slotShards(workload: Workload, shards: number): Uint16Array {
  const cached = slotShardCache.get(workload)
  if (cached?.shards === shards && cached.of.length === workload.replicas) return cached.of
  const of = new Uint16Array(workload.replicas)
  for (let slot = 0; slot < workload.replicas; slot++)
    of[slot] = shardAt(slotPosition(workload.name, slot), shards)
  slotShardCache.set(workload, { shards, of })
  return of
}

/**
 * What runs on the live nodes at one simulated time, and what they promise, counted per workload
 * and slot in typed arrays. The simulator takes one ten times a simulated second; counted twice
 * per sample with a string key per slot, the census and the invariants were a fifth of a
 * simulated flapping link at 1000 nodes (12 s of 56 s in a profile).
 */
export class Census {
  /** Per expected replicated workload (by index): containers running per slot. */
  readonly #running: Int32Array[]
  /** Per expected replicated workload: the slots some live node promises to hold. */
  readonly #claimed: Uint8Array[]
  /** Per expected workload: the shards whose slots a live node that may hold them has room for. */
  readonly #rooms: Set<number>[]
  /** Containers of global or unexpected workloads, or of slots past the replicas, by `workload/slot`. */
  readonly #others = new Map<string, number>()
  /** The first running container without its node's `running` promise (INV-2), in words. */
  #unpromised: string | undefined

  constructor(
    readonly workloads: readonly Workload[],
    readonly up: readonly SimNode[],
    readonly shards: number,
    /** The nodes not running (crashed, lost, or not started yet). */
    readonly down: readonly SimNode[] = [],
  ) {
    const index = new Map<string, number>()
    workloads.forEach((workload, i) => {
      if (workload.mode !== 'global') index.set(workload.name, i)
    })
    this.#running = workloads.map((w) => new Int32Array(w.mode === 'global' ? 0 : w.replicas))
    this.#claimed = workloads.map((w) => new Uint8Array(w.mode === 'global' ? 0 : w.replicas))
    for (const node of up) {
      const promised: string[] = []
      for (const p of node.reconciler.promises)
        if (p.phase === 'running' && p.container !== undefined) promised.push(p.container)
      for (const container of node.runtime.runningContainers()) {
        const name = container.labels[LABELS.workload] ?? ''
        const slot = Number(container.labels[LABELS.slot])
        const counts = this.#running[index.get(name) ?? -1]
        if (counts !== undefined && Number.isInteger(slot) && slot >= 0 && slot < counts.length)
          (counts[slot] as number)++
        else {
          const key = slotKey(name, slot)
          this.#others.set(key, (this.#others.get(key) ?? 0) + 1)
        }
        if (this.#unpromised === undefined && !promised.includes(container.id))
          this.#unpromised = `INV-2: ${container.name} on ${node.id} runs without its node's promise`
      }
      for (const p of node.state.promises) {
        const claimed = this.#claimed[index.get(p.workload) ?? -1]
        if (claimed !== undefined && p.slot < claimed.length && isClaimant(p)) claimed[p.slot] = 1
      }
    }
    this.#rooms = this.#roomyShards()
  }

  /** Containers beyond the first of each slot. */
  get duplicates(): number {
    let duplicates = 0
    for (const counts of this.#running) for (const count of counts) if (count > 1) duplicates += count - 1
    for (const count of this.#others.values()) duplicates += Math.max(0, count - 1)
    return duplicates
  }

  /** Slots that run nowhere and could run somewhere: claimed, or with room for them. */
  get missing(): number {
    let missing = 0
    this.workloads.forEach((workload, i) => {
      const counts = this.#running[i] as Int32Array
      if (counts.length === 0) return
      const claimed = this.#claimed[i] as Uint8Array
      const roomy = this.#rooms[i] as Set<number>
      const shardOfSlot = slotShards(workload, this.shards)
      for (let slot = 0; slot < counts.length; slot++)
        if (counts[slot] === 0 && (claimed[slot] === 1 || roomy.has(shardOfSlot[slot] as number))) missing++
    })
    return missing
  }

  /**
   * The first invariant that does not hold, in words, or undefined. INV-1: each workload runs
   * its replicas (a global one, one per live node) across the live nodes, no slot twice, and a
   * slot runs nowhere only when nobody claims it and no node that may hold it has room for it by
   * its promises (with shards, the nodes of the slot's shard and the next); INV-2: every running
   * container is promised, running, by its node; INV-3: every live node holds every live node
   * in its scope (all of them, with up to three shards; with more, membership is partial and a
   * node keeps nothing else) at its current incarnation and promises, and not dead, and every
   * node down in its scope dead, if it holds it at all. `sample` checks each node against
   * INV3_SAMPLE others of its scope, and as many down, drawn from `random` (a source of the
   * checker's own, so that the simulation's draws stay as they are).
   */
  violation(pairs: 'all' | 'sample', random: Random): string | undefined {
    if (this.#unpromised !== undefined) return this.#unpromised
    const { up } = this
    for (const [i, workload] of this.workloads.entries()) {
      if (workload.mode === 'global') {
        let have = 0
        for (const [key, count] of this.#others) if (key.startsWith(`${workload.name}/`)) have += count
        if (have !== up.length) return `INV-1: ${workload.name} runs ${have} containers, not ${up.length}`
        continue
      }
      const counts = this.#running[i] as Int32Array
      const claimed = this.#claimed[i] as Uint8Array
      const roomy = this.#rooms[i] as Set<number>
      const shardOfSlot = slotShards(workload, this.shards)
      for (let slot = 0; slot < counts.length; slot++) {
        const count = counts[slot] as number
        if (count > 1) return `INV-1: ${slotKey(workload.name, slot)} runs ${count} times`
        if (count > 0) continue
        // A claim counts as room taken: a slot claimed and not yet running is not unschedulable.
        if (claimed[slot] === 1) return `INV-1: ${slotKey(workload.name, slot)} is claimed and runs nowhere`
        if (roomy.has(shardOfSlot[slot] as number))
          return `INV-1: ${slotKey(workload.name, slot)} runs nowhere, though a node that may hold it has room`
      }
      for (const key of this.#others.keys())
        if (key.startsWith(`${workload.name}/`))
          return `INV-1: ${key} runs, past ${workload.replicas} replicas`
    }
    const scopes = this.#scopes(up)
    const downScopes = this.#scopes(this.down)
    const draw = (scope: readonly SimNode[]) =>
      pairs === 'sample' && scope.length > INV3_SAMPLE
        ? Array.from({ length: INV3_SAMPLE }, () => random.pick(scope))
        : scope
    for (const node of up) {
      for (const other of draw(scopes[node.shard] ?? [])) {
        if (other === node) continue
        const member = node.table.get(other.id)
        const held = member?.state
        if (held?.incarnation !== other.state.incarnation)
          return `INV-3: ${node.id} does not hold ${other.id}'s current incarnation`
        // A state that only refutes a report of the node's death keeps its promises (the same
        // object): under 30 % loss false reports come every second somewhere in a large cluster,
        // and INV-3 is about the promises.
        if (held.seq !== other.state.seq && held.promises !== other.state.promises)
          return `INV-3: ${node.id} does not hold ${other.id}'s current promises`
        // Suspect is allowed: under 30 % loss, on some link of a 100-node cluster a heartbeat
        // retransmitted for over 2 s makes a member suspect every few seconds, and suspicion
        // moves no slot.
        if (member?.status === 'dead') return `INV-3: ${node.id} holds ${other.id} dead, though it is up`
      }
      for (const other of draw(downScopes[node.shard] ?? [])) {
        const status = node.table.get(other.id)?.status
        if (status !== undefined && status !== 'dead')
          return `INV-3: ${node.id} holds ${other.id} ${status}, though it is down`
      }
    }
    return undefined
  }

  /**
   * Per shard, the nodes of `nodes` in the scope of its nodes: those of the shard and the two
   * next to it on the ring (all of them, with three shards or fewer). Built once per shard, not
   * per node.
   */
  #scopes(nodes: readonly SimNode[]): (readonly SimNode[])[] {
    if (this.shards <= 3) return Array.from({ length: this.shards }, () => nodes)
    const byShard: SimNode[][] = Array.from({ length: this.shards }, () => [])
    for (const node of nodes) byShard[node.shard]?.push(node)
    return byShard.map((_, shard) =>
      [shard - 1, shard, shard + 1].flatMap((k) => byShard[(k + this.shards) % this.shards] ?? []),
    )
  }

  /** Per expected workload, the shards whose slots some live node that may hold them has room for. */
  #roomyShards(): Set<number>[] {
    const byName = new Map(this.workloads.map((w) => [w.name, w]))
    const rooms = this.workloads.map(() => new Set<number>())
    for (const node of this.up) {
      let cpu = 0
      let memory = 0
      for (const p of node.state.promises) {
        if (!isClaimant(p)) continue
        cpu += byName.get(p.workload)?.resources.cpuMillis ?? 0
        memory += byName.get(p.workload)?.resources.memoryBytes ?? 0
      }
      const { capacity } = node.init
      this.workloads.forEach((workload, i) => {
        const { cpuMillis, memoryBytes } = workload.resources
        if (cpu + cpuMillis > capacity.cpuMillis || memory + memoryBytes > capacity.memoryBytes) return
        const roomy = rooms[i] as Set<number>
        roomy.add(node.shard)
        roomy.add((node.shard - 1 + this.shards) % this.shards)
      })
    }
    return rooms
  }
}

import type { SlotPromise } from '../node-state.js'
import { fits, loadOf } from './capacity.js'
import type { ClaimIndex } from './claim-index.js'
import { partitionPoint } from './compare.js'
import { hash53 } from './hash.js'
import { type NodeLoad, prefers } from './rank.js'
import { refuses } from './refusals.js'
import { ringStart } from './ring.js'
import { decides, shardAt, shardEnd } from './shards.js'
import { slotPosition } from './slots.js'
import { judge, type SlotStanding } from './standing.js'
import { type PlacementNode, slotKey } from './types.js'
import { isClaimant, rankClaims } from './winners.js'
import { type WorkloadInfo, welcomes } from './workloads.js'

/** A claimant of a slot, with its node. */
export interface LocalClaim {
  nodeId: string
  node: PlacementNode
  promise: SlotPromise
}

/** One replicated slot as the claims for it stand (rule 2, rule 7). */
export type LocalSlot = SlotStanding<LocalClaim>

/** What a node's claimant promises use, by its own published promises. */
interface Usage {
  cpu: number
  memory: number
  ports: Set<string>
  counts: Map<string, number>
}

/**
 * What one pass of a large cluster reads (docs/design.md, "Placement in large clusters"): the
 * claims of a slot, nodes' published usage, and the ring walk of a slot, each computed from the
 * index on demand and remembered for the pass.
 */
export class LocalView {
  readonly ring: { ids: string[]; positions: number[] }
  /** This node's ring shard (`shards.ts`); 0 with one shard. */
  readonly shard: number
  readonly #usage = new Map<string, Usage>()
  /** Own promises by slot key: two for a slot whose successor starts beside it (rule 8). */
  readonly #own = new Map<string, SlotPromise[]>()
  /** This node's index on the ring. */
  readonly #at: number

  constructor(
    readonly self: PlacementNode,
    readonly index: ClaimIndex,
    private readonly byName: ReadonlyMap<string, WorkloadInfo>,
    ownPromises: readonly SlotPromise[],
    /** Ring shards: a slot is decided and held only by the nodes of its shard and the next. */
    readonly shards = 1,
  ) {
    this.ring = index.ringWith(self.id)
    this.#at = this.ring.ids.indexOf(self.id)
    this.shard = shardAt(hash53(self.id), shards)
    for (const promise of ownPromises) {
      const key = slotKey(promise.workload, promise.slot)
      this.#own.set(key, [...(this.#own.get(key) ?? []), promise])
    }
  }

  /** The ring shard of a slot. */
  slotShard(workload: WorkloadInfo, slot: number): number {
    return shardAt(slotPosition(workload.name, slot), this.shards)
  }

  /** Whether a node is in this node's ring shard (always, with one shard). */
  sameShard(id: string): boolean {
    return this.shards <= 1 || shardAt(hash53(id), this.shards) === this.shard
  }

  /** Whether this node may decide and hold the slot: it lies in this node's shard or the one before. */
  decides(workload: WorkloadInfo, slot: number): boolean {
    return this.shards <= 1 || decides(this.shard, this.slotShard(workload, slot), this.shards)
  }

  node(id: string): PlacementNode | undefined {
    return id === this.self.id ? this.self : this.index.get(id)
  }

  slot(workload: WorkloadInfo, slot: number): LocalSlot {
    const key = slotKey(workload.name, slot)
    const claims: LocalClaim[] = []
    for (const { nodeId, promise } of this.index.promisesFor(workload.name, slot)) {
      const node = this.index.get(nodeId)
      if (node !== undefined && nodeId !== this.self.id && isClaimant(promise))
        claims.push({ nodeId, node, promise })
    }
    for (const own of this.#own.get(key) ?? [])
      if (isClaimant(own)) claims.push({ nodeId: this.self.id, node: this.self, promise: own })
    claims.sort(rankClaims)
    // One claim per node and generation: a node publishes two only for an old generation and its successor.
    const seen = new Set<string>()
    const unique = claims.filter((claim) => {
      const id = `${claim.nodeId}\u0000${claim.promise.generation}`
      return !seen.has(id) && seen.add(id)
    })
    const state: LocalSlot = { key, slot, claims: unique }
    judge(state, (claim) => claim.node, workload)
    return state
  }

  /** Whether the node may take a new slot of the workload and, by what it publishes, has room. */
  candidate(node: PlacementNode, workload: WorkloadInfo): boolean {
    if (!welcomes(node, workload) || refuses(node, workload)) return false
    return fits(node.capacity, this.usage(node), workload)
  }

  usage(node: PlacementNode): Usage {
    let usage = this.#usage.get(node.id)
    if (usage === undefined) {
      usage = { cpu: 0, memory: 0, ports: new Set(), counts: new Map() }
      // The promises counted, to count one (slot, generation) once: compared in place, as a node
      // holds few, rather than each made into a key (a tenth of a pass at 1000 simulated nodes).
      const counted: SlotPromise[] = []
      for (const promise of node.promises) {
        const workload = this.byName.get(promise.workload)
        if (workload === undefined || !isClaimant(promise) || counted.some((c) => sameSlot(c, promise)))
          continue
        counted.push(promise)
        usage.cpu += workload.cpuMillis
        usage.memory += workload.memoryBytes
        for (const port of workload.hostPorts) usage.ports.add(port)
        usage.counts.set(workload.name, (usage.counts.get(workload.name) ?? 0) + 1)
      }
      this.#usage.set(node.id, usage)
    }
    return usage
  }

  /**
   * The node a free slot goes to: the best of the first `candidates` candidate nodes on its ring
   * walk (fewer replicas of the workload, then lower load, then hash), skipping `except`. With
   * shards the walk keeps to the slot's shard and the next: past them it goes on from the first
   * node of the slot's shard up to the slot, so every node that may hold the slot is on it.
   */
  walk(workload: WorkloadInfo, slot: number, candidates: number, except?: string): string | undefined {
    const { ids, positions } = this.ring
    const position = slotPosition(workload.name, slot)
    const start = ringStart(positions, position)
    let best: PlacementNode | undefined
    let taken = 0
    const visit = (at: number) => {
      const id = ids[at] as string
      const node = this.node(id)
      if (node === undefined || id === except || !this.candidate(node, workload)) return
      taken++
      if (best === undefined || this.#better(node, best, workload, slot)) best = node
    }
    if (this.shards <= 1) {
      for (let step = 0; step < ids.length && taken < candidates; step++) visit((start + step) % ids.length)
      return best?.id
    }
    const home = shardAt(position, this.shards)
    let at = start
    for (let step = 0; step < ids.length && taken < candidates; step++) {
      // Ring order is shard order: the first node past the slot's two shards ends this part.
      if (!decides(this.shardAtIndex(at), home, this.shards)) break
      visit(at)
      at = (at + 1) % ids.length
      if (at === start) return best?.id
    }
    for (let i = this.#firstOfShard(home); i !== start && taken < candidates; i = (i + 1) % ids.length) {
      if (i === ids.length || this.shardAtIndex(i) !== home) break
      visit(i)
    }
    return best?.id
  }

  /**
   * With shards, the slots of this node's shard that lie after it and whose walk may still come
   * round to it: when its shard's nodes before it and the next shard's hold fewer than
   * `candidates` candidates. Over-counts (the walk decides); undefined when there are none.
   */
  wrapArc(workload: WorkloadInfo, candidates: number): { after: number; upTo: number } | undefined {
    if (this.shards <= 2 || !this.candidate(this.self, workload)) return undefined
    const { ids, positions } = this.ring
    const at = this.#at
    const next = (this.shard + 1) % this.shards
    let found = 0
    for (let i = this.#firstOfShard(next); i < ids.length && found < candidates; i++) {
      if (this.shardAtIndex(i) !== next) break
      found += this.#counts(i, workload)
    }
    for (let i = this.#firstOfShard(this.shard); i < at && found < candidates; i++)
      found += this.#counts(i, workload)
    if (found >= candidates) return undefined
    return { after: positions[at] as number, upTo: shardEnd(this.shard, this.shards) }
  }

  #counts(i: number, workload: WorkloadInfo): number {
    const node = this.node(this.ring.ids[i] as string)
    return node !== undefined && this.candidate(node, workload) ? 1 : 0
  }

  /** The ring shard of the node at index `i` of the ring. */
  shardAtIndex(i: number): number {
    return shardAt(this.ring.positions[i] as number, this.shards)
  }

  /** The index of the first node of a shard on the ring; the ring's length when none is there or after. */
  #firstOfShard(shard: number): number {
    const { positions } = this.ring
    return partitionPoint(positions.length, (i) => shardAt(positions[i] as number, this.shards) < shard)
  }

  /**
   * The ring positions of the slots whose walk takes this node among its first `candidates`
   * candidates: after the `candidates`-th candidate before it (or the last node before this
   * node's two shards), up to itself. Undefined when it is no candidate; the whole ring when there
   * are too few others. With shards, the caller keeps only the slots it `decides`.
   */
  arc(workload: WorkloadInfo, candidates: number): { after: number; upTo: number } | 'all' | undefined {
    if (!this.candidate(this.self, workload)) return undefined
    return this.#arcBefore(candidates, (node) => this.candidate(node, workload))
  }

  /** The slots whose walk starts at this node: those it reports unschedulable. */
  homeArc(): { after: number; upTo: number } | 'all' {
    return this.#arcBefore(1, () => true)
  }

  #arcBefore(count: number, counts: (node: PlacementNode) => boolean) {
    const { ids, positions } = this.ring
    const at = this.#at
    let found = 0
    for (let step = 1; step < ids.length; step++) {
      const i = (at - step + ids.length) % ids.length
      if (this.shards > 1 && !decides(this.shard, shardAt(positions[i] as number, this.shards), this.shards))
        return { after: positions[i] as number, upTo: positions[at] as number }
      const node = this.node(ids[i] as string)
      if (node === undefined || !counts(node)) continue
      if (++found === count) return { after: positions[i] as number, upTo: positions[at] as number }
    }
    return 'all'
  }

  #better(a: PlacementNode, b: PlacementNode, workload: WorkloadInfo, slot: number): boolean {
    return prefers(workload.name, slot, this.#loadOf(a, workload), this.#loadOf(b, workload))
  }

  #loadOf(node: PlacementNode, workload: WorkloadInfo): NodeLoad {
    const usage = this.usage(node)
    return {
      id: node.id,
      replicas: usage.counts.get(workload.name) ?? 0,
      load: loadOf(node.capacity, usage.cpu, usage.memory),
    }
  }
}

/** Two promises of one slot at one generation. */
const sameSlot = (a: SlotPromise, b: SlotPromise): boolean =>
  a.slot === b.slot && a.workload === b.workload && a.generation === b.generation

/** Slot positions on the ring per (workload, replicas), sorted; a pure function's memo. */
const sortedSlots = new Map<string, { positions: Float64Array; slots: Int32Array }>()
const MAX_MEMO = 256

/** The workload's slots whose ring position lies in the arc, in ring order. */
export function slotsIn(workload: WorkloadInfo, arc: { after: number; upTo: number } | 'all'): number[] {
  const { positions, slots } = sorted(workload.name, workload.replicas)
  if (arc === 'all') return Array.from(slots)
  const out: number[] = []
  const take = (from: number, to: number) => {
    // Positions in (from, to].
    let i = upperBound(positions, from)
    while (i < positions.length && (positions[i] as number) <= to) out.push(slots[i++] as number)
  }
  if (arc.after < arc.upTo) take(arc.after, arc.upTo)
  else {
    take(arc.after, Number.POSITIVE_INFINITY)
    take(Number.NEGATIVE_INFINITY, arc.upTo)
  }
  return out
}

function sorted(name: string, replicas: number) {
  const key = `${name}\u0000${replicas}`
  let entry = sortedSlots.get(key)
  if (entry === undefined) {
    const order = Array.from({ length: replicas }, (_, slot) => ({
      slot,
      position: slotPosition(name, slot),
    }))
    order.sort((a, b) => a.position - b.position || a.slot - b.slot)
    entry = {
      positions: Float64Array.from(order, (o) => o.position),
      slots: Int32Array.from(order, (o) => o.slot),
    }
    if (sortedSlots.size >= MAX_MEMO) sortedSlots.clear()
    sortedSlots.set(key, entry)
  }
  return entry
}

/** The first index whose value is greater than `value`. */
const upperBound = (values: Float64Array, value: number): number =>
  partitionPoint(values.length, (i) => (values[i] as number) <= value)

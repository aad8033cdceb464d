import type { Ledger } from './ledger.js'
import { type NodeLoad, prefers } from './rank.js'
import { type Ring, ringStart, Survivors } from './ring.js'
import { slotPosition } from './slots.js'
import type { WorkloadInfo } from './workloads.js'

/**
 * Places the slots of one workload on its eligible nodes (rule 4), one slot at a time, in the
 * order the caller asks. A slot whose named volume an eligible node with room holds goes there
 * (the first such node by id), so that a slot free again finds its data. Otherwise, among nodes
 * with room it prefers fewer replicas of the workload, then a lower load, then the smaller hash
 * of (workload, slot, node).
 *
 * Small sets of eligible nodes are searched whole. Larger ones sit on a hash ring: a slot walks
 * clockwise from the hash of `workload/slot` and takes the best of the first `candidates` nodes
 * with room (power of d choices). A node found without room for this workload is dropped from its
 * ring for the rest of the pass, since reservations only grow; so each slot costs a binary search
 * plus about `candidates` steps, and a full ring is known full at once.
 */
export class Placer {
  private readonly positions: number[]
  private readonly survivors: Survivors
  private readonly exhaustive: boolean
  private readonly allowed: ReadonlySet<number>

  constructor(
    private readonly workload: WorkloadInfo,
    /** Eligible node indices, in ring order. */
    private readonly eligible: readonly number[],
    ring: Ring,
    private readonly ids: readonly string[],
    private readonly ledger: Ledger,
    private readonly candidates: number,
    considerAllUpTo: number,
    /** The nodes holding a named volume of a slot, in id order; absent: the workload keeps no data. */
    private readonly holdersOf?: (slot: number) => readonly number[],
  ) {
    const allowed = new Set(eligible)
    this.allowed = allowed
    this.positions = []
    ring.order.forEach((node, i) => {
      if (allowed.has(node)) this.positions.push(ring.positions[i] ?? 0)
    })
    this.survivors = new Survivors(eligible.length)
    this.exhaustive = eligible.length <= Math.max(candidates, considerAllUpTo)
  }

  /** The node for the slot, already reserved in the ledger; undefined when no node has room. */
  place(slot: number): number | undefined {
    const chosen = this.holder(slot) ?? (this.exhaustive ? this.searchAll(slot) : this.searchRing(slot))
    if (chosen !== undefined) this.ledger.reserve(chosen, this.workload)
    return chosen
  }

  private holder(slot: number): number | undefined {
    for (const node of this.holdersOf?.(slot) ?? [])
      if (this.allowed.has(node) && this.ledger.fits(node, this.workload)) return node
    return undefined
  }

  private searchAll(slot: number): number | undefined {
    let best: number | undefined
    for (let i = 0; i < this.eligible.length; i++) {
      if (!this.survivors.isAlive(i)) continue
      const node = this.eligible[i] as number
      if (!this.ledger.fits(node, this.workload)) {
        this.survivors.remove(i)
        continue
      }
      if (best === undefined || this.better(node, best, slot)) best = node
    }
    return best
  }

  private searchRing(slot: number): number | undefined {
    const size = this.eligible.length
    const wanted = Math.max(1, this.candidates)
    let position = ringStart(this.positions, slotPosition(this.workload.name, slot))
    let first = -1
    let taken = 0
    let best: number | undefined
    while (taken < wanted) {
      const i = this.survivors.find(position)
      if (i === -1 || i === first) break
      const node = this.eligible[i] as number
      if (!this.ledger.fits(node, this.workload)) {
        this.survivors.remove(i)
        continue
      }
      if (first === -1) first = i
      taken++
      if (best === undefined || this.better(node, best, slot)) best = node
      position = (i + 1) % size
    }
    return best
  }

  private better(a: number, b: number, slot: number): boolean {
    return prefers(this.workload.name, slot, this.loadOf(a), this.loadOf(b))
  }

  private loadOf(node: number): NodeLoad {
    return {
      id: this.ids[node] as string,
      replicas: this.ledger.count(node, this.workload.name),
      load: this.ledger.load(node),
    }
  }
}

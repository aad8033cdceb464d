import { partitionPoint } from './compare.js'
import { hash53 } from './hash.js'

/** Node indices in ring order: by hash of the node id, then id. */
export interface Ring {
  order: number[]
  positions: number[]
}

export function buildRing(ids: readonly string[]): Ring {
  const entries = ids.map((id, index) => ({ index, id, position: hash53(id) }))
  entries.sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return { order: entries.map((e) => e.index), positions: entries.map((e) => e.position) }
}

/** The first index whose position is at least `position`, wrapping to 0 past the end. */
export function ringStart(positions: readonly number[], position: number): number {
  const at = partitionPoint(positions.length, (i) => (positions[i] ?? 0) < position)
  return at === positions.length ? 0 : at
}

/**
 * Ring members still in the running, with removals for good: a member removed is skipped by
 * every later walk in near constant time (pointer jumping with path compression), so a walk over
 * a nearly full ring does not cost the whole ring each time.
 */
export class Survivors {
  private readonly next: Int32Array
  private readonly removed: Uint8Array
  private remaining: number

  constructor(readonly size: number) {
    this.next = new Int32Array(size)
    this.removed = new Uint8Array(size)
    this.remaining = size
  }

  get alive(): number {
    return this.remaining
  }

  isAlive(i: number): boolean {
    return this.removed[i] === 0
  }

  remove(i: number): void {
    if (this.removed[i] === 1) return
    this.removed[i] = 1
    this.next[i] = (i + 1) % this.size
    this.remaining--
  }

  /** The first member still alive at or after `i`, going round; -1 when none is. */
  find(i: number): number {
    if (this.remaining === 0) return -1
    let root = i
    while (this.removed[root] === 1) root = this.next[root] ?? 0
    while (this.removed[i] === 1) {
      const after = this.next[i] ?? 0
      this.next[i] = root
      i = after
    }
    return root
  }
}

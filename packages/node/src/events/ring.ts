import { type ClusterEvent, type EventRecord, HLC_ZERO, type Hlc, hlcTick } from '@gary/protocol'

/** Which events a reader wants. */
export interface EventFilter {
  /** Recorded at or after this wall time, ms. */
  sinceWall?: number
  workload?: string
  /** Recorded by this node, or about it (the member seen, or whose slot a claim took over). */
  node?: string
}

export function eventMatches(event: ClusterEvent, filter: EventFilter): boolean {
  if (filter.sinceWall !== undefined && event.at.wall < filter.sinceWall) return false
  if (filter.workload !== undefined && event.workload !== filter.workload) return false
  if (filter.node !== undefined && event.node !== filter.node && event.member !== filter.node) {
    // A claim that takes over the node's slot is about it too.
    const because = event.because
    if (because === undefined || !('of' in because) || because.of !== filter.node) return false
  }
  return true
}

export interface EventRingInit {
  /** Events kept; the oldest go first. Default 10,000 (about 3 MB). */
  capacity?: number
}

export interface EventRingComponents {
  /** This node's peer id: every event it records is its own. */
  self: string
  wallNow: () => number
}

/**
 * This node's own events, newest kept: what it did and what it saw, numbered and stamped with a
 * hybrid logical clock as they are recorded. Readers may follow new events as they come.
 */
export class EventRing {
  readonly #capacity: number
  readonly #events: ClusterEvent[] = []
  /** Index of the oldest event once the ring is full. */
  #head = 0
  #seq = 0
  #hlc: Hlc = HLC_ZERO
  readonly #listeners = new Set<(event: ClusterEvent) => void>()

  constructor(
    init: EventRingInit,
    private readonly components: EventRingComponents,
  ) {
    this.#capacity = Math.max(1, init.capacity ?? 10_000)
  }

  get capacity(): number {
    return this.#capacity
  }

  record(record: EventRecord): ClusterEvent {
    this.#hlc = hlcTick(this.#hlc, this.components.wallNow())
    const event: ClusterEvent = { node: this.components.self, seq: ++this.#seq, at: this.#hlc, ...record }
    if (this.#events.length < this.#capacity) this.#events.push(event)
    else {
      this.#events[this.#head] = event
      this.#head = (this.#head + 1) % this.#capacity
    }
    for (const listener of this.#listeners) listener(event)
    return event
  }

  /** The newest `limit` events that match, oldest first. */
  list(filter: EventFilter, limit = this.#capacity): ClusterEvent[] {
    const picked: ClusterEvent[] = []
    const size = this.#events.length
    for (let i = size - 1; i >= 0 && picked.length < limit; i--) {
      const event = this.#events[(this.#head + i) % size] as ClusterEvent
      if (eventMatches(event, filter)) picked.push(event)
    }
    return picked.reverse()
  }

  /** Calls `listener` with every event recorded from now on, until the returned function is called. */
  subscribe(listener: (event: ClusterEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

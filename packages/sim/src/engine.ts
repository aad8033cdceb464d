import type { Clock } from '@gary/node/reconcile'

/** A scheduled event: set `cancelled` and it does not run. */
export interface SimEvent {
  cancelled: boolean
}

/** Wall time at virtual time 0. */
const EPOCH_MS = 1_800_000_000_000

interface Event {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
  /** Starts no promise chain: the engine need not wait for one after it. */
  sync: boolean
}

/**
 * A discrete-event engine on a virtual clock. Events run in (time, insertion) order; after each
 * one, every promise chain it started runs to its end before time moves, so the async code under
 * test (the reconcile loop, the fake runtime) sees only virtual time.
 */
export class Engine {
  #now = 0
  #seq = 0
  readonly #heap: Event[] = []

  get now(): number {
    return this.#now
  }

  /**
   * Schedules `fn` at `time`. A `sync` event (a message delivery, a heartbeat) starts no promise
   * chain, so the engine runs the next event without a macrotask turn: that turn cost more than
   * the simulated work itself.
   */
  at(time: number, fn: () => void, sync = false): SimEvent {
    const event = { at: Math.max(time, this.#now), seq: this.#seq++, fn, cancelled: false, sync }
    this.#push(event)
    return event
  }

  after(ms: number, fn: () => void, sync = false): SimEvent {
    return this.at(this.#now + ms, fn, sync)
  }

  /** Runs events until `until` (virtual ms) or until `stop` says so after an event. */
  async run(until: number, stop: () => boolean = () => false): Promise<void> {
    while (this.#heap.length > 0 && (this.#heap[0] as Event).at <= until) {
      const event = this.#pop()
      if (event.cancelled) continue
      this.#now = event.at
      event.fn()
      if (!event.sync) await settle()
      if (stop()) return
    }
    this.#now = Math.max(this.#now, until)
  }

  /**
   * A node's clock: virtual monotonic time, and wall time offset by `skewMs`. `sync`: its timers
   * start no promise chain (the agents', whose port answers by callback).
   */
  clock(skewMs = 0, sync = false): Clock {
    return {
      now: () => this.#now,
      wallNow: () => EPOCH_MS + this.#now + skewMs,
      setTimeout: (fn, ms) => this.after(ms, fn, sync),
      clearTimeout: (handle) => {
        if (handle !== undefined && handle !== null) (handle as Event).cancelled = true
      },
    }
  }

  #push(event: Event): void {
    const heap = this.#heap
    heap.push(event)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(event, heap[parent] as Event)) break
      heap[i] = heap[parent] as Event
      i = parent
    }
    heap[i] = event
  }

  #pop(): Event {
    const heap = this.#heap
    const top = heap[0] as Event
    const last = heap.pop() as Event
    if (heap.length > 0) {
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        if (left >= heap.length) break
        const right = left + 1
        const child = right < heap.length && before(heap[right] as Event, heap[left] as Event) ? right : left
        if (!before(heap[child] as Event, last)) break
        heap[i] = heap[child] as Event
        i = child
      }
      heap[i] = last
    }
    return top
  }
}

const before = (a: Event, b: Event) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

/** Lets every pending promise chain run: a macrotask turn comes after all microtasks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

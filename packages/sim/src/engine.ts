import type { Clock } from '@gary/node/reconcile'

/** A scheduled event: set `cancelled` and it does not run. */
export interface SimEvent {
  cancelled: boolean
}

/** Wall time at virtual time 0. */
const EPOCH_MS = 1_800_000_000_000

interface Event {
  fn: () => void
  cancelled: boolean
  /** Starts no promise chain: the engine need not wait for one after it. */
  sync: boolean
}

/**
 * A discrete-event engine on a virtual clock. Events run in (time, insertion) order; after each
 * one, every promise chain it started runs to its end before time moves, so the async code under
 * test (the reconcile loop, the fake runtime) sees only virtual time.
 *
 * The heap keeps each event's time and insertion number in typed arrays beside it: a heap of a
 * few million events (10,000 nodes) compared through the event objects, scattered over the
 * heap, waited on memory at each step of a push and a pop.
 */
export class Engine {
  #now = 0
  #seq = 0
  #size = 0
  #ats = new Float64Array(1024)
  #seqs = new Float64Array(1024)
  #events: (Event | undefined)[] = new Array(1024)

  get now(): number {
    return this.#now
  }

  /**
   * Schedules `fn` at `time`. A `sync` event (a message delivery, a heartbeat) starts no promise
   * chain, so the engine runs the next event without a macrotask turn: that turn cost more than
   * the simulated work itself.
   */
  at(time: number, fn: () => void, sync = false): SimEvent {
    const event: Event = { fn, cancelled: false, sync }
    this.#push(Math.max(time, this.#now), this.#seq++, event)
    return event
  }

  after(ms: number, fn: () => void, sync = false): SimEvent {
    return this.at(this.#now + ms, fn, sync)
  }

  /** Runs events until `until` (virtual ms) or until `stop` says so after an event. */
  async run(until: number, stop: () => boolean = () => false): Promise<void> {
    while (this.#size > 0 && (this.#ats[0] as number) <= until) {
      const at = this.#ats[0] as number
      const event = this.#pop()
      if (event.cancelled) continue
      this.#now = at
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

  #push(at: number, seq: number, event: Event): void {
    if (this.#size === this.#ats.length) this.#grow()
    const ats = this.#ats
    const seqs = this.#seqs
    const events = this.#events
    let i = this.#size++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const parentAt = ats[parent] as number
      if (!(at < parentAt || (at === parentAt && seq < (seqs[parent] as number)))) break
      ats[i] = parentAt
      seqs[i] = seqs[parent] as number
      events[i] = events[parent]
      i = parent
    }
    ats[i] = at
    seqs[i] = seq
    events[i] = event
  }

  #pop(): Event {
    const ats = this.#ats
    const seqs = this.#seqs
    const events = this.#events
    const top = events[0] as Event
    const size = --this.#size
    const at = ats[size] as number
    const seq = seqs[size] as number
    const last = events[size]
    events[size] = undefined
    if (size > 0) {
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        if (left >= size) break
        const right = left + 1
        let child = left
        if (right < size) {
          const rightAt = ats[right] as number
          const leftAt = ats[left] as number
          if (rightAt < leftAt || (rightAt === leftAt && (seqs[right] as number) < (seqs[left] as number)))
            child = right
        }
        const childAt = ats[child] as number
        if (!(childAt < at || (childAt === at && (seqs[child] as number) < seq))) break
        ats[i] = childAt
        seqs[i] = seqs[child] as number
        events[i] = events[child]
        i = child
      }
      ats[i] = at
      seqs[i] = seq
      events[i] = last
    }
    return top
  }

  #grow(): void {
    const ats = new Float64Array(this.#ats.length * 2)
    ats.set(this.#ats)
    const seqs = new Float64Array(this.#seqs.length * 2)
    seqs.set(this.#seqs)
    this.#ats = ats
    this.#seqs = seqs
    this.#events.length = ats.length
  }
}

/** Lets every pending promise chain run: a macrotask turn comes after all microtasks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

import type { Clock } from '../clock/clock.js'

interface Scheduled {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

/** Wall time at virtual time 0. */
const EPOCH_MS = 1_800_000_000_000

/**
 * Virtual time for unit tests of the agents: nothing moves until the test steps it, and then
 * timers run in (time, order of scheduling) order, each seeing `now` at its own time.
 */
export class SteppedClock implements Clock {
  #now = 0
  #seq = 0
  #queue: Scheduled[] = []

  now = (): number => this.#now

  wallNow = (): number => EPOCH_MS + this.#now

  setTimeout = (fn: () => void, ms: number): unknown => this.at(this.#now + Math.max(0, ms), fn)

  clearTimeout = (handle: unknown): void => {
    if (handle !== undefined && handle !== null) (handle as Scheduled).cancelled = true
  }

  /** Runs `fn` at virtual time `at` (now, if past). */
  at(at: number, fn: () => void): { cancelled: boolean } {
    const event = { at: Math.max(at, this.#now), seq: this.#seq++, fn, cancelled: false }
    // Kept sorted: a test schedules few events.
    let i = this.#queue.length
    while (i > 0 && before(event, this.#queue[i - 1] as Scheduled)) i--
    this.#queue.splice(i, 0, event)
    return event
  }

  /**
   * The event loop is busy for `ms`: time moves and no timer runs; those due meanwhile fire late, at
   * the next `advance`.
   */
  stall(ms: number): void {
    this.#now += ms
  }

  /** Moves time forward by `ms`, running every timer due on the way. */
  advance(ms: number): void {
    this.runUntil(this.#now + ms)
  }

  /** Runs every timer due until `time`, then sets the clock to it. */
  runUntil(time: number): void {
    for (;;) {
      const next = this.#queue[0]
      if (next === undefined || next.at > time) break
      this.#queue.shift()
      if (next.cancelled) continue
      // After a `stall`, timers due during it fire late, at the time the stall ended.
      this.#now = Math.max(this.#now, next.at)
      next.fn()
    }
    this.#now = Math.max(this.#now, time)
  }
}

const before = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

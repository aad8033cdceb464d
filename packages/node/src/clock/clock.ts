/**
 * Time and timers, injected so that the simulator runs the reconcile loop and the membership and
 * declarations agents on a virtual clock, and unit tests on a stepped one.
 */
export interface Clock {
  /** Wall-clock ms since the epoch: claim timestamps, the settle delay, declaration versions. */
  wallNow(): number
  /** Monotonic ms: ages and timeouts. */
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemClock: Clock = {
  wallNow: () => Date.now(),
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms)
    // A pending timer (a settle, a restart, a report's jitter) must not keep a stopping process alive.
    timer.unref()
    return timer
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/** Time and timers, injected so that the simulator can run the reconcile loop on a virtual clock. */
export interface Clock {
  /** Wall-clock ms since the epoch: claim timestamps and the settle delay. */
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
    // A pending settle or restart timer must not keep a stopping process alive.
    timer.unref()
    return timer
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

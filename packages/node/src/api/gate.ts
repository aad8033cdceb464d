/** A request the gate turned away: too many were already waiting. */
export class GateFullError extends Error {
  override name = 'GateFullError'
}

/**
 * Bounds work in progress: at most `limit` holders at once, at most `queue` waiting in order;
 * beyond that, `acquire` refuses at once, so that a burst of requests costs the event loop a
 * bounded amount and the rest are told to come back (200 parallel applies on one node made its
 * peers' heartbeats late enough to count healthy nodes suspect).
 */
export class Gate {
  #active = 0
  readonly #waiting: { resolve: () => void; reject: (err: Error) => void }[] = []

  constructor(
    readonly limit: number,
    readonly queue: number,
  ) {}

  get active(): number {
    return this.#active
  }

  /** Resolves with a release function once admitted; rejects with GateFullError, or the signal's reason. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#active < this.limit) {
      this.#active++
      return Promise.resolve(this.#releaser())
    }
    if (this.#waiting.length >= this.queue)
      return Promise.reject(new GateFullError('too many requests waiting'))
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve(this.#releaser())
        },
        reject,
      }
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter)
        if (at !== -1) this.#waiting.splice(at, 1)
        reject(signal?.reason as Error)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(waiter)
    })
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      // The slot passes straight to the next waiter: the count stays.
      if (next !== undefined) next.resolve()
      else this.#active--
    }
  }
}

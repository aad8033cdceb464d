/**
 * Rule 10's input: whether this node sees fewer than half of the members it saw recently, and
 * for how long it has. `recent` counts members heard from within the window, this node included;
 * `live` counts those alive now.
 */
export class PartialView {
  #since: number | undefined

  observe(live: number, recent: number, now: number): { partial: boolean; forMs: number } {
    const partial = live * 2 < recent
    if (!partial) this.#since = undefined
    else this.#since ??= now
    return { partial, forMs: partial ? now - (this.#since ?? now) : 0 }
  }
}

/**
 * When a peer's digest has differed from this node's long enough to sync with it: per peer, the
 * mismatch must have lasted `afterMs` (gossip in flight heals most), and at most one sync starts
 * per `afterMs` whatever the peer.
 */
export class MismatchTrigger {
  readonly #since = new Map<string, number>()
  #lastAt = Number.NEGATIVE_INFINITY

  constructor(private readonly afterMs: number) {}

  /** Looks at one peer's latest digest; returns true when a sync with it should start now. */
  check(peer: string, same: boolean, now: number): boolean {
    if (same) {
      this.#since.delete(peer)
      return false
    }
    const since = this.#since.get(peer) ?? now
    this.#since.set(peer, since)
    if (now - since < this.afterMs || now - this.#lastAt < this.afterMs) return false
    this.#lastAt = now
    return true
  }

  /** The peer is gone: its mismatch no longer counts. */
  forget(peer: string): void {
    this.#since.delete(peer)
  }
}

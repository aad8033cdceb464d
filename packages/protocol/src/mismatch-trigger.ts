/**
 * When a peer's digest has differed from this node's long enough to sync with it: per peer, the
 * mismatch must have lasted `afterMs` (gossip in flight heals most), unless the check is eager;
 * and at most one sync starts per `afterMs`, whatever the peer (`'node'`, member sync) or per peer
 * (`'peer'`, declaration anti-entropy).
 */
export class MismatchTrigger {
  readonly #since = new Map<string, number>()
  readonly #lastAt = new Map<string, number>()

  constructor(
    private readonly afterMs: number,
    private readonly per: 'node' | 'peer' = 'node',
  ) {}

  /**
   * Looks at one peer's latest digest; returns true when a sync with it should start now. Eager:
   * at the first mismatch (a node that has not yet caught up with anyone).
   */
  check(peer: string, same: boolean, now: number, eager = false): boolean {
    if (same) {
      this.#since.delete(peer)
      return false
    }
    const since = this.#since.get(peer) ?? now
    this.#since.set(peer, since)
    if (!eager && now - since < this.afterMs) return false
    const key = this.per === 'peer' ? peer : ''
    if (now - (this.#lastAt.get(key) ?? Number.NEGATIVE_INFINITY) < this.afterMs) return false
    this.#lastAt.set(key, now)
    return true
  }

  /** The peer is gone: its mismatch no longer counts. */
  forget(peer: string): void {
    this.#since.delete(peer)
  }
}

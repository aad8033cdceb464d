import type { Heartbeat } from '@gary/protocol'

/**
 * Short beats on the heartbeat links (1.1.0): between full heartbeats nothing in the frame but the
 * sender's clock moves, so a 2-byte short beat stands for "my last full heartbeat to you holds".
 * A full one goes first on every stream, on any change, with every roll call, and at least every
 * `fullEveryMs` (its clock feeds the bound on clock offset).
 */
export class ShortBeats {
  /** Per peer, what the last full heartbeat sent said (less the clock), and when (monotonic). */
  readonly #sent = new Map<string, { said: string; at: number }>()
  /** Per peer, the last full heartbeat heard from it, and when (monotonic). */
  readonly #heard = new Map<string, { beat: Heartbeat; at: number }>()

  constructor(private readonly fullEveryMs: number) {}

  /** Whether `beat` to `peer` may go as a short beat; if not, it goes full and is remembered. */
  shorten(peer: string, beat: Heartbeat, mayShorten: boolean, now: number): boolean {
    const said = `${beat.incarnation} ${beat.seq} ${beat.members} ${beat.decls}`
    const last = this.#sent.get(peer)
    if (mayShorten && beat.ask !== true && last?.said === said && now - last.at < this.fullEveryMs)
      return true
    this.#sent.set(peer, { said, at: now })
    return false
  }

  /** A full heartbeat heard from `peer`. */
  heardFull(peer: string, beat: Heartbeat, now: number): void {
    const { ask: _ask, ...held } = beat
    this.#heard.set(peer, { beat: held, at: now })
  }

  /** What a short beat from `peer` stands for: its last full one, clock advanced; none before a full one. */
  expand(peer: string, now: number): Heartbeat | undefined {
    const last = this.#heard.get(peer)
    return last === undefined ? undefined : { ...last.beat, wall: last.beat.wall + (now - last.at) }
  }

  /** The peer's connections are gone: its next stream starts with a full heartbeat. */
  forget(peer: string): void {
    this.#sent.delete(peer)
    this.#heard.delete(peer)
  }
}

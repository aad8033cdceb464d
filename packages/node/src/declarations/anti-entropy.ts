import type { MemberTable } from '@gary/protocol'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../logger.js'
import type { Declarations } from './declarations.js'

/** How long a peer's declaration digest may differ from ours before we pull its set. */
const GRACE_MS = 1000

/**
 * Heals declarations: pulls a peer's whole set when its heartbeat shows a digest that has
 * differed from ours for longer than gossip takes to deliver a write. Until this node has once
 * agreed with a peer (just started, or restarted after missing writes) it pulls at the first
 * mismatch. A normal apply costs no sync; a lost message or a partition heals.
 */
export class AntiEntropy {
  readonly #mismatchSince = new Map<string, number>()
  readonly #lastSyncAt = new Map<string, number>()
  #caughtUp = false

  constructor(
    private readonly declarations: Declarations,
    private readonly members: MemberTable,
    private readonly logger: Logger,
  ) {}

  /** Looks at a peer's latest declaration digest (called on each of its heartbeats). */
  check(peer: string, now: number): void {
    const theirs = this.members.get(peer)?.declDigest
    if (theirs === undefined || theirs === this.declarations.digest) {
      this.#mismatchSince.delete(peer)
      if (theirs !== undefined) this.#caughtUp = true
      return
    }
    const since = this.#mismatchSince.get(peer) ?? now
    this.#mismatchSince.set(peer, since)
    if (this.#caughtUp && now - since < GRACE_MS) return
    if (now - (this.#lastSyncAt.get(peer) ?? Number.NEGATIVE_INFINITY) < GRACE_MS) return
    this.#lastSyncAt.set(peer, now)
    this.declarations
      .syncFrom(peerIdFromString(peer))
      .then(() => {
        this.#caughtUp = true
      })
      .catch((err: Error) => this.logger.debug({ member: peer, err: err.message }, 'declaration sync failed'))
  }
}

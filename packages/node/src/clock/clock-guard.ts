import { type ClockVerdict, formatOffset, type Hlc, hlcReceive, PeerClocks } from '@gary/protocol'
import type { Logger } from '../logger.js'

export interface ClockGuardInit {
  /** A peer's timestamp more than this ahead of the local clock is refused, and a node this far from most of its peers refuses writes, ms. */
  maxOffsetMs: number
}

export interface ClockGuardComponents {
  logger: Logger
  /** Wall-clock ms: what timestamps and peers' heartbeats are compared with. */
  wallNow: () => number
  /** Monotonic ms. */
  now: () => number
}

/** Where a timestamp came from, for the log line that refuses it. */
export interface TimestampSource {
  /** The peer that sent it; absent when it was read from the data dir. */
  peer?: string
  workload?: string
  via: string
}

/** A refusal is said at warn once a minute per peer, and at debug in between (anti-entropy retries every second). */
const REPEAT_MS = 60_000

/**
 * The daemon's side of the clock offset bound (docs/design.md, "Clock offset"): it receives
 * timestamps through `hlcReceive` with the bound, logs what it refuses with the peer and the
 * offset, follows the peers' clocks from their heartbeats, and says loudly while this node's
 * clock is far from most of its peers', when it refuses writes.
 */
export class ClockGuard {
  readonly #clocks: PeerClocks
  readonly #warnedAt = new Map<string, number>()
  #far = false
  #saidAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly init: ClockGuardInit,
    private readonly components: ClockGuardComponents,
  ) {
    this.#clocks = new PeerClocks(init.maxOffsetMs)
  }

  /** The clock after a timestamp from `source`, or undefined (and logged) when it is too far ahead. */
  receive(last: Hlc, remote: Hlc, source: TimestampSource): Hlc | undefined {
    const received = hlcReceive(last, remote, this.components.wallNow(), this.init.maxOffsetMs)
    if (received.ok) return received.hlc
    const now = this.components.now()
    const key = source.peer ?? source.via
    const fields = {
      ...source,
      aheadMs: received.aheadMs,
      ahead: formatOffset(received.aheadMs),
      maxOffsetMs: this.init.maxOffsetMs,
    }
    if (now - (this.#warnedAt.get(key) ?? Number.NEGATIVE_INFINITY) < REPEAT_MS) {
      this.components.logger.debug(fields, 'refused a timestamp too far ahead')
      return undefined
    }
    if (this.#warnedAt.size > 1000) this.#warnedAt.clear()
    this.#warnedAt.set(key, now)
    this.components.logger.warn(fields, 'refused a timestamp too far ahead')
    return undefined
  }

  /** A heartbeat from `peer` carried its wall clock. */
  observe(peer: string, wall: number): void {
    const now = this.components.now()
    this.#clocks.observe(peer, wall, this.components.wallNow(), now)
    // The whole verdict (its median) only when it is said: while far, or as it changes.
    if (this.#clocks.far(now) || this.#far) this.#judge(now)
  }

  /** Why this node refuses writes now (one sentence), or undefined when it accepts them. */
  writesRefused(): string | undefined {
    const verdict = this.#judge(this.components.now())
    return verdict.far ? this.#sentence(verdict) : undefined
  }

  #judge(now: number): ClockVerdict {
    const verdict = this.#clocks.verdict(now)
    const fields = {
      medianOffsetMs: verdict.medianOffsetMs,
      peers: verdict.peers,
      off: verdict.off,
      maxOffsetMs: this.init.maxOffsetMs,
    }
    if (verdict.far && (!this.#far || now - this.#saidAt >= REPEAT_MS)) {
      this.#saidAt = now
      this.components.logger.error(
        { ...fields, reason: this.#sentence(verdict) },
        'clock far from peers: refusing writes',
      )
    } else if (!verdict.far && this.#far) {
      this.components.logger.info(fields, 'clock agrees with peers again: accepting writes')
    }
    this.#far = verdict.far
    return verdict
  }

  #sentence(verdict: ClockVerdict): string {
    // The median is the peers' offset from this node: peers ahead means this clock is behind.
    const median = verdict.medianOffsetMs ?? 0
    const direction = median < 0 ? 'ahead of' : 'behind'
    return `this node's clock is ${formatOffset(median)} ${direction} its peers' (the median of ${verdict.peers}; at most ${this.init.maxOffsetMs} ms is allowed): it refuses writes until its clock is fixed`
  }
}

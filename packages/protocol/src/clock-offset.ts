/**
 * The default bound on clock offsets, ms (`--max-clock-offset`). A peer's timestamp more than this
 * ahead of the local clock is refused, and a node more than this away from most of its peers
 * refuses writes. CockroachDB's default; NTP keeps servers within a few ms of each other, so only
 * a clock that is really wrong trips it, while a key holder can push clocks at most this far.
 */
export const DEFAULT_MAX_CLOCK_OFFSET_MS = 500

/** How long a peer's heartbeat clock readings count, ms. */
export const CLOCK_SAMPLE_WINDOW_MS = 10_000

/**
 * Readings a peer needs in the window before its clock counts: a daemon that has just started
 * handles its first heartbeats late (it spends about 0.45 s of CPU loading, more on a loaded
 * machine), and a lone late reading made a peer look 684 ms behind in a test.
 */
export const MIN_CLOCK_SAMPLES = 3

/** Readings kept per peer: a peer that floods heartbeats cannot make the table grow. */
const MAX_SAMPLES = 32

/** Readings kept in arrival order for `far`, at most (a window's at 50 heartbeats a second is 500). */
const MAX_ARRIVALS = 10_000

/** How this node's clock stands against its peers'. */
export interface ClockVerdict {
  /** Peers heard from within the window. */
  peers: number
  /** Of those, the peers whose clocks are more than the maximum offset from this node's. */
  off: number
  /** The median of the peers' offsets, ms (positive: peers ahead of this node); undefined with no peer. */
  medianOffsetMs: number | undefined
  /** More than half of the peers are more than the maximum offset away: this node's clock is wrong. */
  far: boolean
}

interface Sample {
  at: number
  offsetMs: number
}

/**
 * This node's clock against its peers', from the wall time each heartbeat carries. A reading
 * arrives late, never early, so it makes the peer look behind by the delay (network, and this
 * node's own event loop when it is busy): each peer's offset is the largest of its readings in the
 * last CLOCK_SAMPLE_WINDOW_MS, the one that waited least, as NTP keeps the sample of least delay,
 * and a peer counts once it has MIN_CLOCK_SAMPLES readings there.
 *
 * One peer cannot tell which of two clocks is wrong; most of them can. A node is far when more
 * than half of the peers it hears are more than the maximum offset away, as CockroachDB judges.
 * Pure: every input carries its time (`now` monotonic, `localWall` the wall clock).
 */
export class PeerClocks {
  readonly #samples = new Map<string, Sample[]>()
  /**
   * `far` kept as readings come and go rather than counted over every peer when asked: a node
   * asks on every heartbeat it receives (about 50 a second with fast detection), and counting was
   * a sixth of a simulated 1000-node deploy. Per peer its offset as counted in the tally; the
   * readings in arrival order (monotonic time), to find the peers whose oldest reading left the
   * window; the peers heard since the last count.
   */
  readonly #counted = new Map<string, number>()
  readonly #tally = { peers: 0, off: 0 }
  readonly #arrivals: { at: number; peer: string }[] = []
  #arrivalsHead = 0
  readonly #heard = new Set<string>()
  #countedAt = Number.NEGATIVE_INFINITY
  /** Time ran backwards (not a monotonic clock): the arrival order is not the time order; count again. */
  #recount = false

  constructor(
    readonly maxOffsetMs: number,
    readonly windowMs = CLOCK_SAMPLE_WINDOW_MS,
    readonly minSamples = MIN_CLOCK_SAMPLES,
  ) {}

  /** A heartbeat from `peer` said its clock read `remoteWall` when this node's read `localWall`. */
  observe(peer: string, remoteWall: number, localWall: number, now: number): void {
    const offsetMs = remoteWall - localWall
    if (!Number.isFinite(offsetMs)) return
    let samples = this.#samples.get(peer)
    if (samples === undefined) {
      samples = []
      this.#samples.set(peer, samples)
    }
    samples.push({ at: now, offsetMs })
    if (samples.length > MAX_SAMPLES) samples.shift()
    if (now < this.#countedAt || now < (this.#arrivals[this.#arrivals.length - 1]?.at ?? now))
      this.#recount = true
    if (this.#arrivals.length - this.#arrivalsHead >= MAX_ARRIVALS) {
      // Nobody asks for the verdict: a count from scratch, if one ever does, costs less than keeping them.
      this.#recount = true
      this.#arrivals.length = 0
      this.#arrivalsHead = 0
      this.#heard.clear()
    }
    if (!this.#recount) {
      this.#arrivals.push({ at: now, peer })
      this.#heard.add(peer)
    }
  }

  /**
   * The peer's offset (positive: it is ahead of this node), once it has been heard `minSamples`
   * times within the window.
   */
  offsetOf(peer: string, now: number): number | undefined {
    const samples = this.#samples.get(peer)
    if (samples === undefined) return undefined
    while (samples.length > 0 && now - samples[0]!.at > this.windowMs) samples.shift()
    if (samples.length === 0) this.#samples.delete(peer)
    if (samples.length < this.minSamples) return undefined
    let best = Number.NEGATIVE_INFINITY
    for (const sample of samples) if (sample.offsetMs > best) best = sample.offsetMs
    return best
  }

  /** `verdict(now).far`, from the tally. */
  far(now: number): boolean {
    if (this.#recount || now < this.#countedAt) {
      this.#recount = false
      this.#arrivals.length = 0
      this.#arrivalsHead = 0
      this.#heard.clear()
      this.#counted.clear()
      this.#tally.peers = 0
      this.#tally.off = 0
      for (const peer of [...this.#samples.keys()]) this.#count(peer, now)
      for (const [peer, samples] of this.#samples)
        for (const sample of samples) this.#arrivals.push({ at: sample.at, peer })
      this.#arrivals.sort((a, b) => a.at - b.at)
    }
    this.#countedAt = now
    const arrivals = this.#arrivals
    while (this.#arrivalsHead < arrivals.length && now - arrivals[this.#arrivalsHead]!.at > this.windowMs)
      this.#count(arrivals[this.#arrivalsHead++]!.peer, now)
    if (this.#arrivalsHead > 1024 && this.#arrivalsHead * 2 > arrivals.length) {
      arrivals.splice(0, this.#arrivalsHead)
      this.#arrivalsHead = 0
    }
    for (const peer of this.#heard) this.#count(peer, now)
    this.#heard.clear()
    return this.#tally.off * 2 > this.#tally.peers
  }

  /** Counts the peer's offset at `now` in the tally, in place of the one counted before. */
  #count(peer: string, now: number): void {
    const offset = this.offsetOf(peer, now)
    const before = this.#counted.get(peer)
    if (before === offset) return
    if (before !== undefined) {
      this.#tally.peers--
      if (Math.abs(before) > this.maxOffsetMs) this.#tally.off--
    }
    if (offset === undefined) this.#counted.delete(peer)
    else {
      this.#counted.set(peer, offset)
      this.#tally.peers++
      if (Math.abs(offset) > this.maxOffsetMs) this.#tally.off++
    }
  }

  verdict(now: number): ClockVerdict {
    const offsets: number[] = []
    for (const peer of [...this.#samples.keys()]) {
      const offset = this.offsetOf(peer, now)
      if (offset !== undefined) offsets.push(offset)
    }
    offsets.sort((a, b) => a - b)
    const off = offsets.filter((offset) => Math.abs(offset) > this.maxOffsetMs).length
    return {
      peers: offsets.length,
      off,
      medianOffsetMs: median(offsets),
      far: off * 2 > offsets.length,
    }
  }
}

function median(sorted: number[]): number | undefined {
  if (sorted.length === 0) return undefined
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A clock offset for people: `750 ms`, `42 s`, `3 min`, `5 h`, `365 days`. */
export function formatOffset(ms: number): string {
  const abs = Math.abs(ms)
  if (abs < 1000) return `${Math.round(abs)} ms`
  if (abs < 120_000) return `${Math.round(abs / 1000)} s`
  if (abs < 2 * 3_600_000) return `${Math.round(abs / 60_000)} min`
  if (abs < 2 * 86_400_000) return `${Math.round(abs / 3_600_000)} h`
  return `${Math.round(abs / 86_400_000)} days`
}

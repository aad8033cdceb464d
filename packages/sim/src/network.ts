import type { Engine } from './engine.js'
import type { Random } from './random.js'

export interface NetworkConfig {
  /** One-way latency of every link: `baseMs` plus a uniform draw in [0, `jitterMs`). */
  baseMs: number
  jitterMs: number
  /**
   * Share of packets lost, 0..1. Gary's links are TCP: a lost packet is sent again after the
   * retransmission timeout (200 ms, doubling each time), so loss delays a message rather than
   * dropping it; only a broken connection (a partition, a crash) drops messages.
   */
  loss: number
  /** Share of messages delivered twice, 0..1. */
  duplicate: number
  /** One-way latency of each link, ms, in place of `baseMs` and `jitterMs` (drawn from no random source). */
  latency?: (from: string, to: string) => number
}

/** TCP's minimum retransmission timeout on Linux. */
const RTO_MS = 200

export const LAN: NetworkConfig = { baseMs: 1, jitterMs: 4, loss: 0, duplicate: 0 }

/** Messages and bytes one node sent and received. */
export interface Traffic {
  msgsOut: number
  msgsIn: number
  bytesOut: number
  bytesIn: number
}

/**
 * The simulated network: every message is delivered after a random latency (so messages
 * reorder), or lost, or delivered twice, unless a partition or a link cut separates the two
 * nodes. Counts what each node sends and receives, in the sizes the real encoders produce.
 */
export class Network {
  config: NetworkConfig
  readonly traffic = new Map<string, Traffic>()
  /** Node -> partition group; nodes in different groups cannot reach each other. */
  readonly #group = new Map<string, number>()
  readonly #cut = new Set<string>()
  /** The arrival times `#draw` drew last. */
  readonly #drawn = new Float64Array(2)

  constructor(
    config: NetworkConfig,
    private readonly engine: Engine,
    private readonly random: Random,
  ) {
    this.config = config
  }

  /** Splits the nodes into groups that cannot reach each other; `heal` undoes it. */
  partition(groups: string[][]): void {
    this.#group.clear()
    groups.forEach((group, index) => {
      for (const node of group) this.#group.set(node, index)
    })
  }

  heal(): void {
    this.#group.clear()
  }

  /** Cuts (or restores) the link between two nodes. */
  setLink(a: string, b: string, up: boolean): void {
    const key = a < b ? `${a} ${b}` : `${b} ${a}`
    if (up) this.#cut.delete(key)
    else this.#cut.add(key)
  }

  reachable(a: string, b: string): boolean {
    // Asked twice per message: no lookup, and no key built, while nothing is cut.
    if (this.#group.size > 0 && (this.#group.get(a) ?? 0) !== (this.#group.get(b) ?? 0)) return false
    return this.#cut.size === 0 || !this.#cut.has(a < b ? `${a} ${b}` : `${b} ${a}`)
  }

  /** One message's one-way latency from `from` to `to`, before any retransmission. */
  latency(from: string, to: string): number {
    const { latency, baseMs, jitterMs } = this.config
    return latency === undefined ? baseMs + this.random.next() * jitterMs : latency(from, to)
  }

  /**
   * A connection from `from` to `to`: `done(true)` after the handshake's round trip, or
   * `done(false)` after as long if either end cannot reach the other at its start or its end.
   * Neither counted as messages nor lost: TCP and Noise are below the figures.
   */
  connect(from: string, to: string, done: (ok: boolean) => void): void {
    const ok = this.reachable(from, to)
    const rtt = this.latency(from, to) + this.latency(to, from)
    this.engine.after(rtt, () => done(ok && this.reachable(from, to)), true)
  }

  /**
   * Sends `bytes` bytes from `from` to `to`; `deliver` runs on arrival (maybe never, maybe twice).
   * A message with several independent `paths` (a gossip flood) is lost on an attempt only when
   * it is lost on all of them.
   */
  send(from: string, to: string, bytes: number, deliver: () => void, paths = 1): void {
    const copies = this.#draw(from, to, bytes, paths)
    if (copies === 0) return
    const arrive = () => this.#arrive(from, to, bytes) && deliver()
    const drawn = this.#drawn
    this.engine.at(drawn[0] as number, arrive, true)
    if (copies === 2) this.engine.at(drawn[1] as number, arrive, true)
  }

  /**
   * Counts a message out and draws when it arrives: never (0), once or twice (a duplicate), the
   * times in `#drawn`. `send` and `flood` draw through it alike, in this order: the seed's figures
   * depend on it. No array per message: one is sent for every heartbeat.
   */
  #draw(from: string, to: string, bytes: number, paths: number): 0 | 1 | 2 {
    const out = this.#count(from)
    out.msgsOut++
    out.bytesOut += bytes
    if (!this.reachable(from, to)) return 0
    const retransmitMs = this.#retransmitMs(paths)
    const copies = this.random.next() < this.config.duplicate ? 2 : 1
    const now = this.engine.now
    for (let i = 0; i < copies; i++) this.#drawn[i] = now + this.latency(from, to) + retransmitMs
    return copies
  }

  /** The delay of TCP's retransmissions of one message: 200 ms, doubling, for each loss in a row. */
  #retransmitMs(paths: number): number {
    let retransmitMs = 0
    const loss = this.config.loss ** paths
    for (let rto = RTO_MS; loss > 0 && this.random.next() < loss; rto *= 2) retransmitMs += rto
    return retransmitMs
  }

  /**
   * Sends one message to each of `targets`, as `send` to each would, but as one event at a time
   * walking the arrivals in time order: a flood to 1000 nodes as 1000 events of their own kept
   * the event heap at about a million entries, the simulator's largest cost after the nodes.
   */
  flood<T extends { id: string }>(
    from: string,
    targets: readonly T[],
    bytes: number,
    deliver: (to: T) => void,
    paths = 1,
  ): void {
    const arrivals: { at: number; to: T }[] = []
    const drawn = this.#drawn
    for (const to of targets) {
      if (to.id === from) continue
      const copies = this.#draw(from, to.id, bytes, paths)
      for (let i = 0; i < copies; i++) arrivals.push({ at: drawn[i] as number, to })
    }
    if (arrivals.length === 0) return
    arrivals.sort((a, b) => a.at - b.at)
    let next = 0
    const step = () => {
      const { to } = arrivals[next++] as { at: number; to: T }
      if (next < arrivals.length) this.engine.at((arrivals[next] as { at: number }).at, step, true)
      if (this.#arrive(from, to.id, bytes)) deliver(to)
    }
    this.engine.at((arrivals[0] as { at: number }).at, step, true)
  }

  /** A message arrives, unless a partition that started while it travelled dropped it. */
  #arrive(from: string, to: string, bytes: number): boolean {
    if (!this.reachable(from, to)) return false
    const traffic = this.#count(to)
    traffic.msgsIn++
    traffic.bytesIn += bytes
    return true
  }

  #count(node: string): Traffic {
    let traffic = this.traffic.get(node)
    if (traffic === undefined) {
      traffic = { msgsOut: 0, msgsIn: 0, bytesOut: 0, bytesIn: 0 }
      this.traffic.set(node, traffic)
    }
    return traffic
  }
}

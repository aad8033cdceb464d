import {
  type DeclEntry,
  type DeclStore,
  type DeclVersion,
  HLC_ZERO,
  type Hlc,
  hlcTick,
  MismatchTrigger,
  refusal,
} from '@gary/protocol'
import type { Clock } from '../clock/clock.js'
import type { ClockGuard } from '../clock/clock-guard.js'
import type { Logger } from '../logger.js'
import { Rejection, Rejections } from '../net/rejections.js'
import type { Reply, Verdict } from '../port.js'
import { DECL_SYNC_AFTER_MS, DECL_SYNC_TIMEOUT_MS } from '../timing.js'

/** What the declarations agent asks of the network and the disk. */
export interface DeclarationsPort {
  /** Gossips entries written on this node to every member. */
  publish(entries: DeclEntry[], done: Reply<number>): void
  /** Asks a peer for its whole declaration set. */
  pull(peer: string, timeoutMs: number, done: Reply<DeclEntry[]>): void
  /** The store changed by a merge: keep it, and look at the view again. */
  changed(): void
}

export interface DeclarationsAgentComponents {
  port: DeclarationsPort
  /** The store, as loaded from the data dir (`restored` once it is). */
  store: DeclStore
  clock: Pick<Clock, 'wallNow'>
  /** Receives the entries' timestamps, refusing those too far ahead of this node's clock. */
  clockGuard: Pick<ClockGuard, 'receive'>
  logger: Logger
  /** This node's peer id: the origin of the versions it writes. */
  self: string
  /** Where refused messages are logged and counted; the agent's own by default. */
  rejections?: Rejections
}

/**
 * The cluster's declarations on this node, decided without libp2p: versions for the writes made
 * here, gossip received, validated and merged, and anti-entropy, which pulls a peer's whole set
 * when its heartbeat shows a digest that has differed from ours for longer than gossip takes to
 * deliver a write. Until this node has once agreed with a peer (just started, or restarted after
 * missing writes) it pulls at the first mismatch. A normal apply costs no sync; a lost message or a
 * partition heals.
 */
export class DeclarationsAgent {
  readonly store: DeclStore
  readonly rejections: Rejections
  #hlc: Hlc = HLC_ZERO
  readonly #sync = new MismatchTrigger(DECL_SYNC_AFTER_MS, 'peer')
  #caughtUp = false
  readonly #pulling = new Set<string>()

  constructor(private readonly components: DeclarationsAgentComponents) {
    this.store = components.store
    this.rejections = components.rejections ?? new Rejections(components.logger)
  }

  get digest(): string {
    return this.store.digest()
  }

  /** The store was loaded: versions written from now on are newer than every one in it. */
  restored(): void {
    for (const entry of this.store.entries()) {
      // Kept even when ahead (this node accepted it once), but it does not drag the clock along.
      this.#hlc =
        this.components.clockGuard.receive(this.#hlc, entry.version.hlc, {
          workload: entry.name,
          via: 'disk',
        }) ?? this.#hlc
    }
  }

  /** The version of the next write made on this node. */
  nextVersion(): DeclVersion {
    this.#hlc = hlcTick(this.#hlc, this.components.clock.wallNow())
    return { hlc: this.#hlc, origin: this.components.self }
  }

  /** Spreads entries written on this node (peers that miss them pull them by anti-entropy). */
  spread(entries: DeclEntry[]): void {
    this.components.port.publish(entries, (result) => {
      if (!result.ok) this.components.logger.debug({ err: result.reason }, 'declaration publish failed')
    })
  }

  /** Entries gossiped by `signer`: a node writes only under its own name. */
  gossiped(signer: string, entries: DeclEntry[]): Verdict {
    // Relaying others' writes is the sync stream's job.
    if (entries.some((entry) => entry.version.origin !== signer)) {
      this.rejections.refuse(Rejection.DeclarationsUnderAnotherName, { from: signer })
      return 'reject'
    }
    const changed = this.#merge(entries, 'gossip', signer)
    if (changed === 0) return 'ignore'
    this.components.port.changed()
    return 'accept'
  }

  /** Looks at a peer's latest declaration digest (on each of its heartbeats); undefined: none known. */
  check(peer: string, theirs: string | undefined, now: number): void {
    const same = theirs === undefined || theirs === this.digest
    if (same && theirs !== undefined) this.#caughtUp = true
    if (this.#sync.check(peer, same, now, !this.#caughtUp)) this.pull(peer)
  }

  /** Pulls a peer's whole set and merges it: anti-entropy after lost messages or a partition. */
  pull(peer: string): void {
    if (this.#pulling.has(peer)) return
    this.#pulling.add(peer)
    this.components.port.pull(peer, DECL_SYNC_TIMEOUT_MS, (result) => {
      this.#pulling.delete(peer)
      if (!result.ok) {
        this.components.logger.debug({ member: peer, err: result.reason }, 'declaration sync failed')
        return
      }
      if (this.#merge(result.value, 'sync', peer) > 0) this.components.port.changed()
      this.#caughtUp = true
    })
  }

  /** What a peer that pulls this node's set gets: all of it. */
  answer(): DeclEntry[] {
    return this.store.entries()
  }

  #merge(entries: DeclEntry[], how: 'gossip' | 'sync', peer: string): number {
    let changed = 0
    const via = `${how} from ${peer}`
    const banned = new Set(this.store.banned())
    for (const entry of entries) {
      // A banned member's writes count for nothing, and no member lifts its own ban.
      if (refusal(entry, banned) !== undefined) {
        const code = banned.has(entry.version.origin) ? Rejection.DeclarationByBanned : Rejection.OwnBanLifted
        this.rejections.refuse(code, { peer, workload: entry.name, origin: entry.version.origin, via })
        continue
      }
      // A write stamped too far ahead would win over every later one: refused until it is not.
      const hlc = this.components.clockGuard.receive(this.#hlc, entry.version.hlc, {
        peer,
        workload: entry.name,
        via,
      })
      if (hlc === undefined) {
        this.rejections.refuse(Rejection.TimestampAhead, { peer, workload: entry.name, via })
        continue
      }
      this.#hlc = hlc
      const outcome = this.store.merge(entry)
      if (outcome === 'stale' || outcome === 'unchanged') continue
      changed++
      this.components.logger.info(
        { workload: entry.name, outcome, origin: entry.version.origin, via },
        outcome === 'deleted' ? 'declaration deleted' : 'declaration received',
      )
    }
    return changed
  }
}

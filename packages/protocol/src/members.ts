import {
  contradicts,
  contradictsUntil,
  DOWN_WITNESSES,
  WITNESS_WINDOW_MS,
  type WorstGap,
  worstGapAfter,
} from './detector.js'
import { hex8, itemHash } from './digest.js'
import { compareVersions, isNewer, type StateVersion } from './freshness.js'
import type { MemberVersions } from './member-note.js'
import type { Heartbeat, NodeState } from './node-state.js'
import { shardOf, shardsNear } from './placement/shards.js'

export type MemberStatus = 'alive' | 'suspect' | 'dead'

/** How heartbeat age turns into a member's status. All times are monotonic milliseconds. */
export interface MembershipConfig {
  /** A member not heard from for longer than this is suspect. Default 2000. */
  suspectAfterMs: number
  /** A member not heard from for longer than this is dead: its promises no longer count. Default 3000. */
  deadAfterMs: number
  /** A dead member is forgotten this long after it was last heard from. Default 1 hour. */
  forgetAfterMs: number
  /**
   * Relayed liveness, for clusters larger than one node's connections: when set, the age rules
   * above apply only to members this node has a connection to (it hears their heartbeats). A
   * member known only from gossip stays alive until a witness reports it down
   * (`observeDown`), its connection breaks for good (`markUnreachable`), or nothing at all is
   * heard of it for this long, ms. Unset: every member ages by heartbeat, as in a full mesh.
   */
  indirectDeadAfterMs?: number
  /**
   * Ring shards the cluster is cut into (`--promise-shards`); default 1. With more than three,
   * membership is partial (docs/design.md, "Partial membership"): the table keeps the members of
   * this node's scope (shards at most one apart) and the ones it is connected to, and forgets a
   * member out of scope once no longer connected to it.
   */
  shards?: number
}

/**
 * Relayed liveness: how often a node gossips its small `alive` beacon, and how long a member
 * known only by gossip lives without any news of it. Failures are spread by witnesses' reports
 * within a second; the beacon is only the backstop for a report that never came (a member cut off
 * from every witness), so it is rare: at 10,000 nodes a 140-byte beacon a minute from each costs
 * every node 23 KB/s received.
 */
export const BEACON_INTERVAL_MS = 60_000
export const INDIRECT_DEAD_AFTER_MS = 3 * BEACON_INTERVAL_MS + 10_000

export const DEFAULT_MEMBERSHIP: MembershipConfig = {
  suspectAfterMs: 2000,
  deadAfterMs: 3000,
  forgetAfterMs: 60 * 60 * 1000,
}

export interface Member {
  id: string
  /** Newest full state known; absent until the first one arrives (a heartbeat can come first). */
  state?: NodeState
  /** Newest version the member has announced, from its state or a heartbeat. */
  announced: StateVersion
  /** Digest of the member's declaration set, from its latest heartbeat. */
  declDigest?: string
  /** Monotonic time of the last evidence that the member is up. */
  heardAt: number
  /**
   * Monotonic time at which a direct connection to the member broke and redialling it failed:
   * evidence that its process is gone, faster than heartbeat age. Also set by a witness's report
   * that the member is down. Fresh evidence overrides it.
   */
  unreachableAt?: number
  /** Who reported the member down at its announced version, until enough did (relayed liveness). */
  /** Witness -> when its report came (monotonic ms): reports count together only while recent. */
  witnesses?: Map<string, number>
  /** Witnesses' reports made the member dead at its announced version: no need to report it again. */
  confirmed?: boolean
  /** The member said it left at its announced version (a graceful stop): dead until a newer one. */
  left?: boolean
  /** This node has a connection to the member: its heartbeats arrive (relayed liveness only). */
  direct: boolean
  /** Monotonic time of the last heartbeat, the direct evidence; absent if none came. */
  lastDirectAt?: number
  /**
   * The member was suspect by heartbeat age when its connection closed: its `heardAt` then. Until
   * newer evidence comes, it stays suspect rather than alive by relayed liveness (a link that
   * flaps made it alive each time it closed).
   */
  suspectAt?: number
  /** Monotonic time of the heartbeat before the last: with the last, whether the member beats this node fast. */
  previousDirectAt?: number
  /** The worst gap between its fast beats lately (`worstGapAfter`): fast detection waits longer for a jittery member. */
  worstGap?: WorstGap
  status: MemberStatus
  /** `itemHash` of the id, the member's share of the live digest (hashed once, not per change). */
  idHash: number
  /** The member's ring shard. */
  shard: number
}

/** The outcome of observing a message, for logs and for deciding what to pull. */
export type Observation =
  | 'self'
  | 'stale'
  | 'new'
  | 'updated'
  | 'restarted'
  | 'unchanged'
  /** A heartbeat announced a newer state than the one held: pull it from the member. */
  | 'needs-state'

/** What a witness's report that a member is down did. */
export type DownOutcome =
  /** The report names this node: refute it (publish a newer state) if it names the current version. */
  | 'self'
  /** Unknown member, or the report names a version older than one already heard. */
  | 'stale'
  /** This node hears the member's heartbeats itself: its own evidence wins. */
  | 'contradicted'
  /** Counted; one witness is not enough. */
  | 'noted'
  | 'marked'

export interface StatusChange {
  id: string
  from: MemberStatus
  to: MemberStatus
}

/**
 * The member's state as placement reads it: none while it is dead, and none while it has announced
 * a newer incarnation than the state held. A restart voids every promise of the previous process
 * (a powered-off machine's containers died with it): read as the member came back, those
 * promises won their slots back by rule 2 and the replacements were released, before the new
 * incarnation's state arrived 20-30 ms later (a lab machine that booted left 8 of 10 running for
 * up to 3 s). A live member without a readable state is one whose state the node waits for.
 */
export function currentState(member: Readonly<Member>): NodeState | undefined {
  const state = member.state
  if (member.status === 'dead' || state === undefined) return undefined
  return state.incarnation < member.announced.incarnation ? undefined : state
}

/** A member's status at `now`, from the age of the evidence alone. */
export function statusAt(
  member: Pick<Member, 'heardAt' | 'unreachableAt'> & {
    direct?: boolean
    left?: boolean
    suspectAt?: number
  },
  now: number,
  config: MembershipConfig,
): MemberStatus {
  if (member.left === true) return 'dead'
  if (member.unreachableAt !== undefined && member.unreachableAt >= member.heardAt) return 'dead'
  const age = now - member.heardAt
  if (config.indirectDeadAfterMs !== undefined && member.direct !== true) {
    if (age > config.indirectDeadAfterMs) return 'dead'
    return member.suspectAt !== undefined && member.heardAt <= member.suspectAt ? 'suspect' : 'alive'
  }
  if (age > config.deadAfterMs) return 'dead'
  if (age > config.suspectAfterMs) return 'suspect'
  return 'alive'
}

/**
 * Who is in the cluster, as this node sees it. Pure bookkeeping: every input carries the time it
 * happened at, and status changes come out of `sweep`, so the same inputs always give the same
 * table.
 */
export class MemberTable {
  readonly #members = new Map<string, Member>()
  /** The members ordered by id, kept as they come and go: `list()` is asked for on every peer's hints request. */
  readonly #sorted: Member[] = []
  /**
   * With relayed liveness, the members whose status a sweep must look at: the connected ones
   * (heartbeat age) and those with new evidence. The rest are looked at in a full sweep every
   * FULL_SWEEP_MS, so that a sweep costs O(connections), not O(members).
   */
  readonly #watch = new Set<string>()
  #fullSweepAt = Number.NEGATIVE_INFINITY
  /** The age thresholds in force: the configured ones stretched by this node's local health. */
  #ages: MembershipConfig
  #stretch = 1
  /**
   * No watched member can change status before this time without new evidence, so a sweep
   * before it has nothing to do: a node sweeps ten times a second, and its connected members'
   * heartbeats keep them alive for seconds (the watched sweeps were 7 % of a simulated partition
   * at 1000 nodes).
   */
  #dueAt = Number.NEGATIVE_INFINITY
  /** Members whose state, status or presence changed since `takeTouched` was last called. */
  #touched = new Set<string>()
  #version = 0
  /**
   * Kept as members change rather than counted when asked: members alive, and members alive and
   * connected (rule 10).
   */
  readonly #tally = { alive: 0, directAlive: 0 }
  /** The roll call under way (`startRollCall`): since when, and the members heard since. */
  #rollCall: { from: number; heard: Set<string> } | undefined
  /** Per shard, the sum of its live members' hashes (the live digest), kept as members change. */
  readonly #liveSums = new Map<number, number>()
  readonly #selfHash: number
  readonly #shards: number
  /** This node's ring shard. */
  readonly shard: number

  constructor(
    readonly self: string,
    readonly config: MembershipConfig = DEFAULT_MEMBERSHIP,
  ) {
    this.#ages = config
    this.#selfHash = itemHash(self)
    this.#shards = config.shards ?? 1
    this.shard = shardOf(self, this.#shards)
  }

  /**
   * Whether membership is partial: with more than three shards, some members are out of every
   * node's scope, and a node keeps only those of its scope and its connections.
   */
  get partial(): boolean {
    return this.#shards > 3
  }

  /**
   * Stretches the heartbeat-age thresholds by `multiplier` (Lifeguard's local health, `LocalHealth`):
   * a node whose own timers fire late hears its peers late too, and must not take that for their
   * silence. 1 restores the configured thresholds.
   */
  stretch(multiplier: number): void {
    if (multiplier === this.#stretch) return
    this.#stretch = multiplier
    const { suspectAfterMs, deadAfterMs } = this.config
    this.#ages = {
      ...this.config,
      suspectAfterMs: suspectAfterMs * multiplier,
      deadAfterMs: deadAfterMs * multiplier,
    }
    // Every watched member's next change moved.
    this.#dueAt = Number.NEGATIVE_INFINITY
  }

  /**
   * This node's own loop stood still for `ms` up to `now` (a timer fired that much late): the
   * heartbeats sent meanwhile are still unread, so that silence is not the members'. Each
   * connected member not held dead counts as heard `ms` later than it was (never later than
   * `now`): a node starved for seconds at a cold start on few cores had every peer age out at once
   * and hung up on them all, and they on it. Members held dead stay so.
   */
  paused(ms: number, now: number): void {
    if (!(ms > 0)) return
    for (const member of this.#members.values()) {
      if (!member.direct || member.status === 'dead') continue
      if (member.unreachableAt !== undefined && member.unreachableAt >= member.heardAt) continue
      member.heardAt = Math.min(now, member.heardAt + ms)
    }
    this.#dueAt = Number.NEGATIVE_INFINITY
  }

  /** Whether this node keeps a member of `shard` it is not connected to: always, unless partial. */
  #keeps(shard: number): boolean {
    return shardsNear(this.shard, shard, this.#shards)
  }

  /** Records a full state that passed validation and whose signer is `state.node`. */
  observeState(state: NodeState, now: number): Observation {
    if (state.node === this.self) return 'self'
    const member = this.#members.get(state.node)
    if (member === undefined) {
      // With partial membership, news of a member out of scope is not kept (its heartbeat, over a
      // connection, adds it).
      const shard = shardOf(state.node, this.#shards)
      if (!this.#keeps(shard)) return 'stale'
      const member = newMember(state.node, version(state), now, false, state, shard)
      this.#members.set(state.node, member)
      this.#insertSorted(member)
      this.#count(member, 1)
      this.#touched.add(state.node)
      this.#version++
      return 'new'
    }
    if (member.state !== undefined && !isNewer(state, member.state)) return 'stale'
    // A heartbeat already announced a later incarnation: this state is a replay from before the
    // restart, and its promises died with the old process.
    if (state.incarnation < member.announced.incarnation) return 'stale'
    const restarted = member.state !== undefined && state.incarnation > member.state.incarnation
    const first = member.state === undefined
    this.#count(member, -1)
    member.state = state
    this.#count(member, 1)
    this.#touched.add(member.id)
    if (isNewer(state, member.announced)) {
      member.announced = version(state)
      forgetReports(member)
    }
    member.heardAt = Math.max(member.heardAt, now)
    if (member.status !== 'alive') this.#watchMember(member, now)
    if (first) {
      this.#version++
      return 'new'
    }
    return restarted ? 'restarted' : 'updated'
  }

  /** Records a heartbeat from the authenticated peer `id`. */
  observeHeartbeat(id: string, beat: Heartbeat, now: number): Observation {
    if (id === this.self) return 'self'
    const member = this.#members.get(id)
    if (member === undefined) {
      const member = newMember(id, version(beat), now, true, undefined, shardOf(id, this.#shards))
      member.declDigest = beat.decls
      member.lastDirectAt = now
      if (this.#rollCall !== undefined && now >= this.#rollCall.from) this.#rollCall.heard.add(id)
      this.#members.set(id, member)
      this.#insertSorted(member)
      this.#count(member, 1)
      this.#watchMember(member, now)
      this.#touched.add(id)
      this.#version++
      return 'needs-state'
    }
    if (compareVersions(beat, member.announced) < 0) return 'stale'
    if (compareVersions(beat, member.announced) > 0) forgetReports(member)
    if (this.#rollCall !== undefined && now >= this.#rollCall.from) this.#rollCall.heard.add(id)
    this.#announce(member, beat)
    member.declDigest = beat.decls
    member.heardAt = Math.max(member.heardAt, now)
    if (!member.direct) {
      this.#count(member, -1)
      member.direct = true
      this.#count(member, 1)
    }
    const beats = {
      lastAt: member.lastDirectAt,
      previousAt: member.previousDirectAt,
      worstGap: member.worstGap,
    }
    member.worstGap = worstGapAfter(beats, now)
    member.previousDirectAt = member.lastDirectAt
    member.lastDirectAt = Math.max(member.lastDirectAt ?? now, now)
    // This node's own accusation of silence is withdrawn by the member's next heartbeat; other
    // witnesses' reports stand until a newer version (they judge for themselves).
    if (member.witnesses?.delete(this.self) === true && member.witnesses.size === 0)
      member.witnesses = undefined
    this.#watchMember(member, now)
    if (member.state === undefined || isNewer(beat, member.state)) return 'needs-state'
    return 'unchanged'
  }

  /**
   * Records news of a member that this node does not hear directly: its own small beacon, which
   * proves it was up when it sent it. Returns 'needs-state' when it announces a newer state.
   */
  observeBeacon(id: string, announced: StateVersion, now: number): Observation {
    if (id === this.self) return 'self'
    const member = this.#members.get(id)
    if (member === undefined || compareVersions(announced, member.announced) < 0) return 'stale'
    if (compareVersions(announced, member.announced) > 0) forgetReports(member)
    this.#announce(member, announced)
    member.heardAt = Math.max(member.heardAt, now)
    if (member.status !== 'alive') this.#watchMember(member, now)
    return member.state === undefined || isNewer(announced, member.state) ? 'needs-state' : 'unchanged'
  }

  /**
   * Takes the member's own word of its version. A new incarnation voids the state held
   * (`currentState`): the member is touched, so that the placement view drops its old promises
   * now, not when the new state arrives.
   */
  #announce(member: Member, announced: StateVersion): void {
    const restarted = member.state !== undefined && announced.incarnation > member.announced.incarnation
    member.announced = version(announced)
    if (restarted) this.#touched.add(member.id)
  }

  /**
   * Records `witness`'s report that the member, at the version named, is down. A witness that
   * could not reach it again (`unreachable`) is believed alone; one that only stopped hearing its
   * heartbeats counts once two agree: a crashed member has a witness per connection, while one
   * lossy link makes a lone false report. A newer version heard since, or the member's own
   * heartbeats, outweigh it.
   */
  observeDown(id: string, at: StateVersion, witness: string, now: number, unreachable = false): DownOutcome {
    if (id === this.self) return 'self'
    const member = this.#members.get(id)
    if (member === undefined || compareVersions(at, member.announced) < 0) return 'stale'
    // A report never moves `announced`: only the member's own messages do, or one forged report
    // naming a far later version would make every real state of the member look stale.
    member.witnesses ??= new Map()
    member.witnesses.set(witness, now)
    for (const [other, at] of member.witnesses)
      if (now - at > WITNESS_WINDOW_MS) member.witnesses.delete(other)
    // Heard within the time a witness waits before it accuses: a witness of fast silence reports
    // after a fraction of a second, and the members that heard the regular heartbeat up to a
    // second before the death must not outvote it. The report is kept: a second witness of the
    // same silence, this node included once it hears it too, makes two; and reports that stand
    // once this node's last heartbeat is as old as a witness's silence count then (`#settle`).
    if (member.direct && contradicts(member.lastDirectAt, now)) {
      this.#watchMember(member, now)
      return 'contradicted'
    }
    if (!unreachable && member.witnesses.size < DOWN_WITNESSES) return 'noted'
    member.confirmed = true
    member.unreachableAt = now
    this.#watchMember(member, now)
    return 'marked'
  }

  /**
   * Records the member's own word that it leaves the cluster at the version named (a graceful
   * stop): dead at once, whatever heartbeats still in flight say, until it announces a newer
   * version (a restart). Only the member may say it: the caller checks the signer.
   */
  observeLeft(id: string, at: StateVersion, now: number): 'self' | 'stale' | 'marked' {
    if (id === this.self) return 'self'
    const member = this.#members.get(id)
    if (member === undefined || compareVersions(at, member.announced) < 0) return 'stale'
    member.left = true
    member.confirmed = true
    member.unreachableAt = now
    this.#watchMember(member, now)
    return 'marked'
  }

  /** Records that the member's connection broke and it could not be redialled. */
  markUnreachable(id: string, now: number): void {
    const member = this.#members.get(id)
    if (member === undefined) return
    member.unreachableAt = now
    this.#watchMember(member, now)
  }

  /**
   * Records that this node no longer has a connection to the member: from now on it knows the
   * member only by gossip (relayed liveness). Its next heartbeat makes it direct again. A member
   * out of scope (partial membership) is forgotten, unless dead: no gossip about it reaches this
   * node, and a dead one still counts for rule 10 (a node cut off alone sees its peers die).
   */
  setIndirect(id: string): void {
    const member = this.#members.get(id)
    if (member === undefined || !member.direct) return
    if (!this.#keeps(member.shard) && member.status !== 'dead') {
      this.#forget(member)
      return
    }
    this.#count(member, -1)
    member.direct = false
    if (member.status === 'suspect') member.suspectAt = member.heardAt
    this.#count(member, 1)
    this.#watchMember(member)
  }

  /**
   * Watches the member, and brings the next sweep forward to when it may change: at once if its
   * status is already out of date at `now` (or `now` is not known).
   */
  #watchMember(member: Member, now?: number): void {
    this.#watch.add(member.id)
    const due =
      now === undefined || statusAt(member, now, this.#ages) !== member.status
        ? Number.NEGATIVE_INFINITY
        : nextChangeAt(member, now, this.#ages)
    if (due < this.#dueAt) this.#dueAt = due
  }

  /**
   * Applies the passage of time: returns every status change since the last sweep, forgets the
   * long dead. With `only`, after fresh evidence of that member, looks at it alone: the evidence
   * can change no other member's status, and a sweep of every watched member for each state or
   * note received cost O(N) per message while many members were not alive (a healed partition at
   * 1000 nodes).
   */
  sweep(now: number, only?: string): StatusChange[] {
    const changes: StatusChange[] = []
    if (only !== undefined) {
      const member = this.#members.get(only)
      if (member !== undefined) this.#settle(member, now, changes)
      return changes
    }
    const full = this.config.indirectDeadAfterMs === undefined || now - this.#fullSweepAt >= FULL_SWEEP_MS
    if (!full && now <= this.#dueAt) return changes
    if (full) this.#fullSweepAt = now
    let due = Number.POSITIVE_INFINITY
    for (const member of full ? this.#members.values() : this.#watched())
      due = Math.min(due, this.#settle(member, now, changes))
    this.#dueAt = due
    return changes
  }

  /** Brings the member's status up to `now`; returns when it may next change, if still watched. */
  #settle(member: Member, now: number, changes: StatusChange[]): number {
    const heldBack = heldReportsCountAt(member, now)
    if (heldBack !== undefined && heldBack <= now && member.status !== 'dead') {
      member.confirmed = true
      member.unreachableAt = now
    }
    const status = statusAt(member, now, this.#ages)
    if (status !== member.status) {
      changes.push({ id: member.id, from: member.status, to: status })
      this.#count(member, -1)
      member.status = status
      this.#count(member, 1)
      this.#touched.add(member.id)
      this.#version++
    }
    // After the change above, so that a member forgotten in the same sweep it died in (the first
    // sweep after a long pause) is still reported dead. A member out of scope and not connected
    // is kept only while dead (`setIndirect`): news that brings it back forgets it.
    const unkept = !member.direct && member.status !== 'dead' && !this.#keeps(member.shard)
    if (unkept || now - member.heardAt > this.config.forgetAfterMs) {
      this.#forget(member)
      return Number.POSITIVE_INFINITY
    }
    if (!member.direct && member.status === statusAt(member, now + FULL_SWEEP_MS, this.#ages)) {
      // Nothing but new evidence (which watches it again) can change it before the next full sweep.
      this.#watch.delete(member.id)
      return Number.POSITIVE_INFINITY
    }
    return this.#watch.has(member.id) ? nextChangeAt(member, now, this.#ages) : Number.POSITIVE_INFINITY
  }

  #forget(member: Member): void {
    this.#count(member, -1)
    this.#members.delete(member.id)
    this.#sorted.splice(this.#sortedIndex(member.id), 1)
    this.#watch.delete(member.id)
    this.#touched.add(member.id)
    this.#version++
  }

  *#watched(): Iterable<Member> {
    for (const id of [...this.#watch]) {
      const member = this.#members.get(id)
      if (member === undefined) this.#watch.delete(id)
      else yield member
    }
  }

  /**
   * The members whose state, status or presence changed since the last call (forgotten ones
   * included), for the one reader that keeps a view of the table up to date: reading every
   * member on every reconcile pass cost O(N) per pass, a quarter of a 1000-node simulation.
   */
  takeTouched(): Set<string> {
    const touched = this.#touched
    this.#touched = new Set()
    return touched
  }

  /**
   * Grows whenever a member is added, forgotten, changes status or gets its first state: what is
   * derived from who is there and how they stand can be cached against it.
   */
  get version(): number {
    return this.#version
  }

  /** Members known, this node not included. */
  get size(): number {
    return this.#members.size
  }

  /**
   * Digest of the members known live (not dead, state known), this node included: heartbeats
   * carry it and peers compare it to find what they miss. `sumDigest` of their ids, from sums
   * kept per shard as members change, since it is asked for every heartbeat sent and received.
   * With `peer` and partial membership, of the members of the shards both keep (the shards near
   * both), so that the two can compare it exactly; otherwise of every member this node keeps.
   */
  liveDigest(peer?: string): string {
    return this.#digestShared(peer === undefined ? undefined : this.#shardOf(peer)) ?? hex8(0)
  }

  /**
   * Whether a peer's heartbeat digest (its `liveDigest` for this node) matches this node's;
   * undefined when the two keep no shard in common (partial membership), with nothing to compare.
   */
  sameMembers(peer: string, digest: string): boolean | undefined {
    const mine = this.#digestShared(this.#shardOf(peer))
    return mine === undefined ? undefined : digest === mine
  }

  #shardOf(id: string): number {
    return this.#members.get(id)?.shard ?? shardOf(id, this.#shards)
  }

  /** The digest over the shards this node keeps that are near `peerShard` (all, if undefined). */
  #digestShared(peerShard: number | undefined): string | undefined {
    const sums = this.#liveSums
    let sum = 0
    if (!this.partial) for (const shardSum of sums.values()) sum += shardSum
    else {
      let shared = false
      for (const shard of [this.shard - 1, this.shard, this.shard + 1]) {
        const k = (shard + this.#shards) % this.#shards
        if (peerShard !== undefined && !shardsNear(k, peerShard, this.#shards)) continue
        shared = true
        sum += sums.get(k) ?? 0
      }
      if (!shared) return undefined
    }
    const selfShared = peerShard === undefined || shardsNear(this.shard, peerShard, this.#shards)
    return hex8((selfShared ? sum + this.#selfHash : sum) >>> 0)
  }

  /** Members alive now, and of those the ones this node is connected to (rule 10). */
  /**
   * Starts a roll call at `now`, unless one is under way: this node just saw a member die and asks
   * every member connected to it to answer at once; until each one alive and connected here has
   * been heard since (`rollCall`), placement counts only those heard (rule 10). A death by fast
   * detection comes before the other members of a cut-off side turn even suspect: a minority
   * counted them alive and took the dead member's slots. True when it started one.
   */
  startRollCall(now: number): boolean {
    if (this.#rollCall !== undefined) return false
    this.#rollCall = { from: now, heard: new Set() }
    return true
  }

  /** Whether a roll call is under way. */
  get rollCalling(): boolean {
    return this.#rollCall !== undefined
  }

  /**
   * How many members alive and connected here answered the roll call under way (heard since it
   * began); undefined once none is under way. The roll call ends when every one of them has.
   */
  rollCall(): number | undefined {
    const call = this.#rollCall
    if (call === undefined) return undefined
    let heard = 0
    for (const id of call.heard) {
      const member = this.#members.get(id)
      if (member?.status === 'alive' && member.direct) heard++
    }
    if (heard < this.#tally.directAlive) return heard
    this.#rollCall = undefined
    return undefined
  }

  get hearing(): { alive: number; directAlive: number } {
    return { alive: this.#tally.alive, directAlive: this.#tally.directAlive }
  }

  /** Adds (1) or takes away (-1) the member's share of the tally, around a change to it. */
  #count(member: Member, sign: 1 | -1): void {
    const tally = this.#tally
    if (member.status === 'alive') {
      tally.alive += sign
      if (member.direct) tally.directAlive += sign
    }
    if (member.status !== 'dead' && member.state !== undefined)
      this.#liveSums.set(member.shard, ((this.#liveSums.get(member.shard) ?? 0) + sign * member.idHash) >>> 0)
  }

  /** What this node asks a member sync with: every member whose state it holds, dead ones marked. */
  syncVersions(): MemberVersions {
    const versions: MemberVersions = []
    for (const member of this.#members.values()) {
      if (member.state === undefined) continue
      const { incarnation, seq } = member.state
      versions.push({
        node: member.id,
        incarnation,
        seq,
        ...(member.status === 'dead' ? { dead: true } : {}),
      })
    }
    return versions
  }

  /**
   * The states of the members known live (not dead), for a peer's member sync: with partial
   * membership, only those in the asking peer's scope, which is all it keeps.
   */
  liveStates(asker?: string): NodeState[] {
    const shard = asker === undefined || !this.partial ? undefined : shardOf(asker, this.#shards)
    const states: NodeState[] = []
    for (const member of this.#members.values()) {
      if (member.status === 'dead' || member.state === undefined) continue
      if (shard === undefined || shardsNear(shard, member.shard, this.#shards)) states.push(member.state)
    }
    return states
  }

  get(id: string): Readonly<Member> | undefined {
    return this.#members.get(id)
  }

  /** Every known member but this node, in no particular order: for readers that visit them all. */
  members(): IterableIterator<Readonly<Member>> {
    return this.#members.values()
  }

  /** Every known member but this node, ordered by id. */
  list(): Readonly<Member>[] {
    return this.#sorted.slice()
  }

  #insertSorted(member: Member): void {
    this.#sorted.splice(this.#sortedIndex(member.id), 0, member)
  }

  /** Where `id` is, or would be, in the members ordered by id. */
  #sortedIndex(id: string): number {
    let low = 0
    let high = this.#sorted.length
    while (low < high) {
      const mid = (low + high) >> 1
      if ((this.#sorted[mid] as Member).id < id) low = mid + 1
      else high = mid
    }
    return low
  }

  countByStatus(): Record<MemberStatus, number> {
    const counts = { alive: 0, suspect: 0, dead: 0 }
    for (const member of this.#members.values()) counts[member.status]++
    return counts
  }
}

/** With relayed liveness, how often a sweep looks at every member rather than the watched ones. */
const FULL_SWEEP_MS = 10_000

/**
 * A member with every field present from the start, so that all members keep one object shape
 * (fields added one by one, as reports and heartbeats came, gave them many) and the hot paths
 * that read members stay monomorphic.
 */
function newMember(
  id: string,
  announced: StateVersion,
  now: number,
  direct: boolean,
  state: NodeState | undefined,
  shard: number,
): Member {
  return {
    id,
    state,
    announced,
    declDigest: undefined,
    heardAt: now,
    unreachableAt: undefined,
    witnesses: undefined,
    confirmed: undefined,
    left: undefined,
    direct,
    lastDirectAt: undefined,
    previousDirectAt: undefined,
    worstGap: undefined,
    suspectAt: undefined,
    status: 'alive',
    idHash: itemHash(id),
    shard,
  }
}

/**
 * The first time from `now` on at which the member's status by age may change, or it may be
 * forgotten: `statusAt` moves only when the age passes one of these thresholds.
 */
function nextChangeAt(member: Member, now: number, config: MembershipConfig): number {
  const { heardAt } = member
  let next = heardAt + config.forgetAfterMs
  const consider = (after: number | undefined) => {
    if (after !== undefined && heardAt + after >= now && heardAt + after < next) next = heardAt + after
  }
  consider(config.suspectAfterMs)
  consider(config.deadAfterMs)
  consider(config.indirectDeadAfterMs)
  const heldBack = heldReportsCountAt(member, now)
  // Like the age thresholds, the last time before the change: a sweep at or before it has nothing to do.
  return heldBack === undefined ? next : Math.min(next, Math.max(now, heldBack - 1))
}

/**
 * When reports that this node's own heartbeat held back (`observeDown`: 'contradicted') make the
 * member dead: two witnesses reported it after the last heartbeat heard here, and from this time
 * that heartbeat is as old as the silence a witness waits for, so it contradicts them no longer.
 * Undefined while no such reports stand. A member whose regular heartbeat (once a second) reached
 * this node just before it fell silent had both reports of its fast watchers held back, and was
 * seen dead here only by age, 3 s after the others (1 lab cut in 10).
 */
function heldReportsCountAt(member: Member, now: number): number | undefined {
  const { witnesses, lastDirectAt } = member
  if (member.confirmed === true || !member.direct || witnesses === undefined || lastDirectAt === undefined)
    return undefined
  let after = 0
  for (const at of witnesses.values()) if (at > lastDirectAt && now - at <= WITNESS_WINDOW_MS) after++
  return after >= DOWN_WITNESSES ? contradictsUntil(lastDirectAt) : undefined
}

/** A newer version outweighs every report about an older one. */
function forgetReports(member: Member): void {
  member.witnesses = undefined
  member.confirmed = undefined
  member.left = undefined
}

const version = (v: StateVersion): StateVersion => ({ incarnation: v.incarnation, seq: v.seq })

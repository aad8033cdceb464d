import { setDigest } from './digest.js'
import { compareVersions, isNewer, type StateVersion } from './freshness.js'
import type { Heartbeat, NodeState } from './node-state.js'

export type MemberStatus = 'alive' | 'suspect' | 'dead'

/** How heartbeat age turns into a member's status. All times are monotonic milliseconds. */
export interface MembershipConfig {
  /** A member not heard from for longer than this is suspect. Default 2000. */
  suspectAfterMs: number
  /** A member not heard from for longer than this is dead: its promises no longer count. Default 3000. */
  deadAfterMs: number
  /** A dead member is forgotten this long after it was last heard from. Default 1 hour. */
  forgetAfterMs: number
}

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
   * evidence that its process is gone, faster than heartbeat age. Fresh evidence overrides it.
   */
  unreachableAt?: number
  status: MemberStatus
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

export interface StatusChange {
  id: string
  from: MemberStatus
  to: MemberStatus
}

/** A member's status at `now`, from the age of the evidence alone. */
export function statusAt(
  member: Pick<Member, 'heardAt' | 'unreachableAt'>,
  now: number,
  config: MembershipConfig,
) {
  if (member.unreachableAt !== undefined && member.unreachableAt >= member.heardAt) return 'dead'
  const age = now - member.heardAt
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
  #version = 0
  #digest = { version: -1, value: '' }

  constructor(
    readonly self: string,
    readonly config: MembershipConfig = DEFAULT_MEMBERSHIP,
  ) {}

  /** Records a full state that passed validation and whose signer is `state.node`. */
  observeState(state: NodeState, now: number): Observation {
    if (state.node === this.self) return 'self'
    const member = this.#members.get(state.node)
    if (member === undefined) {
      this.#members.set(state.node, {
        id: state.node,
        state,
        announced: version(state),
        heardAt: now,
        status: 'alive',
      })
      this.#version++
      return 'new'
    }
    if (member.state !== undefined && !isNewer(state, member.state)) return 'stale'
    // A heartbeat already announced a later incarnation: this state is a replay from before the
    // restart, and its promises died with the old process.
    if (state.incarnation < member.announced.incarnation) return 'stale'
    const restarted = member.state !== undefined && state.incarnation > member.state.incarnation
    const first = member.state === undefined
    member.state = state
    if (isNewer(state, member.announced)) member.announced = version(state)
    member.heardAt = Math.max(member.heardAt, now)
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
      this.#members.set(id, {
        id,
        announced: version(beat),
        declDigest: beat.decls,
        heardAt: now,
        status: 'alive',
      })
      this.#version++
      return 'needs-state'
    }
    if (compareVersions(beat, member.announced) < 0) return 'stale'
    member.announced = version(beat)
    member.declDigest = beat.decls
    member.heardAt = Math.max(member.heardAt, now)
    if (member.state === undefined || isNewer(beat, member.state)) return 'needs-state'
    return 'unchanged'
  }

  /** Records that the member's connection broke and it could not be redialled. */
  markUnreachable(id: string, now: number): void {
    const member = this.#members.get(id)
    if (member !== undefined) member.unreachableAt = now
  }

  /** Applies the passage of time: returns every status change since the last sweep, forgets the long dead. */
  sweep(now: number): StatusChange[] {
    const changes: StatusChange[] = []
    for (const member of this.#members.values()) {
      const status = statusAt(member, now, this.config)
      if (status !== member.status) {
        changes.push({ id: member.id, from: member.status, to: status })
        member.status = status
        this.#version++
      }
      // After the change above, so that a member forgotten in the same sweep it died in (the first
      // sweep after a long pause) is still reported dead.
      if (now - member.heardAt > this.config.forgetAfterMs) {
        this.#members.delete(member.id)
        this.#version++
      }
    }
    return changes
  }

  /**
   * Grows whenever a member is added, forgotten, changes status or gets its first state: what is
   * derived from who is there and how they stand can be cached against it.
   */
  get version(): number {
    return this.#version
  }

  /**
   * Digest of the members known live (not dead, state known), this node included: heartbeats
   * carry it and peers compare it to find what they miss. Asked for every heartbeat sent and
   * received, so recomputed only when `version` moved.
   */
  liveDigest(): string {
    if (this.#digest.version !== this.#version) {
      const live = [...this.#members.values()].filter((m) => m.status !== 'dead' && m.state !== undefined)
      this.#digest = { version: this.#version, value: setDigest([this.self, ...live.map((m) => m.id)]) }
    }
    return this.#digest.value
  }

  get(id: string): Readonly<Member> | undefined {
    return this.#members.get(id)
  }

  /** Every known member but this node, ordered by id. */
  list(): Readonly<Member>[] {
    return [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  countByStatus(): Record<MemberStatus, number> {
    const counts = { alive: 0, suspect: 0, dead: 0 }
    for (const member of this.#members.values()) counts[member.status]++
    return counts
  }
}

const version = (v: StateVersion): StateVersion => ({ incarnation: v.incarnation, seq: v.seq })

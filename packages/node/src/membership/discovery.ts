import {
  DEFAULT_DETECTOR,
  MAX_PEER_HINTS,
  type Member,
  type PeerHints,
  shardOf,
  shardsNear,
} from '@gary/protocol'
import {
  ASK_PEERS_EVERY_MS,
  DEAD_CHECKS,
  DEAD_REDIAL_MS,
  DIAL_TIMEOUT_MS,
  MAX_PARALLEL_DIALS,
} from '../timing.js'
import type { MembershipContext } from './context.js'
import { type Connections, type DialTarget, dialTimedOut, memberTarget } from './port.js'
import { shuffle } from './shuffle.js'

/** Hints kept: as many as one peer gives. */
const MAX_HINTS = MAX_PEER_HINTS
/** Peers whose dials back off, kept at most (the oldest entry goes first). */
const SLOW_KEPT = 1024
/** Answers to hints asks kept, for this many askers' shards. */
const HINTS_KEPT = 8

/**
 * Finding the other members and keeping connections to them: join addresses and peers' hints
 * dialled while under `targetPeers`, known members dialled in random order (members in scope
 * first), a few members held dead checked now and then, and hints given to peers that ask.
 */
export class Discovery {
  readonly #dialing = new Set<string>()
  readonly #lastDialAt = new Map<string, number>()
  readonly #joinPeers = new Map<string, string>()
  /** Join addresses' failed dials in a row: each waits and times out longer (`joinBackoff`). */
  readonly #joinFailures = new Map<string, number>()
  /** When each join address may be dialled again. */
  readonly #joinNextAt = new Map<string, number>()
  /**
   * Whether this node has ever been connected to a peer: join dials back off only before, when a
   * rack's machines all dial one join address at once; after, a join address is one way back from
   * a partition, and a heal must not wait out a backoff grown while the far side was away.
   */
  #reachedAny = false
  /**
   * Members (and hinted peers) held live whose dials timed out in a row, and when each may be
   * dialled again (`joinBackoff`, as for join addresses).
   */
  readonly #slow = new Map<string, { failures: number; nextAt: number }>()
  /** Addresses of peers heard of from other peers, not yet members. */
  readonly #hints = new Map<string, readonly string[]>()
  #askedAt = Number.NEGATIVE_INFINITY
  #lastDeadRedialAt = Number.NEGATIVE_INFINITY
  /** The last hints given, by the asker's shard (for the last few shards asked about). */
  readonly #hintsByShard = new Map<
    number,
    { version: number; members: Readonly<Member>[]; hints: PeerHints }
  >()
  /** Members held dead that a peer holds live, waiting for a dial to start. */
  readonly #checks = new Set<string>()

  constructor(
    private readonly ctx: MembershipContext,
    /** This node's ring successors (`FastWatch`): the witnesses of its silence, dialled first. */
    private readonly ringSuccessors: () => readonly string[],
  ) {}

  /**
   * Dials a member held dead that a peer holds live (member sync), as soon as a dial can start: a
   * node back from a partition is told of all its old peers at once, and dialling only as many as
   * MAX_PARALLEL_DIALS allowed left the others dead to it until the next sync, a second later. A
   * peer's word is fresh evidence: the member is dialled again a heartbeat after the last dial,
   * not DEAD_REDIAL_MS (a dial that failed while a link was down held the member dead for up to
   * 5 s after the link came back; the simulator's flapping-link and lone-node found it).
   */
  check(member: string): void {
    this.#checks.add(member)
    this.#serveChecks(this.ctx.now())
  }

  #serveChecks(now: number): void {
    for (const id of this.#checks) {
      if (this.#dialing.size >= MAX_PARALLEL_DIALS) return
      this.#checks.delete(id)
      const member = this.ctx.table.get(id)
      if (member?.status === 'dead') this.dial(id, memberTarget(member), now, this.ctx.init.heartbeatMs)
    }
  }

  /** See `MembershipAgent.reach`: one dial at a time, to a member drawn at random, not backing off. */
  reach(members: readonly string[], now: number): void {
    const connected = this.ctx.port.connections()
    if (members.some((id) => connected.has(id) || this.#dialing.has(id))) return
    const ready = members.filter(
      (id) => this.ctx.table.get(id)?.state !== undefined && !this.#backingOff(id, now),
    )
    const id = ready[Math.floor(this.ctx.random() * ready.length)]
    const member = id === undefined ? undefined : this.ctx.table.get(id)
    if (id === undefined || member === undefined) return
    this.dial(id, memberTarget(member), now, this.ctx.init.heartbeatMs)
  }

  /** A connection to `peer` opened, whoever dialled: its dials back off no more. */
  connected(peer: string): void {
    this.#slow.delete(peer)
  }

  /** A member's state arrived: it is dialled as a member from now on. */
  known(member: string): void {
    this.#hints.delete(member)
  }

  /** A heartbeat from `peer` said whether its member digest matches ours: if not, ask it for hints. */
  heard(peer: string, sameMembers: boolean | undefined, now: number): void {
    if (sameMembers !== false || now - this.#askedAt <= ASK_PEERS_EVERY_MS) return
    this.#askedAt = now
    this.askPeers(peer)
  }

  /**
   * Alive members' addresses, for a peer that asks where to dial: those of its scope first (with
   * partial membership the peer keeps no others, and must find them to learn its scope's members).
   * The answer depends on the table and the asker's shard only: each peer that connects asks, and
   * working it out for each was most of a cluster's start at 1000 simulated nodes.
   */
  hintsFor(peer: string): PeerHints {
    const { table, init } = this.ctx
    const shard = shardOf(peer, init.promiseShards)
    const cached = this.#hintsByShard.get(shard)
    const members = cached?.version === table.version ? cached.members : this.#hinted(shard)
    // The same answer as last time is the same object (the simulator counts its size once).
    const same =
      cached !== undefined &&
      cached.hints.length === members.length &&
      members.every((m, i) => m.id === cached.hints[i]!.id && m.state!.addrs === cached.hints[i]!.addrs)
    const hints = same ? cached.hints : members.map((m) => ({ id: m.id, addrs: m.state!.addrs }))
    this.#hintsByShard.delete(shard)
    this.#hintsByShard.set(shard, { version: table.version, members, hints })
    for (const oldest of this.#hintsByShard.keys()) {
      if (this.#hintsByShard.size <= HINTS_KEPT) break
      this.#hintsByShard.delete(oldest)
    }
    return hints
  }

  /** The members alive with a state, ordered by id, those in scope of `shard` first: at most MAX_PEER_HINTS. */
  #hinted(shard: number): Readonly<Member>[] {
    const shards = this.ctx.init.promiseShards
    const near: Readonly<Member>[] = []
    const far: Readonly<Member>[] = []
    for (const member of this.ctx.table.list()) {
      if (member.status !== 'alive' || member.state === undefined) continue
      if (shardsNear(shard, member.shard, shards)) near.push(member)
      else if (far.length < MAX_PEER_HINTS) far.push(member)
      if (near.length === MAX_PEER_HINTS) break
    }
    return near.concat(far).slice(0, MAX_PEER_HINTS)
  }

  /** Learns from a connected peer where the other members are, so this node can dial them. */
  askPeers(peer: string): void {
    this.ctx.port.askPeers(peer, DIAL_TIMEOUT_MS, (result) => {
      if (!result.ok) {
        this.ctx.logger.debug({ peer, err: result.reason }, 'peer hints unavailable')
        return
      }
      let added = false
      for (const hint of result.value)
        if (hint.id !== this.ctx.selfId && this.ctx.table.get(hint.id)?.state === undefined) {
          added ||= !this.#hints.delete(hint.id)
          this.#hints.set(hint.id, hint.addrs)
        }
      // The newest hints are kept: hints of members out of scope are never learnt as members, and
      // kept all, each node held one per member of the cluster (a redial walked them all).
      for (const id of this.#hints.keys()) {
        if (this.#hints.size <= MAX_HINTS) break
        this.#hints.delete(id)
      }
      // Nothing new to dial: heartbeats and ended dials look again anyway.
      if (added) this.redial(this.ctx.now())
    })
  }

  /**
   * Keeps dialling join addresses and known members (and peers' hints) while under-connected,
   * in random order so that no member gets everyone's connections, and members in scope first,
   * past `targetPeers` while fewer than half of it are in scope (`ShardScope.toDial`); and now
   * and then checks a few members held dead, even at `targetPeers`.
   */
  redial(now: number): void {
    const { table, scope, init, random } = this.ctx
    const connected = this.ctx.port.connections()
    if (connected.size > 0) this.#reachedAny = true
    this.#serveChecks(now)
    if (now - this.#lastDeadRedialAt >= DEAD_REDIAL_MS) {
      this.#lastDeadRedialAt = now
      // Shuffled below: the table's own order will do (list() sorts every member).
      const dead = [...table.members()].filter(
        (m) => m.status === 'dead' && m.state !== undefined && !connected.has(m.id),
      )
      for (const member of shuffle(dead, random).slice(0, DEAD_CHECKS))
        this.dial(member.id, memberTarget(member), now, DEAD_REDIAL_MS)
    }
    this.#dialRing(connected, now)
    const target = init.targetPeers
    const near = this.#nearHeld(connected)
    if (connected.size >= target && near >= Math.floor(target / 2)) return
    // No dial starts while MAX_PARALLEL_DIALS are under way: the next to end looks again.
    if (this.#dialing.size >= MAX_PARALLEL_DIALS) return
    if (connected.size < target)
      for (const addr of init.join) {
        const peer = this.#joinPeers.get(addr)
        if (peer !== undefined && connected.has(peer)) continue
        if (now < (this.#joinNextAt.get(addr) ?? Number.NEGATIVE_INFINITY)) continue
        const failures = this.#reachedAny ? 0 : (this.#joinFailures.get(addr) ?? 0)
        this.dial(
          `join:${addr}`,
          { kind: 'join', addr },
          now,
          this.#reachedAny ? init.heartbeatMs : 0,
          (remote) => {
            this.#joinPeers.set(addr, remote)
            this.#joinFailures.delete(addr)
            this.#joinNextAt.delete(addr)
          },
          joinBackoff(failures, init.heartbeatMs, 0).timeoutMs,
          () => {
            if (this.#reachedAny) return
            this.#joinFailures.set(addr, failures + 1)
            const { waitMs } = joinBackoff(failures, init.heartbeatMs, this.ctx.random())
            this.#joinNextAt.set(addr, this.ctx.now() + waitMs)
          },
        )
      }
    // Dial targets are made for the chosen few only.
    const candidates: {
      id: string
      shard?: number
      member?: Readonly<Member>
      addrs?: readonly string[]
      every: number
    }[] = []
    for (const member of table.members())
      if (!connected.has(member.id) && member.state !== undefined && member.status !== 'dead')
        candidates.push({ id: member.id, shard: member.shard, member, every: init.heartbeatMs })
    for (const [id, addrs] of this.#hints)
      if (!connected.has(id)) candidates.push({ id, addrs, every: DEAD_REDIAL_MS })
    const busy = connected.size + this.#dialing.size
    const ready = candidates.filter(({ id }) => !this.#backingOff(id, now))
    for (const { id, member, addrs, every } of scope.toDial(ready, busy, near, target, random)) {
      const to: DialTarget =
        member === undefined ? { kind: 'member', id, addrs: addrs ?? [] } : memberTarget(member)
      this.#dialBackingOff(id, to, now, every)
    }
  }

  /** Dials a member or hinted peer whose dials that time out back off (`#backingOff`). */
  #dialBackingOff(id: string, to: DialTarget, now: number, every: number): void {
    const { heartbeatMs } = this.ctx.init
    const failures = this.#slow.get(id)?.failures ?? 0
    const { timeoutMs } = joinBackoff(failures, heartbeatMs, 0)
    this.dial(
      id,
      to,
      now,
      every,
      () => this.#slow.delete(id),
      timeoutMs,
      (reason) => {
        // Only a dial that timed out: a refusal or an unreachable host says the member is gone,
        // and its death, not a backoff, ends the dials.
        if (!dialTimedOut(reason)) return
        const { waitMs } = joinBackoff(failures, heartbeatMs, this.ctx.random())
        this.#slow.delete(id)
        this.#slow.set(id, { failures: failures + 1, nextAt: this.ctx.now() + waitMs })
        // Hinted ids that never answer (a peer may hint any) must not grow it without end.
        if (this.#slow.size > SLOW_KEPT)
          for (const oldest of this.#slow.keys()) {
            this.#slow.delete(oldest)
            break
          }
      },
    )
  }

  /**
   * Dials this node's ring successors it has no connection to, even at `targetPeers`: only a
   * connected successor hears its fast beat and can witness its silence. Past `targetPeers` + 1
   * members most were not connected, and at 1000 simulated nodes 7 lost machines in 10 had fewer
   * than two connected watchers: they were seen dead by the 3 s age rule, not in half a second.
   * A `--target-peers` below the watchers' number is a cap asked for on purpose (fewer links than
   * fast detection needs, the rest known by relayed liveness): it holds.
   */
  #dialRing(connected: Connections, now: number): void {
    if (this.ctx.init.targetPeers < DEFAULT_DETECTOR.watchers) return
    for (const id of this.ringSuccessors()) {
      if (connected.has(id) || this.#backingOff(id, now)) continue
      const member = this.ctx.table.get(id)
      if (member?.state !== undefined && member.status === 'alive')
        this.#dialBackingOff(id, memberTarget(member), now, this.ctx.init.heartbeatMs)
    }
  }

  /**
   * Whether a live member's dials are backing off: at a cold start of 30 daemons on 2 cores, each
   * dial cut off after 3 s and tried again a second later, 2,500 of them in two minutes, and the
   * handshakes starved each other (each daemon's loop seconds late), so some never completed.
   * Each dial that times out now waits 1, 2, 4, 8 s (jittered) and its next one may take 3, 6, 12 s.
   * Members held dead are dialled as before (a healed partition must not wait out a backoff), and
   * a connection either way ends it.
   */
  #backingOff(id: string, now: number): boolean {
    const slow = this.#slow.get(id)
    if (slow === undefined) return false
    if (this.ctx.table.get(id)?.status === 'dead') {
      this.#slow.delete(id)
      return false
    }
    return now < slow.nextAt
  }

  /**
   * Connections and dials under way to members or hinted peers in scope (join addresses, dialled
   * by address, are not members): they count towards half of `targetPeers`.
   */
  #nearHeld(connected: Connections): number {
    let near = 0
    for (const id of connected) if (this.#near(id)) near++
    for (const id of this.#dialing) if (this.#near(id)) near++
    return near
  }

  #near(id: string): boolean {
    const member = this.ctx.table.get(id)
    if (member !== undefined)
      return shardsNear(this.ctx.table.shard, member.shard, this.ctx.init.promiseShards)
    return this.#hints.has(id) && this.ctx.scope.near(id)
  }

  /** Dials `target` under `key`, unless a dial of it is under way or was made less than `every` ago. */
  dial(
    key: string,
    target: DialTarget,
    now: number,
    every: number,
    onConnected?: (peer: string) => void,
    timeoutMs = DIAL_TIMEOUT_MS,
    onFailed?: (reason: string) => void,
  ): void {
    if (this.#dialing.has(key) || this.#dialing.size >= MAX_PARALLEL_DIALS) return
    if (now - (this.#lastDialAt.get(key) ?? Number.NEGATIVE_INFINITY) < every) return
    const started = this.ctx.port.dial(target, timeoutMs, (result) => {
      this.#dialing.delete(key)
      if (result.ok) onConnected?.(result.value)
      else {
        this.ctx.logger.debug({ target: key, err: result.reason }, 'dial failed')
        onFailed?.(result.reason)
      }
      // Dials run at most MAX_PARALLEL_DIALS at a time: start the next one now, not at the next heartbeat.
      if (!this.ctx.stopped) this.redial(this.ctx.now())
    })
    if (!started) return
    this.#lastDialAt.set(key, now)
    this.#dialing.add(key)
  }
}

/** Join dials back off to this at most, ms. */
const JOIN_BACKOFF_MAX_MS = 8000
/** A join dial times out after at most this, ms. */
const JOIN_TIMEOUT_MAX_MS = 12_000

/**
 * How long a join address waits after `failures` failed dials in a row, and how long the next
 * dial may take: both double with each failure, the wait with jitter (`random` in [0, 1)). When a
 * rack's machines start at once they all dial the same join address: redialled every second with
 * a 3 s timeout, an overloaded seed's handshakes were cut off before they could end, every node
 * dialled again at once, and some never joined (30 daemons at once on 2 cores).
 */
export function joinBackoff(
  failures: number,
  heartbeatMs: number,
  random: number,
): { waitMs: number; timeoutMs: number } {
  const factor = 2 ** Math.min(failures, 4)
  return {
    waitMs: Math.min(JOIN_BACKOFF_MAX_MS, heartbeatMs * factor) * (0.5 + random),
    timeoutMs: Math.min(JOIN_TIMEOUT_MAX_MS, DIAL_TIMEOUT_MS * factor),
  }
}

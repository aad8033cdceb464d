import {
  BEACON_INTERVAL_MS,
  checkMemberNote,
  decodeHeartbeat,
  decodeMemberNote,
  decodeMemberStates,
  decodeMemberVersions,
  decodeNodeState,
  decodePeerHints,
  encodeHeartbeat,
  encodeMemberNote,
  encodeMemberVersions,
  encodeNodeState,
  encodePeerHints,
  encodeStatesWithin,
  type Heartbeat,
  INDIRECT_DEAD_AFTER_MS,
  inScope,
  listenShards,
  MAX_HEARTBEAT_BYTES,
  MAX_MEMBER_NOTE_BYTES,
  MAX_MEMBER_SYNC_BYTES,
  MAX_NODE_STATE_BYTES,
  MAX_PEER_HINTS,
  MAX_PEER_HINTS_BYTES,
  type Member,
  type MemberNote,
  MemberTable,
  MismatchTrigger,
  type NodeState,
  ShardScope,
  shardOf,
  syncAnswer,
} from '@gary/protocol'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../logger.js'
import type { Gossip, Verdict } from '../net/gossip.js'
import { PeerLinks } from '../net/links.js'
import type { P2P } from '../net/p2p.js'
import { JoinReports } from './join-reports.js'
import type { SelfState } from './self-state.js'
import { shuffle } from './shuffle.js'

export interface MembershipInit {
  cluster: string
  /** Addresses to join through; redialled while under-connected. */
  join: string[]
  heartbeatMs: number
  suspectAfterMs: number
  deadAfterMs: number
  /** Direct connections to keep. */
  targetPeers: number
  /** Ring shards the cluster is cut into; the same on every node. 1: every member hears every state. */
  promiseShards: number
}

export interface MembershipComponents {
  p2p: P2P
  gossip: Gossip
  logger: Logger
  /** This node's own NodeState. */
  self: SelfState
  /** Monotonic milliseconds. */
  now: () => number
  /** Wall-clock milliseconds: every heartbeat carries them, so that peers compare clocks. */
  wallNow: () => number
  /** The declaration digest every heartbeat carries. */
  declsDigest: () => string
  /** A valid heartbeat arrived from a peer (after the member table took it in). */
  onHeartbeat?: (peer: string, now: number, beat: Heartbeat) => void
  /** A member's state or status changed: the placement view changed. */
  onChange?: () => void
}

const SWEEP_MS = 100
const DIAL_TIMEOUT_MS = 3000
const PROBE_TIMEOUT_MS = 1000
const TELL_TIMEOUT_MS = 3000
/**
 * This often, even at `targetPeers`, a few members held dead are dialled: one judged dead on a
 * lossy link, or across a healed partition, comes back without waiting for its beacon.
 */
const DEAD_REDIAL_MS = 5000
const DEAD_CHECKS = 4
/** This node refutes reports of its death at most this often (several witnesses report at once). */
const REFUTE_EVERY_MS = 1000
/** Member digests differing this long start a member sync; at most one runs per this interval. */
const MEMBER_SYNC_AFTER_MS = 1000
const REPORT_JITTER_MS = 100
const MAX_PARALLEL_DIALS = 8
/**
 * While member digests differ, this node asks one peer for hints at most this often: asking every
 * differing peer made each join cost O(N^2) streams, and past 20 nodes on 2 cores the load fed on
 * itself (late heartbeats, suspects, more asks).
 */
const ASK_PEERS_EVERY_MS = 500

/**
 * Who is in the cluster: heartbeats to and from connected peers, this node's NodeState gossiped
 * when it changes and pulled by peers that miss it, member sync with a peer whose member digest
 * differs, peer hints and redials so every member finds every other, and the member table with
 * its status changes logged.
 *
 * Liveness is relayed (docs/design.md): a node is connected to only `targetPeers` members, so it
 * judges those by their heartbeats and the rest by member notes on a second topic. A witness
 * connected to a member that dies reports it `down`; two witnesses make it dead everywhere. A
 * member reported down while up refutes it with a newer state, and every member gossips a small
 * `alive` beacon every BEACON_INTERVAL_MS, the backstop for a death nobody witnessed.
 */
export class Membership {
  readonly table: MemberTable
  readonly links: PeerLinks
  readonly stateTopic: string
  readonly membersTopic: string
  /** Where this node hears its scope's state changes: its own shard's topic and the two next to it. */
  readonly promiseTopics: readonly string[]
  /** Where this node's state changes go: its own shard's topic (the state topic, with one shard). */
  readonly publishTopic: string
  /**
   * Where this node hears member notes: the members topic, or with partial membership the notes
   * topics of its own shard and the two next to it (a note about a member goes to its shard's).
   */
  readonly noteTopics: readonly string[]
  readonly #selfId: string
  readonly #timers: NodeJS.Timeout[] = []
  readonly #dialing = new Set<string>()
  readonly #lastDialAt = new Map<string, number>()
  readonly #pulling = new Set<string>()
  readonly #joinPeers = new Map<string, string>()
  readonly #joinReports: JoinReports
  /** Addresses of peers heard of from other peers, not yet members. */
  readonly #hints = new Map<string, string[]>()
  #askedAt = Number.NEGATIVE_INFINITY
  readonly #memberSync = new MismatchTrigger(MEMBER_SYNC_AFTER_MS)
  #lastDeadRedialAt = Number.NEGATIVE_INFINITY
  #lastRefutedAt = Number.NEGATIVE_INFINITY
  readonly #scope: ShardScope
  /**
   * Topics owed this node's current state: one whose last publish reached nobody (publishes
   * before the mesh forms are lost), retried on each heartbeat; and the state topic, while every
   * member must hear this node (the first state of an incarnation, a refutation).
   */
  readonly #unpublished = new Set<string>()
  #stopping = false
  #agreedAt: number | undefined
  /** When each peer's heartbeat last agreed with this node's view. */
  readonly #agreedWith = new Map<string, number>()

  constructor(
    private readonly init: MembershipInit,
    private readonly components: MembershipComponents,
  ) {
    this.#selfId = components.self.current.node
    this.#joinReports = new JoinReports(components.logger)
    this.stateTopic = `gary/1/${init.cluster}/state`
    this.membersTopic = `gary/1/${init.cluster}/members`
    // One shard is the whole cluster: the state topic is its topic.
    const promises = (k: number) =>
      init.promiseShards <= 1 ? this.stateTopic : `gary/1/${init.cluster}/promises/${k}`
    this.promiseTopics = listenShards(this.#selfId, init.promiseShards).map(promises)
    this.publishTopic = promises(shardOf(this.#selfId, init.promiseShards))
    this.#scope = new ShardScope(this.#selfId, init.promiseShards)
    this.table = new MemberTable(this.#selfId, {
      suspectAfterMs: init.suspectAfterMs,
      deadAfterMs: init.deadAfterMs,
      forgetAfterMs: 60 * 60 * 1000,
      indirectDeadAfterMs: INDIRECT_DEAD_AFTER_MS,
      shards: init.promiseShards,
    })
    this.noteTopics = this.table.partial
      ? listenShards(this.#selfId, init.promiseShards).map((k) => `${this.membersTopic}/${k}`)
      : [this.membersTopic]
    // With partial membership, the members that keep this node are those of its scope: its state
    // topic is its shard's topic.
    this.#unpublished.add(this.table.partial ? this.publishTopic : this.stateTopic)
    this.links = new PeerLinks(
      {
        cluster: init.cluster,
        maxHeartbeatBytes: MAX_HEARTBEAT_BYTES,
        maxStateBytes: MAX_NODE_STATE_BYTES,
        maxPeersBytes: MAX_PEER_HINTS_BYTES,
        maxMemberSyncBytes: MAX_MEMBER_SYNC_BYTES,
        maxNoteBytes: MAX_MEMBER_NOTE_BYTES,
      },
      {
        libp2p: components.p2p,
        logger: components.logger,
        onHeartbeat: (peer, frame) => this.#onHeartbeat(peer, frame),
        ownState: () => encodeNodeState(components.self.current),
        peerHints: (peer) => encodePeerHints(this.#peerHints(peer)),
        memberSync: (request, peer) => this.#answerMemberSync(request, peer),
        onNote: (peer, frame) => this.#onToldNote(peer, frame),
      },
    )
  }

  async start(): Promise<void> {
    const { p2p, gossip, logger } = this.components
    const stateTopics = this.table.partial
      ? this.promiseTopics
      : new Set([this.stateTopic, ...this.promiseTopics])
    for (const topic of stateTopics)
      gossip.subscribe(topic, (signer, data) => this.#onStateMessage(signer, data))
    for (const topic of this.noteTopics)
      gossip.subscribe(topic, (signer, data) => this.#onMemberNote(signer, data))
    await this.links.start()
    p2p.addEventListener('peer:connect', (event) => {
      logger.info({ peer: event.detail.toString() }, 'peer connected')
      this.#heartbeat()
      void this.#askPeers(event.detail)
    })
    p2p.addEventListener('peer:disconnect', (event) => {
      logger.info({ peer: event.detail.toString() }, 'peer disconnected')
      this.#disconnected(event.detail)
    })
    this.#timers.push(setInterval(() => this.#heartbeat(), this.init.heartbeatMs))
    this.#timers.push(setInterval(() => this.#sweep(), SWEEP_MS))
    this.#timers.push(setInterval(() => this.#beacon(), BEACON_INTERVAL_MS))
    this.#redial(this.components.now())
  }

  async stop(): Promise<void> {
    this.#stopping = true
    for (const timer of this.#timers) clearInterval(timer)
    await this.links.stop()
  }

  /**
   * True once a peer's heartbeat showed that it knows the same live members and declarations as
   * this node: from then on this node's view is as complete as that peer's.
   */
  get agreedWithAPeer(): boolean {
    return this.#agreedAt !== undefined
  }

  /** When a peer's heartbeat (with `peer`, that peer's) last agreed with this node's view, if ever. */
  agreedAt(peer?: string): number | undefined {
    return peer === undefined ? this.#agreedAt : this.#agreedWith.get(peer)
  }

  /**
   * Gossips this node's NodeState now (after it changed): to the nodes in its scope, or with
   * `everyone` to every member that keeps it, for a change that concerns them all (its addresses).
   */
  publishState(everyone = false): void {
    if (everyone) this.#owedToAll()
    void this.#publishState()
  }

  /** Every member that keeps this node must hear its current state: all, unless partial. */
  #owedToAll(): void {
    if (!this.table.partial) this.#unpublished.add(this.stateTopic)
  }

  /** The topic notes about `member` go to: with partial membership, its shard's notes topic. */
  #noteTopicOf(member: string): string {
    if (!this.table.partial) return this.membersTopic
    return `${this.membersTopic}/${shardOf(member, this.init.promiseShards)}`
  }

  #onStateMessage(signer: string, data: Uint8Array): Verdict {
    const decoded = decodeNodeState(data)
    if (!decoded.ok) {
      this.components.logger.debug({ from: signer, reason: decoded.reason }, 'rejected malformed state')
      return 'reject'
    }
    if (decoded.value.node !== signer) {
      this.components.logger.debug(
        { from: signer, claims: decoded.value.node },
        'rejected state signed by another node',
      )
      return 'reject'
    }
    return this.#observeState(decoded.value, 'gossip') ? 'accept' : 'ignore'
  }

  /** Returns false when the state was stale or our own. */
  #observeState(state: NodeState, via: string): boolean {
    const before = this.table.get(state.node)?.state
    const outcome = this.table.observeState(state, this.components.now())
    if (outcome === 'self' || outcome === 'stale') {
      this.components.logger.debug({ member: state.node, seq: state.seq, outcome }, 'ignored state')
      return false
    }
    if (outcome === 'new') {
      this.#hints.delete(state.node)
      // Our member digest changed: tell peers now, so those who miss the newcomer ask at once.
      queueMicrotask(() => this.#heartbeat())
      this.components.logger.info(
        { member: state.node, labels: state.labels, capacity: state.capacity, via },
        'member joined',
      )
    } else if (outcome === 'restarted') {
      this.components.logger.info(
        { member: state.node, incarnation: state.incarnation, via },
        'member restarted',
      )
    } else {
      this.components.logger.debug({ member: state.node, seq: state.seq, via }, 'member updated')
    }
    // Fresh evidence can change only this member's status: a sweep of the table for every state
    // made each round of states O(N^2) per node.
    this.#sweep(state.node)
    if (this.#scope.replans(state.node, outcome, { before, after: state })) this.components.onChange?.()
    return true
  }

  #onHeartbeat(peer: string, frame: Uint8Array): boolean {
    const decoded = decodeHeartbeat(frame)
    if (!decoded.ok) {
      this.components.logger.debug({ peer, reason: decoded.reason }, 'dropped malformed heartbeat')
      return false
    }
    const now = this.components.now()
    const held = this.table.get(peer)
    // A member held dead talks to this node again (a healed partition, a hung process resumed):
    // the others may hold it dead too, so it is told, and refutes with a newer state they all hear.
    if (held?.status === 'dead') this.#tell(peer, { kind: 'down', node: held.id, ...held.announced })
    const outcome = this.table.observeHeartbeat(peer, decoded.value, now)
    if (outcome === 'needs-state') this.#stateAnnounced(peer)
    // Fresh evidence: a member not alive here comes back now, not at the next sweep.
    if (outcome !== 'stale' && this.table.get(peer)?.status !== 'alive') this.#sweep(peer)
    this.components.onHeartbeat?.(peer, now, decoded.value)
    // Undefined: the peer's digest covers a shard out of this node's scope (partial membership).
    const sameMembers = this.table.sameMembers(peer, decoded.value.members)
    if (sameMembers === true && decoded.value.decls === this.components.declsDigest()) {
      const first = this.#agreedAt === undefined
      this.#agreedAt = now
      this.#agreedWith.set(peer, now)
      if (first) this.components.onChange?.()
    }
    if (this.#memberSync.check(peer, sameMembers !== false, now)) void this.#syncMembers(peer)
    if (sameMembers === false && now - this.#askedAt > ASK_PEERS_EVERY_MS) {
      this.#askedAt = now
      void this.#askPeers(peerIdFromString(peer))
    }
    return true
  }

  /** A member announced a newer state than the one held: pulled if this node reads it. */
  #stateAnnounced(id: string): void {
    const member = this.table.get(id)
    if (member !== undefined && this.#scope.pulls(member)) void this.#pullState(id)
  }

  /** Pulls a member's own state: over the connection to it, or at its addresses if not connected. */
  async #pullState(peer: string): Promise<void> {
    if (this.#pulling.has(peer) || this.#stopping) return
    this.#pulling.add(peer)
    try {
      const id = peerIdFromString(peer)
      const member = this.table.get(peer)
      const target =
        this.components.p2p.getConnections(id).length > 0 || member === undefined
          ? id
          : this.#memberAddrs(member)
      const bytes = await this.links.pullState(target, AbortSignal.timeout(DIAL_TIMEOUT_MS))
      const decoded = decodeNodeState(bytes)
      if (!decoded.ok) {
        this.components.logger.debug({ peer, reason: decoded.reason }, 'pulled malformed state')
      } else if (decoded.value.node !== peer) {
        this.components.logger.debug(
          { peer, claims: decoded.value.node },
          'peer answered with another node state',
        )
      } else {
        this.#observeState(decoded.value, 'pull')
      }
    } catch (err) {
      this.components.logger.debug({ peer, err: (err as Error).message }, 'state pull failed')
    } finally {
      this.#pulling.delete(peer)
    }
  }

  #heartbeat(): void {
    if (this.#stopping) return
    const now = this.components.now()
    const self = this.components.self.current
    const decls = this.components.declsDigest()
    const wall = this.components.wallNow()
    // The member digest is per peer with partial membership (of the members both keep,
    // `MemberTable.liveDigest`), the same for all otherwise: each frame is encoded once.
    const frames = new Map<string, Uint8Array>()
    this.links.sendHeartbeat((peer) => {
      const members = this.table.liveDigest(peer)
      let frame = frames.get(members)
      if (frame === undefined) {
        frame = encodeHeartbeat({ incarnation: self.incarnation, seq: self.seq, members, decls, wall })
        frames.set(members, frame)
      }
      return frame
    }, now)
    if (this.#unpublished.size > 0) void this.#publishState([...this.#unpublished])
    this.#redial(now)
  }

  /** Publishes this node's state to `topics`, or to the state topic alone while every member is owed it. */
  async #publishState(topics: readonly string[] = [this.publishTopic]): Promise<void> {
    const data = encodeNodeState(this.components.self.current)
    const to = this.#unpublished.has(this.stateTopic) ? [this.stateTopic] : topics
    await Promise.all(to.map((topic) => this.#publishStateTo(topic, data)))
  }

  async #publishStateTo(topic: string, data: Uint8Array): Promise<void> {
    try {
      const recipients = await this.components.gossip.publish(topic, data)
      if (recipients === 0) this.#unpublished.add(topic)
      // Every member listens on the state topic: what it carried, every shard topic carried.
      else if (topic === this.stateTopic) this.#unpublished.clear()
      else this.#unpublished.delete(topic)
    } catch (err) {
      this.#unpublished.add(topic)
      this.components.logger.debug({ topic, err: (err as Error).message }, 'state publish failed')
    }
  }

  /** The small proof that this node is up, for members that do not hear its heartbeats. */
  #beacon(): void {
    const { incarnation, seq } = this.components.self.current
    this.#publishNote({ kind: 'alive', node: this.#selfId, incarnation, seq })
  }

  /**
   * Tells every member that this node, a witness, found `member` dead at its announced version
   * (`unreachable` when its connection closed and the redial failed). After a random delay of up
   * to REPORT_JITTER_MS, and only if no other witness's report has made it dead here meanwhile: a
   * crashed member has a witness per connection (about 64 at 1000 nodes), and each report is
   * gossiped to every member.
   */
  #reportDown(member: Readonly<Member>, unreachable = false): void {
    const id = member.id
    const timer = setTimeout(() => {
      const current = this.table.get(id)
      if (current === undefined || current.confirmed === true) return
      this.#publishNote({
        kind: 'down',
        node: id,
        ...current.announced,
        ...(unreachable ? { unreachable } : {}),
      })
    }, Math.random() * REPORT_JITTER_MS)
    timer.unref()
  }

  /**
   * Gossips a note to every member that keeps the member it is about: with partial membership,
   * to that member's shard's notes topic, through gossipsub's fanout where this node is not
   * subscribed.
   */
  #publishNote(note: MemberNote): void {
    if (this.#stopping) return
    this.components.gossip
      .publish(this.#noteTopicOf(note.node), encodeMemberNote(note))
      .catch((err: Error) => this.components.logger.debug({ note, err: err.message }, 'note publish failed'))
  }

  /**
   * Tells a connected member a note about itself, over a stream of its own rather than gossip: a
   * `down` note flooded to every member each time a node heard a member it held dead was most of
   * the notes of a healed partition (4,277 of 8,600 floods at 1000 simulated nodes), and the
   * member's refutation is what reaches every node.
   */
  #tell(peer: string, note: MemberNote): void {
    if (this.#stopping) return
    this.links
      .tellNote(peerIdFromString(peer), encodeMemberNote(note), AbortSignal.timeout(TELL_TIMEOUT_MS))
      .catch((err: Error) => this.components.logger.debug({ peer, note, err: err.message }, 'telling failed'))
  }

  /** A note told by `peer` directly: only a `down` note about this node is one to tell. */
  #onToldNote(peer: string, frame: Uint8Array): boolean {
    const decoded = decodeMemberNote(frame)
    if (!decoded.ok || decoded.value.kind !== 'down' || decoded.value.node !== this.#selfId) {
      this.components.logger.debug({ peer }, 'dropped a told note not about this node')
      return false
    }
    this.#onDown(decoded.value, peer)
    return true
  }

  #onMemberNote(signer: string, data: Uint8Array): Verdict {
    const checked = checkMemberNote(signer, data)
    if (!checked.ok) {
      this.components.logger.debug({ from: signer, reason: checked.reason }, 'rejected member note')
      return 'reject'
    }
    return checked.note.kind === 'alive' ? this.#onBeacon(checked.note) : this.#onDown(checked.note, signer)
  }

  #onBeacon(note: MemberNote): Verdict {
    const outcome = this.table.observeBeacon(note.node, note, this.components.now())
    if (outcome === 'stale' || outcome === 'self') return 'ignore'
    if (outcome === 'needs-state') this.#stateAnnounced(note.node)
    this.#sweep(note.node)
    return 'accept'
  }

  /** A witness's report, forwarded even when this node contradicts it: others judge for themselves. */
  #onDown(note: MemberNote, witness: string): Verdict {
    const now = this.components.now()
    const outcome = this.table.observeDown(note.node, note, witness, now, note.unreachable === true)
    if (outcome === 'stale') return 'ignore'
    if (outcome === 'marked') {
      this.components.logger.info({ member: note.node, witness }, 'member reported down')
      this.#sweep(note.node)
    } else if (outcome === 'self') {
      if (note.incarnation !== this.components.self.current.incarnation) return 'ignore'
      this.#refute(witness, now)
    }
    return 'accept'
  }

  /** Reported dead while up: a newer state proves otherwise to every member that hears it. */
  #refute(witness: string, now: number): void {
    if (now - this.#lastRefutedAt < REFUTE_EVERY_MS) return
    this.#lastRefutedAt = now
    this.components.self.refresh()
    this.components.logger.info({ witness }, 'reported down while up: refuting')
    this.#owedToAll()
    void this.#publishState()
  }

  /**
   * Sends `peer` the member versions this node holds; it answers with the states we miss, and
   * those of members we hold dead that it holds live, which this node then dials to check.
   */
  async #syncMembers(peer: string): Promise<void> {
    const { node, incarnation, seq } = this.components.self.current
    const versions = [{ node, incarnation, seq }, ...this.table.syncVersions()]
    try {
      const bytes = await this.links.syncMembers(
        peerIdFromString(peer),
        encodeMemberVersions(versions),
        AbortSignal.timeout(DIAL_TIMEOUT_MS),
      )
      const decoded = decodeMemberStates(bytes)
      if (!decoded.ok) {
        this.components.logger.debug({ peer, reason: decoded.reason }, 'dropped malformed member sync')
        return
      }
      // These states are relayed, not signed by their members: they are trusted because every peer
      // holds the cluster key. Each is taken only if newer than the one held, and a member's own
      // newer state or beacon overrides it.
      const now = this.components.now()
      for (const state of decoded.value) {
        this.#observeState(state, 'sync')
        const member = this.table.get(state.node)
        if (member?.status === 'dead') this.#dial(member.id, this.#memberAddrs(member), now, DEAD_REDIAL_MS)
        else if (this.#scope.checks(state.node, peer)) void this.#pullState(state.node)
      }
    } catch (err) {
      this.components.logger.debug({ peer, err: (err as Error).message }, 'member sync failed')
    }
  }

  /** The states `peer` misses: with partial membership, of the members of its scope only. */
  #answerMemberSync(request: Uint8Array, peer: string): Uint8Array | undefined {
    const decoded = decodeMemberVersions(request)
    if (!decoded.ok) {
      this.components.logger.debug({ reason: decoded.reason }, 'refused a malformed member sync request')
      return undefined
    }
    const held = [this.components.self.current, ...this.table.liveStates(peer)]
    return encodeStatesWithin(syncAnswer(held, decoded.value), MAX_MEMBER_SYNC_BYTES)
  }

  /**
   * Alive members' addresses, for a peer that asks where to dial: those of its scope first (with
   * partial membership the peer keeps no others, and must find them to learn its scope's members).
   */
  #peerHints(peer: string) {
    const alive = this.table
      .list()
      .filter((member) => member.status === 'alive' && member.state !== undefined)
    const near = (member: Readonly<Member>) => inScope(peer, member.id, this.init.promiseShards)
    return [...alive.filter(near), ...alive.filter((member) => !near(member))]
      .slice(0, MAX_PEER_HINTS)
      .map((member) => ({ id: member.id, addrs: member.state!.addrs }))
  }

  /** Learns from a newly connected peer where the other members are, so this node can dial them. */
  async #askPeers(peer: PeerId): Promise<void> {
    try {
      const decoded = decodePeerHints(await this.links.askPeers(peer, AbortSignal.timeout(DIAL_TIMEOUT_MS)))
      if (!decoded.ok) {
        this.components.logger.debug(
          { peer: peer.toString(), reason: decoded.reason },
          'dropped malformed peer hints',
        )
        return
      }
      for (const hint of decoded.value) {
        if (hint.id !== this.#selfId && this.table.get(hint.id)?.state === undefined) {
          this.#hints.set(hint.id, hint.addrs)
        }
      }
      this.#redial(this.components.now())
    } catch (err) {
      this.components.logger.debug(
        { peer: peer.toString(), err: (err as Error).message },
        'peer hints unavailable',
      )
    }
  }

  /** Applies the passage of time to the table; after evidence of one member, to that one only. */
  #sweep(only?: string): void {
    if (this.#stopping) return
    const changes = this.table.sweep(this.components.now(), only)
    if (changes.some((change) => this.#scope.replans(change.id))) this.components.onChange?.()
    for (const change of changes) {
      const fields = { member: change.id, from: change.from }
      if (change.to === 'dead') {
        this.components.logger.info(fields, 'member dead')
        this.#witnessed(change.id)
      } else if (change.to === 'suspect') this.components.logger.info(fields, 'member suspect')
      else if (change.from === 'dead') this.components.logger.info(fields, 'member back')
      else this.components.logger.info(fields, 'member alive again')
    }
  }

  /**
   * A member turned dead. If it was connected (its heartbeats stopped), this node is a witness: it
   * tells every member, and marks it unreachable so that it stays dead here once no longer
   * connected. Either way it hangs up: a half-open connection to a silent member would stop
   * redials from ever reaching it again.
   */
  #witnessed(id: string): void {
    const member = this.table.get(id)
    if (member?.direct === true) {
      this.#reportDown(member)
      this.table.markUnreachable(id, this.components.now())
    }
    void this.components.p2p.hangUp(peerIdFromString(id)).catch(() => {})
  }

  /** From now on this node knows the peer only by gossip, unless it cannot be dialled again at all. */
  #disconnected(peer: PeerId): void {
    if (this.components.p2p.getConnections(peer).length > 0) return
    const id = peer.toString()
    this.table.setIndirect(id)
    this.#memberSync.forget(id)
    void this.#probe(peer)
  }

  /**
   * A peer's last connection closed. If it cannot be dialled again at once, its process is gone
   * (refused) or unreachable: that is evidence of death well before its heartbeats age out, and
   * this node, a witness, reports it to every member.
   */
  async #probe(peer: PeerId): Promise<void> {
    const id = peer.toString()
    const member = this.table.get(id)
    if (this.#stopping || member === undefined || member.status === 'dead') return
    const startedAt = this.components.now()
    try {
      await this.components.p2p.dial(this.#memberAddrs(member), {
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      })
    } catch (err) {
      if (this.#stopping || this.components.p2p.getConnections(peer).length > 0) return
      this.components.logger.debug(
        { member: id, err: (err as Error).message },
        'member unreachable after disconnect',
      )
      this.table.markUnreachable(id, startedAt)
      this.#sweep(id)
      this.#reportDown(member, true)
    }
  }

  /**
   * Keeps dialling join addresses and known members (and peers' hints) while under-connected,
   * in random order so that no member gets everyone's connections, and members in scope first,
   * past `targetPeers` while fewer than half of it are in scope (`ShardScope.toDial`); and now
   * and then checks a few members held dead, even at `targetPeers`.
   */
  #redial(now: number): void {
    const p2p = this.components.p2p
    const connected = new Set(p2p.getConnections().map((c) => c.remotePeer.toString()))
    if (now - this.#lastDeadRedialAt >= DEAD_REDIAL_MS) {
      this.#lastDeadRedialAt = now
      // Shuffled below: the table's own order will do (list() sorts every member).
      const dead = [...this.table.members()].filter(
        (m) => m.status === 'dead' && m.state !== undefined && !connected.has(m.id),
      )
      for (const member of shuffle(dead).slice(0, DEAD_CHECKS))
        this.#dial(member.id, this.#memberAddrs(member), now, DEAD_REDIAL_MS)
    }
    const target = this.init.targetPeers
    // Dials under way count as connections; join addresses, dialled by address, are not members.
    const near = [...connected, ...this.#dialing].filter(
      (id) => (this.table.get(id) !== undefined || this.#hints.has(id)) && this.#scope.near(id),
    ).length
    if (connected.size >= target && near >= Math.floor(target / 2)) return
    if (connected.size < target)
      for (const addr of this.init.join) {
        const peer = this.#joinPeers.get(addr)
        if (peer !== undefined && connected.has(peer)) continue
        this.#dial(
          `join:${addr}`,
          [multiaddr(addr)],
          now,
          this.init.heartbeatMs,
          (remote) => {
            this.#joinPeers.set(addr, remote)
            this.#joinReports.joined(addr, remote)
          },
          (err) => this.#joinReports.failed(addr, err),
        )
      }
    // Addresses are parsed for the chosen few only.
    const candidates: { id: string; addrs: () => Multiaddr[]; every: number }[] = []
    for (const m of this.table.members())
      if (!connected.has(m.id) && m.state !== undefined && m.status !== 'dead')
        candidates.push({ id: m.id, addrs: () => this.#memberAddrs(m), every: this.init.heartbeatMs })
    for (const [id, addrs] of this.#hints)
      if (!connected.has(id))
        candidates.push({ id, addrs: () => withPeerId(id, addrs), every: DEAD_REDIAL_MS })
    const busy = connected.size + this.#dialing.size
    for (const candidate of this.#scope.toDial(shuffle(candidates), busy, near, target))
      this.#dial(candidate.id, candidate.addrs(), now, candidate.every)
  }

  #dial(
    key: string,
    addrs: Multiaddr[],
    now: number,
    every: number,
    onConnected?: (peer: string) => void,
    onFailed?: (err: Error) => void,
  ): void {
    if (addrs.length === 0 || this.#dialing.has(key) || this.#dialing.size >= MAX_PARALLEL_DIALS) return
    if (now - (this.#lastDialAt.get(key) ?? Number.NEGATIVE_INFINITY) < every) return
    this.#lastDialAt.set(key, now)
    this.#dialing.add(key)
    this.components.p2p
      .dial(addrs, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      .then((connection) => onConnected?.(connection.remotePeer.toString()))
      .catch((err: Error) => {
        this.components.logger.debug({ target: key, err: err.message }, 'dial failed')
        if (!this.#stopping) onFailed?.(err)
      })
      .finally(() => {
        this.#dialing.delete(key)
        // Dials run at most MAX_PARALLEL_DIALS at a time: start the next one now, not at the next heartbeat.
        if (!this.#stopping) this.#redial(this.components.now())
      })
  }

  #memberAddrs(member: Readonly<Member>): Multiaddr[] {
    return withPeerId(member.id, member.state?.addrs ?? [])
  }
}

/** Dialable multiaddrs for a peer: each address with the peer id appended, unparsable ones dropped. */
function withPeerId(id: string, addrs: string[]): Multiaddr[] {
  const suffix = `/p2p/${id}`
  return addrs.flatMap((addr) => {
    try {
      return [multiaddr(addr.endsWith(suffix) ? addr : `${addr}${suffix}`)]
    } catch {
      return []
    }
  })
}

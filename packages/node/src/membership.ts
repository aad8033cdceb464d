import {
  decodeHeartbeat,
  decodeNodeState,
  decodePeerHints,
  encodeHeartbeat,
  encodeNodeState,
  encodePeerHints,
  MAX_HEARTBEAT_BYTES,
  MAX_NODE_STATE_BYTES,
  MAX_PEER_HINTS,
  MAX_PEER_HINTS_BYTES,
  type Member,
  MemberTable,
  type NodeState,
} from '@gary/protocol'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Gossip, Verdict } from './gossip.js'
import { PeerLinks } from './links.js'
import type { Logger } from './logger.js'
import type { P2P } from './p2p.js'
import type { SelfState } from './self-state.js'

export interface MembershipInit {
  cluster: string
  /** Addresses to join through; redialled while under-connected. */
  join: string[]
  heartbeatMs: number
  suspectAfterMs: number
  deadAfterMs: number
  /** Direct connections to keep. */
  targetPeers: number
}

export interface MembershipComponents {
  p2p: P2P
  gossip: Gossip
  logger: Logger
  /** This node's own NodeState. */
  self: SelfState
  /** Monotonic milliseconds. */
  now: () => number
  /** The declaration digest every heartbeat carries. */
  declsDigest: () => string
  /** A valid heartbeat arrived from a peer (after the member table took it in). */
  onHeartbeat?: (peer: string, now: number) => void
  /** A member's state or status changed: the placement view changed. */
  onChange?: () => void
}

const SWEEP_MS = 100
/** Full state is re-gossiped this often even when unchanged, for members that hear it only by gossip. */
const STATE_REFRESH_MS = 30_000
const DIAL_TIMEOUT_MS = 3000
const PROBE_TIMEOUT_MS = 1000
/** Dead members are redialled this often, so a healed partition reconnects. */
const DEAD_REDIAL_MS = 5000
const MAX_PARALLEL_DIALS = 8
/**
 * While member digests differ, this node asks one peer for hints at most this often: asking every
 * differing peer made each join cost O(N^2) streams, and past 20 nodes on 2 cores the load fed on
 * itself (late heartbeats, suspects, more asks).
 */
const ASK_PEERS_EVERY_MS = 500

/**
 * Who is in the cluster: heartbeats to and from connected peers, this node's NodeState gossiped
 * when it changes and pulled by peers that miss it, peer hints and redials so every member finds
 * every other, and the member table with its status changes logged.
 */
export class Membership {
  readonly table: MemberTable
  readonly links: PeerLinks
  readonly stateTopic: string
  readonly #selfId: string
  readonly #timers: NodeJS.Timeout[] = []
  readonly #dialing = new Set<string>()
  readonly #lastDialAt = new Map<string, number>()
  readonly #pulling = new Set<string>()
  readonly #joinPeers = new Map<string, string>()
  /** Addresses of peers heard of from other peers, not yet members. */
  readonly #hints = new Map<string, string[]>()
  #askedAt = Number.NEGATIVE_INFINITY
  #lastRefreshAt = 0
  /** True until a state publish reached at least one peer: publishes before the mesh forms are lost. */
  #unpublished = true
  #stopping = false
  #agreed = false

  constructor(
    private readonly init: MembershipInit,
    private readonly components: MembershipComponents,
  ) {
    this.#selfId = components.self.current.node
    this.stateTopic = `gary/1/${init.cluster}/state`
    this.table = new MemberTable(this.#selfId, {
      suspectAfterMs: init.suspectAfterMs,
      deadAfterMs: init.deadAfterMs,
      forgetAfterMs: 60 * 60 * 1000,
    })
    this.links = new PeerLinks(
      {
        cluster: init.cluster,
        maxHeartbeatBytes: MAX_HEARTBEAT_BYTES,
        maxStateBytes: MAX_NODE_STATE_BYTES,
        maxPeersBytes: MAX_PEER_HINTS_BYTES,
      },
      {
        libp2p: components.p2p,
        logger: components.logger,
        onHeartbeat: (peer, frame) => this.#onHeartbeat(peer, frame),
        ownState: () => encodeNodeState(components.self.current),
        peerHints: () => encodePeerHints(this.#peerHints()),
      },
    )
  }

  async start(): Promise<void> {
    const { p2p, gossip, logger } = this.components
    gossip.subscribe(this.stateTopic, (signer, data) => this.#onStateMessage(signer, data))
    await this.links.start()
    p2p.addEventListener('peer:connect', (event) => {
      logger.info({ peer: event.detail.toString() }, 'peer connected')
      this.#heartbeat()
      void this.#askPeers(event.detail)
    })
    p2p.addEventListener('peer:disconnect', (event) => {
      logger.info({ peer: event.detail.toString() }, 'peer disconnected')
      void this.#probe(event.detail)
    })
    this.#timers.push(setInterval(() => this.#heartbeat(), this.init.heartbeatMs))
    this.#timers.push(setInterval(() => this.#sweep(), SWEEP_MS))
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
    return this.#agreed
  }

  /** Gossips this node's NodeState now (after it changed). */
  publishState(): void {
    void this.#publishState()
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
    // Fresh evidence can only change this member's status, and only if it was not alive: a sweep
    // of the whole table for every state made each round of states O(N^2) per node.
    if (this.table.get(state.node)?.status !== 'alive') this.#sweep()
    this.components.onChange?.()
    return true
  }

  #onHeartbeat(peer: string, frame: Uint8Array): boolean {
    const decoded = decodeHeartbeat(frame)
    if (!decoded.ok) {
      this.components.logger.debug({ peer, reason: decoded.reason }, 'dropped malformed heartbeat')
      return false
    }
    const now = this.components.now()
    const outcome = this.table.observeHeartbeat(peer, decoded.value, now)
    if (outcome === 'needs-state') void this.#pullState(peer)
    this.components.onHeartbeat?.(peer, now)
    const sameMembers = decoded.value.members === this.table.liveDigest()
    if (!this.#agreed && sameMembers && decoded.value.decls === this.components.declsDigest()) {
      this.#agreed = true
      this.components.onChange?.()
    }
    if (!sameMembers && now - this.#askedAt > ASK_PEERS_EVERY_MS) {
      this.#askedAt = now
      void this.#askPeers(peerIdFromString(peer))
    }
    return true
  }

  async #pullState(peer: string): Promise<void> {
    if (this.#pulling.has(peer) || this.#stopping) return
    this.#pulling.add(peer)
    try {
      const bytes = await this.links.pullState(peerIdFromString(peer), AbortSignal.timeout(DIAL_TIMEOUT_MS))
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
    const beat = {
      incarnation: self.incarnation,
      seq: self.seq,
      members: this.table.liveDigest(),
      decls: this.components.declsDigest(),
    }
    this.links.sendHeartbeat(encodeHeartbeat(beat), now)
    if (this.#unpublished || now - this.#lastRefreshAt >= STATE_REFRESH_MS) void this.#publishState()
    this.#redial(now)
  }

  async #publishState(): Promise<void> {
    this.#lastRefreshAt = this.components.now()
    try {
      const recipients = await this.components.gossip.publish(
        this.stateTopic,
        encodeNodeState(this.components.self.current),
      )
      this.#unpublished = recipients === 0
    } catch (err) {
      this.#unpublished = true
      this.components.logger.debug({ err: (err as Error).message }, 'state publish failed')
    }
  }

  /** Alive members' addresses, for a peer that asks where to dial. */
  #peerHints() {
    return this.table
      .list()
      .filter((member) => member.status === 'alive' && member.state !== undefined)
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

  #sweep(): void {
    if (this.#stopping) return
    const changes = this.table.sweep(this.components.now())
    if (changes.length > 0) this.components.onChange?.()
    for (const change of changes) {
      const fields = { member: change.id, from: change.from }
      if (change.to === 'dead') {
        this.components.logger.info(fields, 'member dead')
        // A half-open connection to a silent member would stop redials from ever reaching it again.
        void this.components.p2p.hangUp(peerIdFromString(change.id)).catch(() => {})
      } else if (change.to === 'suspect') this.components.logger.info(fields, 'member suspect')
      else if (change.from === 'dead') this.components.logger.info(fields, 'member back')
      else this.components.logger.info(fields, 'member alive again')
    }
  }

  /**
   * A peer's last connection closed. If it cannot be dialled again at once, its process is gone
   * (refused) or unreachable: that is evidence of death well before its heartbeats age out.
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
      this.#sweep()
    }
  }

  /** Keeps dialling join addresses and known members while under-connected. */
  #redial(now: number): void {
    const p2p = this.components.p2p
    const connected = new Set(p2p.getConnections().map((c) => c.remotePeer.toString()))
    if (connected.size >= this.init.targetPeers) return
    for (const addr of this.init.join) {
      const peer = this.#joinPeers.get(addr)
      if (peer !== undefined && connected.has(peer)) continue
      this.#dial(`join:${addr}`, [multiaddr(addr)], now, this.init.heartbeatMs, (remote) =>
        this.#joinPeers.set(addr, remote),
      )
    }
    for (const member of this.table.list()) {
      if (connected.has(member.id) || member.state === undefined) continue
      if (connected.size + this.#dialing.size >= this.init.targetPeers) break
      const every = member.status === 'dead' ? DEAD_REDIAL_MS : this.init.heartbeatMs
      this.#dial(member.id, this.#memberAddrs(member), now, every)
    }
    for (const [id, addrs] of this.#hints) {
      if (connected.has(id)) continue
      if (connected.size + this.#dialing.size >= this.init.targetPeers) break
      this.#dial(id, withPeerId(id, addrs), now, DEAD_REDIAL_MS)
    }
  }

  #dial(
    key: string,
    addrs: Multiaddr[],
    now: number,
    every: number,
    onConnected?: (peer: string) => void,
  ): void {
    if (addrs.length === 0 || this.#dialing.has(key) || this.#dialing.size >= MAX_PARALLEL_DIALS) return
    if (now - (this.#lastDialAt.get(key) ?? Number.NEGATIVE_INFINITY) < every) return
    this.#lastDialAt.set(key, now)
    this.#dialing.add(key)
    this.components.p2p
      .dial(addrs, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      .then((connection) => onConnected?.(connection.remotePeer.toString()))
      .catch((err: Error) => this.components.logger.debug({ target: key, err: err.message }, 'dial failed'))
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

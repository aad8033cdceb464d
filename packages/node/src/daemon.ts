import { performance } from 'node:perf_hooks'
import {
  type Capacity,
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
  setDigest,
} from '@gary/protocol'
import type { ContainerRuntime } from '@gary/runtime'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { readClusterKey } from './cluster-key.js'
import type { DaemonConfig } from './config.js'
import { Declarations } from './declarations.js'
import { Gossip, type Verdict } from './gossip.js'
import { loadOrCreatePeerKey, nextIncarnation } from './identity.js'
import { PeerLinks } from './links.js'
import type { Logger } from './logger.js'
import { createP2P, type P2P } from './p2p.js'
import { SelfState } from './self-state.js'

/** Hooks for fault tests only: never set in production. */
export interface TestHooks {
  /** Drop this many declaration gossip messages on arrival. */
  dropDeclGossip?: number
  /** Serve `POST /v1/test/partition` and `/v1/test/heal`. */
  partition?: boolean
}

export interface DaemonComponents {
  logger: Logger
  runtime: ContainerRuntime
  testHooks?: TestHooks
  /** Monotonic milliseconds; member ages are measured with it. */
  monotonicNow?: () => number
  /** Wall-clock milliseconds, for incarnations only. */
  wallNow?: () => number
}

/** One member as the API reports it. */
export interface NodeView {
  id: string
  self: boolean
  state: 'alive' | 'suspect' | 'dead'
  incarnation: number
  addrs: string[]
  labels: Record<string, string>
  capacity: Capacity
  draining: boolean
  /** Milliseconds since this node last heard from the member; 0 for itself. */
  lastSeenMs: number
}

const SWEEP_MS = 100
const SUMMARY_MS = 10_000
/** Full state is re-gossiped this often even when unchanged, for members that hear it only by gossip. */
const STATE_REFRESH_MS = 30_000
const DIAL_TIMEOUT_MS = 3000
const PROBE_TIMEOUT_MS = 1000
/** Dead members are redialled this often, so a healed partition reconnects. */
const DEAD_REDIAL_MS = 5000
const MAX_PARALLEL_DIALS = 8
/** A peer whose member digest differs from ours is asked for hints at most this often. */
const ASK_PEERS_EVERY_MS = 500
/** How long a peer's declaration digest may differ from ours before we pull its set. */
const ANTI_ENTROPY_GRACE_MS = 1000
const TOMBSTONE_COLLECT_MS = 60 * 60 * 1000

/**
 * A Gary node: joins the cluster through its join addresses, tells connected peers it is alive
 * every heartbeat, gossips its NodeState when it changes, and keeps the member table.
 */
export class Daemon {
  readonly #config: DaemonConfig
  readonly #log: Logger
  readonly #runtime: ContainerRuntime
  readonly #now: () => number
  readonly #wallNow: () => number
  #p2p?: P2P
  #gossip?: Gossip
  #links?: PeerLinks
  #members?: MemberTable
  #self?: SelfState
  #declarations?: Declarations
  readonly #testHooks: TestHooks
  readonly #blocked = new Set<string>()
  readonly #lastSyncAt = new Map<string, number>()
  readonly #mismatchSince = new Map<string, number>()
  /** False until a first declaration sync succeeded: until then, pull at the first mismatch. */
  #caughtUp = false
  readonly #timers: NodeJS.Timeout[] = []
  readonly #dialing = new Set<string>()
  readonly #lastDialAt = new Map<string, number>()
  readonly #pulling = new Set<string>()
  readonly #joinPeers = new Map<string, string>()
  /** Addresses of peers heard of from other peers, not yet members. */
  readonly #hints = new Map<string, string[]>()
  readonly #askedAt = new Map<string, number>()
  #lastRefreshAt = 0
  /** True until a state publish reached at least one peer: publishes before the mesh forms are lost. */
  #unpublished = true
  #stopping = false

  constructor(config: DaemonConfig, components: DaemonComponents) {
    this.#config = config
    this.#log = components.logger
    this.#runtime = components.runtime
    this.#now = components.monotonicNow ?? (() => performance.now())
    this.#wallNow = components.wallNow ?? Date.now
    this.#testHooks = components.testHooks ?? {}
  }

  get stateTopic(): string {
    return `gary/1/${this.#config.cluster}/state`
  }

  get peerId(): string {
    return this.#p2p?.peerId.toString() ?? ''
  }

  async start(): Promise<void> {
    const config = this.#config
    const privateKey = await loadOrCreatePeerKey(config.dataDir)
    const incarnation = await nextIncarnation(config.dataDir, this.#wallNow())
    const clusterKey = config.clusterKey === undefined ? undefined : await readClusterKey(config.clusterKey)
    const info = await this.#runtime.info(AbortSignal.timeout(10_000))

    const p2p = await createP2P({
      privateKey,
      listen: config.listen,
      clusterKey,
      allow: config.allow,
      ...(this.#testHooks.partition === true ? { blocked: this.#blocked } : {}),
    })
    this.#p2p = p2p
    const self = p2p.peerId.toString()
    this.#members = new MemberTable(self, {
      suspectAfterMs: config.suspectAfterMs,
      deadAfterMs: config.deadAfterMs,
      forgetAfterMs: 60 * 60 * 1000,
    })
    this.#self = new SelfState(self, incarnation, {
      addrs: this.#ownAddrs(),
      labels: config.labels,
      capacity: {
        cpuMillis: config.cpuMillis ?? info.cpuMillis,
        memoryBytes: config.memoryBytes ?? info.memoryBytes,
      },
      draining: false,
      promises: [],
      refusals: [],
    })

    this.#gossip = new Gossip(p2p.services.pubsub)
    this.#gossip.subscribe(this.stateTopic, (signer, data) => this.#onStateMessage(signer, data))
    this.#declarations = new Declarations(
      { cluster: config.cluster, dataDir: config.dataDir, dropGossip: this.#testHooks.dropDeclGossip },
      {
        libp2p: p2p,
        gossip: this.#gossip,
        logger: this.#log,
        self,
        wallNow: this.#wallNow,
      },
    )
    await this.#declarations.start()
    this.#links = new PeerLinks(
      {
        cluster: config.cluster,
        maxHeartbeatBytes: MAX_HEARTBEAT_BYTES,
        maxStateBytes: MAX_NODE_STATE_BYTES,
        maxPeersBytes: MAX_PEER_HINTS_BYTES,
      },
      {
        libp2p: p2p,
        logger: this.#log,
        onHeartbeat: (peer, frame) => this.#onHeartbeat(peer, frame),
        ownState: () => encodeNodeState(this.#self!.current),
        peerHints: () => encodePeerHints(this.#peerHints()),
      },
    )
    await this.#links.start()

    p2p.addEventListener('peer:connect', (event) => {
      this.#log.info({ peer: event.detail.toString() }, 'peer connected')
      this.#heartbeat()
      void this.#askPeers(event.detail)
    })
    p2p.addEventListener('peer:disconnect', (event) => {
      const peer = event.detail.toString()
      this.#log.info({ peer }, 'peer disconnected')
      void this.#probe(event.detail)
    })
    p2p.addEventListener('self:peer:update', () => {
      if (this.#self!.update({ addrs: this.#ownAddrs() })) void this.#publishState()
    })

    this.#every(config.heartbeatMs, () => this.#heartbeat())
    this.#every(SWEEP_MS, () => this.#sweep())
    this.#every(SUMMARY_MS, () => this.#summary())
    this.#every(TOMBSTONE_COLLECT_MS, () => this.#declarations!.collectTombstones())

    if (config.clusterKey === undefined) {
      this.#log.warn(
        'no cluster key: this cluster is open to anyone who can reach its port (make one with `gary keygen`)',
      )
    }
    this.#log.info(
      { node: self, incarnation, cluster: config.cluster, join: this.joinAddrs(), runtime: info.driver },
      'started',
    )
    this.#dialJoinAddrs()
  }

  async stop(): Promise<void> {
    this.#stopping = true
    for (const timer of this.#timers) clearInterval(timer)
    await this.#declarations?.stop()
    await this.#links?.stop()
    await this.#p2p?.stop()
    this.#log.info('stopped')
  }

  get declarations(): Declarations {
    return this.#declarations!
  }

  /** Test hook: refuse every connection with these peers (a partition), or none when empty. */
  async partition(peers: string[]): Promise<void> {
    this.#blocked.clear()
    for (const peer of peers) this.#blocked.add(peer)
    this.#log.info({ peers }, peers.length === 0 ? 'test hook: partition healed' : 'test hook: partitioned')
    await Promise.all(peers.map((peer) => this.#p2p!.hangUp(peerIdFromString(peer)).catch(() => {})))
  }

  /** This node's dialable addresses, with its peer id: what another node passes to `--join`. */
  joinAddrs(): string[] {
    return this.#p2p?.getMultiaddrs().map((addr) => addr.toString()) ?? []
  }

  /** Every known member and this node, ordered by id. */
  nodes(): NodeView[] {
    const now = this.#now()
    const self = this.#self!.current
    const views: NodeView[] = [
      {
        id: self.node,
        self: true,
        state: 'alive',
        incarnation: self.incarnation,
        addrs: self.addrs,
        labels: self.labels,
        capacity: self.capacity,
        draining: self.draining,
        lastSeenMs: 0,
      },
    ]
    for (const member of this.#members!.list()) {
      if (member.state === undefined) continue
      views.push({
        id: member.id,
        self: false,
        state: member.status,
        incarnation: member.state.incarnation,
        addrs: member.state.addrs,
        labels: member.state.labels,
        capacity: member.state.capacity,
        draining: member.state.draining,
        lastSeenMs: Math.max(0, Math.round(now - member.heardAt)),
      })
    }
    return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  #onStateMessage(signer: string, data: Uint8Array): Verdict {
    const decoded = decodeNodeState(data)
    if (!decoded.ok) {
      this.#log.debug({ from: signer, reason: decoded.reason }, 'rejected malformed state')
      return 'reject'
    }
    if (decoded.value.node !== signer) {
      this.#log.debug({ from: signer, claims: decoded.value.node }, 'rejected state signed by another node')
      return 'reject'
    }
    return this.#observeState(decoded.value, 'gossip') ? 'accept' : 'ignore'
  }

  /** Returns false when the state was stale or our own. */
  #observeState(state: NodeState, via: string): boolean {
    const outcome = this.#members!.observeState(state, this.#now())
    if (outcome === 'self' || outcome === 'stale') {
      this.#log.debug({ member: state.node, seq: state.seq, outcome }, 'ignored state')
      return false
    }
    if (outcome === 'new') {
      this.#hints.delete(state.node)
      // Our member digest changed: tell peers now, so those who miss the newcomer ask at once.
      queueMicrotask(() => this.#heartbeat())
      this.#log.info(
        { member: state.node, labels: state.labels, capacity: state.capacity, via },
        'member joined',
      )
    } else if (outcome === 'restarted') {
      this.#log.info({ member: state.node, incarnation: state.incarnation, via }, 'member restarted')
    } else {
      this.#log.debug({ member: state.node, seq: state.seq, via }, 'member updated')
    }
    this.#sweep()
    return true
  }

  #onHeartbeat(peer: string, frame: Uint8Array): boolean {
    const decoded = decodeHeartbeat(frame)
    if (!decoded.ok) {
      this.#log.debug({ peer, reason: decoded.reason }, 'dropped malformed heartbeat')
      return false
    }
    const now = this.#now()
    const outcome = this.#members!.observeHeartbeat(peer, decoded.value, now)
    if (outcome === 'needs-state') void this.#pullState(peer)
    this.#antiEntropy(peer, now)
    if (
      decoded.value.members !== this.#membersDigest() &&
      now - (this.#askedAt.get(peer) ?? -Infinity) > ASK_PEERS_EVERY_MS
    ) {
      this.#askedAt.set(peer, now)
      void this.#askPeers(peerIdFromString(peer))
    }
    return true
  }

  async #pullState(peer: string): Promise<void> {
    if (this.#pulling.has(peer) || this.#stopping) return
    this.#pulling.add(peer)
    try {
      const bytes = await this.#links!.pullState(peerIdFromString(peer), AbortSignal.timeout(DIAL_TIMEOUT_MS))
      const decoded = decodeNodeState(bytes)
      if (!decoded.ok) {
        this.#log.debug({ peer, reason: decoded.reason }, 'pulled malformed state')
      } else if (decoded.value.node !== peer) {
        this.#log.debug({ peer, claims: decoded.value.node }, 'peer answered with another node state')
      } else {
        this.#observeState(decoded.value, 'pull')
      }
    } catch (err) {
      this.#log.debug({ peer, err: (err as Error).message }, 'state pull failed')
    } finally {
      this.#pulling.delete(peer)
    }
  }

  #heartbeat(): void {
    if (this.#stopping) return
    const now = this.#now()
    const self = this.#self!.current
    const beat = {
      incarnation: self.incarnation,
      seq: self.seq,
      members: this.#membersDigest(),
      decls: this.#declarations!.digest,
    }
    this.#links!.sendHeartbeat(encodeHeartbeat(beat), now)
    if (this.#unpublished || now - this.#lastRefreshAt >= STATE_REFRESH_MS) void this.#publishState()
    this.#redial(now)
  }

  /**
   * Pulls a peer's declarations when its heartbeat shows a digest that differs from ours for
   * longer than gossip takes to deliver a write (at once while this node has not caught up since
   * it started), so a normal apply costs no sync, and a lost message or a partition heals.
   */
  #antiEntropy(id: string, now: number): void {
    const theirs = this.#members!.get(id)?.declDigest
    if (theirs === undefined || theirs === this.#declarations!.digest) {
      this.#mismatchSince.delete(id)
      return
    }
    const since = this.#mismatchSince.get(id) ?? now
    this.#mismatchSince.set(id, since)
    if (this.#caughtUp && now - since < ANTI_ENTROPY_GRACE_MS) return
    if (now - (this.#lastSyncAt.get(id) ?? Number.NEGATIVE_INFINITY) < ANTI_ENTROPY_GRACE_MS) return
    this.#lastSyncAt.set(id, now)
    this.#declarations!.syncFrom(peerIdFromString(id))
      .then(() => {
        this.#caughtUp = true
      })
      .catch((err: Error) => this.#log.debug({ member: id, err: err.message }, 'declaration sync failed'))
  }

  async #publishState(): Promise<void> {
    this.#lastRefreshAt = this.#now()
    try {
      const recipients = await this.#gossip!.publish(this.stateTopic, encodeNodeState(this.#self!.current))
      this.#unpublished = recipients === 0
    } catch (err) {
      this.#unpublished = true
      this.#log.debug({ err: (err as Error).message }, 'state publish failed')
    }
  }

  /** Digest of the members this node knows alive, itself included: peers compare it to find what they miss. */
  #membersDigest(): string {
    const alive = this.#members!.list().filter((m) => m.status !== 'dead' && m.state !== undefined)
    return setDigest([this.peerId, ...alive.map((member) => member.id)])
  }

  /** Alive members' addresses, for a peer that asks where to dial. */
  #peerHints() {
    return this.#members!.list()
      .filter((member) => member.status === 'alive' && member.state !== undefined)
      .slice(0, MAX_PEER_HINTS)
      .map((member) => ({ id: member.id, addrs: member.state!.addrs }))
  }

  /** Learns from a newly connected peer where the other members are, so this node can dial them. */
  async #askPeers(peer: PeerId): Promise<void> {
    try {
      const decoded = decodePeerHints(await this.#links!.askPeers(peer, AbortSignal.timeout(DIAL_TIMEOUT_MS)))
      if (!decoded.ok) {
        this.#log.debug({ peer: peer.toString(), reason: decoded.reason }, 'dropped malformed peer hints')
        return
      }
      for (const hint of decoded.value) {
        if (hint.id !== this.peerId && this.#members!.get(hint.id)?.state === undefined) {
          this.#hints.set(hint.id, hint.addrs)
        }
      }
      this.#redial(this.#now())
    } catch (err) {
      this.#log.debug({ peer: peer.toString(), err: (err as Error).message }, 'peer hints unavailable')
    }
  }

  #sweep(): void {
    if (this.#stopping) return
    for (const change of this.#members!.sweep(this.#now())) {
      const fields = { member: change.id, from: change.from }
      if (change.to === 'dead') {
        this.#log.info(fields, 'member dead')
        // A half-open connection to a silent member would stop redials from ever reaching it again.
        void this.#p2p!.hangUp(peerIdFromString(change.id)).catch(() => {})
      } else if (change.to === 'suspect') this.#log.info(fields, 'member suspect')
      else if (change.from === 'dead') this.#log.info(fields, 'member back')
      else this.#log.info(fields, 'member alive again')
    }
  }

  /**
   * A peer's last connection closed. If it cannot be dialled again at once, its process is gone
   * (refused) or unreachable: that is evidence of death well before its heartbeats age out.
   */
  async #probe(peer: PeerId): Promise<void> {
    const id = peer.toString()
    const member = this.#members?.get(id)
    if (this.#stopping || member === undefined || member.status === 'dead') return
    const startedAt = this.#now()
    try {
      await this.#p2p!.dial(this.#memberAddrs(member), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
    } catch (err) {
      if (this.#stopping || this.#p2p!.getConnections(peer).length > 0) return
      this.#log.debug({ member: id, err: (err as Error).message }, 'member unreachable after disconnect')
      this.#members!.markUnreachable(id, startedAt)
      this.#sweep()
    }
  }

  /** Keeps dialling join addresses and known members while under-connected. */
  #redial(now: number): void {
    const p2p = this.#p2p!
    const connected = new Set(p2p.getConnections().map((c) => c.remotePeer.toString()))
    if (connected.size >= this.#config.targetPeers) return
    for (const addr of this.#config.join) {
      const peer = this.#joinPeers.get(addr)
      if (peer !== undefined && connected.has(peer)) continue
      this.#dial(`join:${addr}`, [multiaddr(addr)], now, this.#config.heartbeatMs, (remote) =>
        this.#joinPeers.set(addr, remote),
      )
    }
    for (const member of this.#members!.list()) {
      if (connected.has(member.id) || member.state === undefined) continue
      if (connected.size + this.#dialing.size >= this.#config.targetPeers) break
      const every = member.status === 'dead' ? DEAD_REDIAL_MS : this.#config.heartbeatMs
      this.#dial(member.id, this.#memberAddrs(member), now, every)
    }
    for (const [id, addrs] of this.#hints) {
      if (connected.has(id)) continue
      if (connected.size + this.#dialing.size >= this.#config.targetPeers) break
      this.#dial(id, withPeerId(id, addrs), now, DEAD_REDIAL_MS)
    }
  }

  #dialJoinAddrs(): void {
    this.#redial(this.#now())
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
    this.#p2p!.dial(addrs, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      .then((connection) => onConnected?.(connection.remotePeer.toString()))
      .catch((err: Error) => this.#log.debug({ target: key, err: err.message }, 'dial failed'))
      .finally(() => this.#dialing.delete(key))
  }

  #memberAddrs(member: Readonly<Member>): Multiaddr[] {
    return withPeerId(member.id, member.state?.addrs ?? [])
  }

  #ownAddrs(): string[] {
    // Members dial these: the peer id suffix is added by the dialler.
    return (this.#p2p?.getMultiaddrs() ?? [])
      .map((addr) => addr.toString().replace(/\/p2p\/[^/]+$/, ''))
      .slice(0, 16)
  }

  #summary(): void {
    const gossip = this.#gossip!.counters
    const links = this.#links!.counters
    const seconds = SUMMARY_MS / 1000
    const last = this.#lastCounters
    const now = {
      msgsIn: gossip.messagesIn + links.framesIn,
      msgsOut: gossip.messagesOut + links.framesOut,
      bytesIn: gossip.bytesIn + links.bytesIn,
      bytesOut: gossip.bytesOut + links.bytesOut,
    }
    this.#log.info(
      {
        members: this.#members!.countByStatus(),
        connections: this.#p2p!.getConnections().length,
        mesh: this.#gossip!.meshPeers(this.stateTopic),
        msgsInPerSec: round((now.msgsIn - last.msgsIn) / seconds),
        msgsOutPerSec: round((now.msgsOut - last.msgsOut) / seconds),
        bytesInPerSec: round((now.bytesIn - last.bytesIn) / seconds),
        bytesOutPerSec: round((now.bytesOut - last.bytesOut) / seconds),
      },
      'gossip summary',
    )
    this.#lastCounters = now
  }

  #lastCounters = { msgsIn: 0, msgsOut: 0, bytesIn: 0, bytesOut: 0 }

  #every(ms: number, task: () => void): void {
    this.#timers.push(setInterval(task, ms))
  }
}

const round = (value: number) => Math.round(value * 10) / 10

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

import {
  decodeHeartbeat,
  decodeMemberNote,
  decodeMemberStates,
  decodeMemberVersions,
  decodeNodeState,
  decodePeerHints,
  type EventRecord,
  encodeHeartbeat,
  encodeMemberNote,
  encodeMemberVersions,
  encodeNodeState,
  encodePeerHints,
  encodeShortBeat,
  encodeStatesWithin,
  isShortBeat,
  MAX_HEARTBEAT_BYTES,
  MAX_MEMBER_NOTE_BYTES,
  MAX_MEMBER_SYNC_BYTES,
  MAX_NODE_STATE_BYTES,
  MAX_PEER_HINTS_BYTES,
  type NodeState,
} from '@gary/protocol'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Clock } from '../clock/clock.js'
import type { ClockGuard } from '../clock/clock-guard.js'
import type { Logger } from '../logger.js'
import type { Gossip, Verdict } from '../net/gossip.js'
import { knock } from '../net/knock.js'
import { PeerLinks } from '../net/links.js'
import type { P2P } from '../net/p2p.js'
import { Rejection, type Rejections } from '../net/rejections.js'
import { nodeLabel } from '../node-label.js'
import type { Reply } from '../port.js'
import { MembershipAgent } from './agent.js'
import type { MembershipInit } from './context.js'
import { JoinReports } from './join-reports.js'
import type { DialTarget, MembershipPort } from './port.js'
import type { SelfState } from './self-state.js'
import { ShortBeats } from './short-beats.js'

export type { MembershipInit }

export interface MembershipComponents {
  p2p: P2P
  gossip: Gossip
  logger: Logger
  /** This node's own NodeState. */
  self: SelfState
  /** Monotonic time, wall time (heartbeats carry it) and timers. */
  clock: Clock
  /** Follows the peers' clocks from their heartbeats. */
  clockGuard: Pick<ClockGuard, 'observe'>
  /** The declaration digest every heartbeat carries. */
  declsDigest: () => string
  /** A heartbeat from a peer was taken in; `declDigest` as the member table now holds it. */
  onHeartbeat?: (peer: string, declDigest: string | undefined, now: number) => void
  /** A member's state or status changed: the placement view changed. */
  onChange?: () => void
  /** Where refused messages are logged and counted. */
  rejections?: Rejections
  /** Told what this node saw members do, for `gary events`. */
  record?: (event: EventRecord) => void
}

/**
 * Membership over libp2p: the `MembershipAgent` decides, this class carries its messages. Heartbeats
 * and requests travel on the direct links (`PeerLinks`), states and member notes on gossipsub
 * topics; frames are decoded here, at the edge, and only valid values reach the agent.
 */
export class Membership {
  readonly agent: MembershipAgent
  readonly links: PeerLinks
  readonly stateTopic: string
  /** Where this node hears its scope's state changes: its own shard's topic and the two next to it. */
  readonly promiseTopics: readonly string[]
  readonly #joinReports: JoinReports
  #encoded: { state: NodeState; bytes: Uint8Array } | undefined
  #stopping = false
  readonly #shortBeats: ShortBeats

  constructor(
    init: MembershipInit,
    private readonly components: MembershipComponents,
  ) {
    this.#joinReports = new JoinReports(components.logger)
    this.#shortBeats = new ShortBeats(init.heartbeatMs)
    this.agent = new MembershipAgent(init, {
      port: this.#port(),
      clock: components.clock,
      clockGuard: components.clockGuard,
      random: Math.random,
      logger: components.logger,
      self: components.self,
      declsDigest: components.declsDigest,
      ...(components.onHeartbeat === undefined ? {} : { onHeartbeat: components.onHeartbeat }),
      ...(components.onChange === undefined ? {} : { onChange: components.onChange }),
      ...(components.record === undefined ? {} : { record: components.record }),
      ...(components.rejections === undefined ? {} : { rejections: components.rejections }),
    })
    this.stateTopic = this.agent.topics.state
    this.promiseTopics = this.agent.topics.promises
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
        ownState: () => this.#encode(this.agent.ownState()),
        peerHints: (peer) => encodePeerHints(this.agent.peerHintsAsked(peer)),
        memberSync: (request, peer) => this.#answerMemberSync(request, peer),
        onNote: (peer, frame) => this.#onToldNote(peer, frame),
      },
    )
  }

  get table() {
    return this.agent.table
  }

  async start(): Promise<void> {
    const { p2p, gossip, logger } = this.components
    for (const topic of this.agent.topics.states)
      gossip.subscribe(topic, (signer, data) => this.#onStateMessage(signer, data))
    for (const topic of this.agent.topics.notes)
      gossip.subscribe(topic, (signer, data) => this.#onMemberNote(signer, data))
    await this.links.start()
    p2p.addEventListener('peer:connect', (event) => {
      const peer = event.detail.toString()
      logger.info({ peer, name: nodeLabel(peer, this.agent.table.get(peer)?.state?.name) }, 'peer connected')
      const dialled = p2p.getConnections(event.detail).some((c) => c.direction === 'outbound')
      this.agent.connected(event.detail.toString(), dialled)
    })
    p2p.addEventListener('peer:disconnect', (event) => {
      const peer = event.detail.toString()
      logger.info(
        { peer, name: nodeLabel(peer, this.agent.table.get(peer)?.state?.name) },
        'peer disconnected',
      )
      if (p2p.getConnections(event.detail).length === 0) {
        this.#shortBeats.forget(peer)
        this.agent.disconnected(peer)
      }
    })
    this.agent.start()
  }

  async stop(): Promise<void> {
    this.#stopping = true
    this.agent.stop()
    await this.links.stop()
  }

  /** See `MembershipAgent.leave`: resolves with the peers the note was sent to (0 if it could not be). */
  leave(): Promise<number> {
    return new Promise((resolve) => {
      this.agent.leave((result) => {
        if (!result.ok) this.components.logger.warn({ err: result.reason }, 'could not announce leaving')
        resolve(result.ok ? result.value : 0)
      })
    })
  }

  /** See `MembershipAgent.agreedWithAPeer`. */
  get agreedWithAPeer(): boolean {
    return this.agent.agreedWithAPeer
  }

  /** See `MembershipAgent.agreedAt`. */
  agreedAt(peer?: string): number | undefined {
    return this.agent.agreedAt(peer)
  }

  /** See `MembershipAgent.reach`. */
  reach(members: readonly string[]): void {
    this.agent.reach(members)
  }

  /** See `MembershipAgent.publishState`. */
  publishState(everyone = false): void {
    this.agent.publishState(everyone)
  }

  #port(): MembershipPort {
    const { p2p, gossip } = this.components
    return {
      connections: () => new Set(p2p.getConnections().map((c) => c.remotePeer.toString())),
      sendHeartbeats: (beatFor, to) => {
        // The member digest is per peer with partial membership, the same for all otherwise: each
        // frame is encoded once.
        const frames = new Map<string, Uint8Array>()
        const now = this.components.clock.now()
        this.links.sendHeartbeat(
          (peer, mayShorten) => {
            const beat = beatFor(peer)
            if (this.#shortBeats.shorten(peer, beat, mayShorten, now)) return encodeShortBeat()
            const key = beat.ask === true ? `${beat.members} ask` : beat.members
            let frame = frames.get(key)
            if (frame === undefined) {
              frame = encodeHeartbeat(beat)
              frames.set(key, frame)
            }
            return frame
          },
          now,
          to,
        )
      },
      publishState: (topic, state, done) => settle(() => gossip.publish(topic, this.#encode(state)), done),
      publishNote: (topic, note, done) => settle(() => gossip.publish(topic, encodeMemberNote(note)), done),
      pullState: (peer, addrs, timeoutMs, done) =>
        settle(async () => {
          const target = addrs === undefined ? peerIdFromString(peer) : withPeerId(peer, addrs)
          const decoded = decodeNodeState(await this.links.pullState(target, AbortSignal.timeout(timeoutMs)))
          if (!decoded.ok) throw new Error(`malformed state: ${decoded.reason}`)
          return decoded.value
        }, done),
      syncMembers: (peer, versions, timeoutMs, done) =>
        settle(async () => {
          const request = encodeMemberVersions(versions)
          const bytes = await this.links.syncMembers(
            peerIdFromString(peer),
            request,
            AbortSignal.timeout(timeoutMs),
          )
          const decoded = decodeMemberStates(bytes)
          if (!decoded.ok) throw new Error(`malformed member sync: ${decoded.reason}`)
          return decoded.value
        }, done),
      askPeers: (peer, timeoutMs, done) =>
        settle(async () => {
          const decoded = decodePeerHints(
            await this.links.askPeers(peerIdFromString(peer), AbortSignal.timeout(timeoutMs)),
          )
          if (!decoded.ok) throw new Error(`malformed peer hints: ${decoded.reason}`)
          return decoded.value
        }, done),
      tell: (peer, note, timeoutMs, done) =>
        settle(
          () =>
            this.links.tellNote(
              peerIdFromString(peer),
              encodeMemberNote(note),
              AbortSignal.timeout(timeoutMs),
            ),
          done,
        ),
      dial: (target, timeoutMs, done) => {
        const addrs = dialAddrs(target)
        if (addrs.length === 0) return false
        const dialled = async () => {
          try {
            const peer = (
              await p2p.dial(addrs, { signal: AbortSignal.timeout(timeoutMs) })
            ).remotePeer.toString()
            if (target.kind === 'join') this.#joinReports.joined(target.addr, peer)
            return peer
          } catch (err) {
            // Why a join address cannot be dialled is the user's to fix: the error's causes say.
            if (target.kind === 'join' && !this.#stopping) this.#joinReports.failed(target.addr, err)
            throw err
          }
        }
        settle(dialled, done)
        return true
      },
      knock: (peer, addrs, timeoutMs, done) =>
        settle(() => {
          // At the host this node reaches the member at, on its listening ports: a member's other
          // addresses (loopback, a container bridge's 172.17.0.1) may be this node's own machine,
          // whose daemon answered for a machine powered off.
          const hosts = new Set(
            p2p.getConnections(peerIdFromString(peer)).map((c) => c.remoteAddr.nodeAddress().address),
          )
          return knock(hosts.size === 0 ? addrs : atHosts(addrs, hosts), timeoutMs)
        }, done),
      hangUp: (peer) => {
        settle(
          async () => p2p.hangUp(peerIdFromString(peer)),
          (result) => {
            if (!result.ok) this.components.logger.debug({ peer, err: result.reason }, 'hang-up failed')
          },
        )
      },
    }
  }

  /** Our own state, encoded once per version: it goes to several topics and to every peer that pulls. */
  #encode(state: NodeState): Uint8Array {
    if (this.#encoded?.state !== state) this.#encoded = { state, bytes: encodeNodeState(state) }
    return this.#encoded.bytes
  }

  #onStateMessage(signer: string, data: Uint8Array): Verdict {
    const decoded = decodeNodeState(data)
    if (!decoded.ok) {
      this.agent.rejections.refuse(Rejection.StateMalformed, { from: signer, reason: decoded.reason })
      return 'reject'
    }
    return this.agent.stateGossiped(signer, decoded.value)
  }

  #onHeartbeat(peer: string, frame: Uint8Array): boolean {
    const now = this.components.clock.now()
    if (isShortBeat(frame)) {
      // The first frame of every stream is full: a short one before it has nothing to repeat.
      const beat = this.#shortBeats.expand(peer, now)
      if (beat !== undefined) this.agent.heartbeatReceived(peer, beat)
      return true
    }
    const decoded = decodeHeartbeat(frame)
    if (!decoded.ok) {
      this.agent.rejections.refuse(Rejection.HeartbeatMalformed, { peer, reason: decoded.reason })
      return false
    }
    this.#shortBeats.heardFull(peer, decoded.value, now)
    this.agent.heartbeatReceived(peer, decoded.value)
    return true
  }

  #onMemberNote(signer: string, data: Uint8Array): Verdict {
    const decoded = decodeMemberNote(data)
    if (!decoded.ok) {
      this.agent.rejections.refuse(Rejection.NoteMalformed, { from: signer, reason: decoded.reason })
      return 'reject'
    }
    return this.agent.noteGossiped(signer, decoded.value)
  }

  #onToldNote(peer: string, frame: Uint8Array): boolean {
    const decoded = decodeMemberNote(frame)
    if (!decoded.ok) {
      this.agent.rejections.refuse(Rejection.ToldNoteMalformed, { peer, reason: decoded.reason })
      return false
    }
    return this.agent.noteTold(peer, decoded.value)
  }

  #answerMemberSync(request: Uint8Array, peer: string): Uint8Array | undefined {
    const decoded = decodeMemberVersions(request)
    if (!decoded.ok) {
      this.agent.rejections.refuse(Rejection.MemberSyncRequestMalformed, { peer, reason: decoded.reason })
      return undefined
    }
    return encodeStatesWithin(this.agent.memberSyncAsked(peer, decoded.value), MAX_MEMBER_SYNC_BYTES)
  }
}

/** Hands the outcome of `request` (a throw included: a peer id that does not parse) to a port reply. */
function settle<T>(request: () => Promise<T>, done: Reply<T>): void {
  let promise: Promise<T>
  try {
    promise = request()
  } catch (err) {
    promise = Promise.reject(err)
  }
  promise.then(
    (value) => done({ ok: true, value }),
    (err: Error) => done({ ok: false, reason: err.message }),
  )
}

/** The multiaddrs a dial target names (addresses are parsed for the members chosen only). */
function dialAddrs(target: DialTarget): Multiaddr[] {
  if (target.kind === 'member') return withPeerId(target.id, target.addrs)
  try {
    return [multiaddr(target.addr)]
  } catch {
    return []
  }
}

/** `addrs`' TCP ports at each of `hosts` (the addresses a connection to the member came from). */
function atHosts(addrs: readonly string[], hosts: Set<string>): string[] {
  const ports = new Set<number>()
  for (const addr of addrs) {
    try {
      const { transport, port } = multiaddr(addr).toOptions()
      if (transport === 'tcp') ports.add(port)
    } catch {}
  }
  const out: string[] = []
  for (const host of hosts)
    for (const port of ports) out.push(`/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/tcp/${port}`)
  return out
}

/** Dialable multiaddrs for a peer: each address with the peer id appended, unparsable ones dropped. */
function withPeerId(id: string, addrs: readonly string[]): Multiaddr[] {
  const suffix = `/p2p/${id}`
  return addrs.flatMap((addr) => {
    try {
      return [multiaddr(addr.endsWith(suffix) ? addr : `${addr}${suffix}`)]
    } catch {
      return []
    }
  })
}

import type { DeclarationsPort } from '@gary/node/declarations'
import type { Connections, DialTarget, MembershipPort, Reply, Result } from '@gary/node/membership'
import {
  type DeclEntry,
  encodeDeclEntries,
  encodeMemberNote,
  type Heartbeat,
  type MemberNote,
  type MemberVersions,
  type NodeState,
  type PeerHints,
} from '@gary/protocol'
import type { SimNode, SimWorld, Subscribers } from './sim-node.js'
import { heartbeatBytes, hintsBytes, stateBytes, statesBytes, versionsBytes } from './sizes.js'

const NOBODY: Subscribers = { nodes: [], set: new Set() }
/** A request that carries nothing but its kind (a pull, a hints ask). */
const REQUEST_BYTES = 16
/** A TCP handshake's segment (SYN, SYN-ACK), headers only. */
const KNOCK_BYTES = 60
/** Gossipsub's flood, counted over this many independent mesh paths (see `Network.flood`). */
const FLOOD_PATHS = 3

/**
 * One process's network in the simulator: the ports of its membership and declarations agents
 * over the simulated network, as the daemon's are over libp2p. Connections are opened by a
 * handshake and closed at each end when that end learns of it (a reset or a close reaches the
 * other end only if it can reach it); gossip goes to a topic's subscribers when some of them are
 * connected (gossipsub's mesh and fanout form over connections); requests are answered by the
 * peer's own agent, refused by a process that is down, and fail at their timeout when the answer
 * is lost. A port belongs to one incarnation: nothing reaches a restarted process's new agents.
 */
export class SimPort implements MembershipPort, DeclarationsPort {
  constructor(
    private readonly node: SimNode,
    private readonly world: SimWorld,
    private readonly incarnation: number,
  ) {}

  get #live(): boolean {
    return this.node.up && this.node.incarnation === this.incarnation
  }

  connections(): Connections {
    return this.node.connections
  }

  sendHeartbeats(beatFor: (peer: string) => Heartbeat, to?: string): void {
    const from = this.node
    if (to === undefined) for (const peer of from.links.values()) this.#beat(peer, beatFor)
    else {
      const peer = from.links.get(to)
      if (peer !== undefined) this.#beat(peer, beatFor)
    }
  }

  #beat(peer: SimNode, beatFor: (peer: string) => Heartbeat): void {
    const from = this.node
    const beat = beatFor(peer.id)
    this.world.network.send(from.id, peer.id, heartbeatBytes(beat), () => {
      // A closed connection drops what was still in flight on it.
      if (peer.up && peer.links.has(from.id)) peer.membership.heartbeatReceived(from.id, beat)
    })
  }

  publishState(topic: string, state: NodeState, done: Reply<number>): void {
    const from = this.node.id
    this.#publish(
      this.#topic(topic),
      stateBytes(state),
      (peer) => peer.membership.stateGossiped(from, state),
      done,
    )
  }

  publishNote(topic: string, note: MemberNote, done: Reply<number>): void {
    const from = this.node.id
    const size = encodeMemberNote(note).length
    this.#publish(this.#topic(topic), size, (peer) => peer.membership.noteGossiped(from, note), done)
  }

  pullState(
    peer: string,
    _addrs: readonly string[] | undefined,
    timeoutMs: number,
    done: Reply<NodeState>,
  ): void {
    this.#request(peer, REQUEST_BYTES, timeoutMs, done, (at) => {
      const state = at.membership.ownState()
      return { value: state, bytes: stateBytes(state) }
    })
  }

  syncMembers(peer: string, versions: MemberVersions, timeoutMs: number, done: Reply<NodeState[]>): void {
    const from = this.node.id
    this.#request(peer, versionsBytes(versions), timeoutMs, done, (at) => {
      const states = at.membership.memberSyncAsked(from, versions)
      return { value: states, bytes: statesBytes(states) }
    })
  }

  askPeers(peer: string, timeoutMs: number, done: Reply<PeerHints>): void {
    const from = this.node.id
    this.#request(peer, REQUEST_BYTES, timeoutMs, done, (at) => {
      const hints = at.membership.peerHintsAsked(from)
      return { value: hints, bytes: hintsBytes(hints) }
    })
  }

  tell(peer: string, note: MemberNote, timeoutMs: number, done: Reply<void>): void {
    const from = this.node.id
    const end = this.#ending(timeoutMs, done)
    const to = this.world.byId(peer)
    if (to === undefined) return
    this.world.network.send(from, peer, encodeMemberNote(note).length, () => {
      if (!to.up) return
      to.membership.noteTold(from, note)
      end({ ok: true, value: undefined })
    })
  }

  dial(target: DialTarget, timeoutMs: number, done: Reply<string>): boolean {
    const id = target.kind === 'join' ? target.addr : target.id
    const peer = this.world.byId(id)
    if (peer === undefined || peer === this.node) return false
    const self = this.node
    if (self.links.has(id)) {
      this.#later(() => done({ ok: true, value: id }))
      return true
    }
    // A machine gone answers nothing: such a dial ends at its timeout.
    const end = this.#ending(timeoutMs, done)
    this.world.network.connect(self.id, id, (reached) => {
      if (!this.#live) return
      if (!reached) end({ ok: false, reason: 'unreachable' })
      else if (peer.vanished) return
      // A process that is down refuses: its port is closed.
      else if (!peer.up) end({ ok: false, reason: 'refused' })
      else {
        if (!self.links.has(id)) {
          self.links.set(id, peer)
          peer.links.set(self.id, self)
          self.membership.connected(id, true)
          peer.membership.connected(self.id, false)
        }
        end({ ok: true, value: id })
      }
    })
    return true
  }

  /** The machine's kernel answers, whatever the process does; a process that is down refuses. */
  knock(peer: string, _addrs: readonly string[], timeoutMs: number, done: Reply<void>): void {
    this.#request(peer, KNOCK_BYTES, timeoutMs, done, () => ({ value: undefined, bytes: KNOCK_BYTES }))
  }

  hangUp(peer: string): void {
    const self = this.node
    const other = self.links.get(peer)
    if (other === undefined) return
    self.links.delete(peer)
    this.#later(() => self.membership.disconnected(peer))
    closeReaches(this.world, self, other)
  }

  publish(entries: DeclEntry[], done: Reply<number>): void {
    const from = this.node.id
    this.#publish(
      'all',
      encodeDeclEntries(entries).length,
      (peer) => peer.declarations.gossiped(from, entries),
      done,
    )
  }

  pull(peer: string, timeoutMs: number, done: Reply<DeclEntry[]>): void {
    this.#request(peer, REQUEST_BYTES, timeoutMs, done, (at) => {
      const entries = at.declarations.answer()
      return { value: entries, bytes: encodeDeclEntries(entries).length }
    })
  }

  changed(): void {
    this.node.reconciler.viewChanged()
  }

  #topic(topic: string): Subscribers {
    return this.world.subscribers(topic) ?? NOBODY
  }

  /**
   * Gossips to a topic's subscribers (`all`: the declarations topic, every node), if any of them
   * is connected to this node; answers with how many are.
   */
  #publish(
    to: Subscribers | 'all',
    bytes: number,
    deliver: (peer: SimNode) => unknown,
    done: Reply<number>,
  ): void {
    const self = this.node
    let recipients = 0
    for (const peer of self.links.values()) if (to === 'all' || to.set.has(peer)) recipients++
    if (recipients > 0)
      this.world.network.flood(
        self.id,
        to === 'all' ? this.world.nodes() : to.nodes,
        bytes,
        (peer) => peer.up && deliver(peer),
        FLOOD_PATHS,
      )
    this.#later(() => done({ ok: true, value: recipients }))
  }

  /** Sends a request; its answer, computed by the peer on arrival, comes back as a message of its own. */
  #request<T>(
    to: string,
    bytes: number,
    timeoutMs: number,
    done: Reply<T>,
    answer: (peer: SimNode) => { value: T; bytes: number },
  ): void {
    const { network, engine } = this.world
    const from = this.node.id
    const end = this.#ending(timeoutMs, done)
    const peer = this.world.byId(to)
    if (peer === undefined) return
    network.send(from, to, bytes, () => {
      // A machine gone answers nothing: the request times out.
      if (peer.vanished) return
      if (!peer.up) {
        engine.after(network.latency(to, from), () => end({ ok: false, reason: 'refused' }), true)
        return
      }
      const reply = answer(peer)
      network.send(to, from, reply.bytes, () => end({ ok: true, value: reply.value }))
    })
  }

  /** A reply that ends a request once: with its answer, or with a failure at `timeoutMs`. */
  #ending<T>(timeoutMs: number, done: Reply<T>): Reply<T> {
    let open = true
    const end = (result: Result<T>) => {
      if (!open) return
      open = false
      timer.cancelled = true
      if (this.#live) done(result)
    }
    const timer = this.world.engine.after(timeoutMs, () => end({ ok: false, reason: 'timed out' }), true)
    return end
  }

  /** Runs `fn` now, after the current event: a reply never comes during the call that asked. */
  #later(fn: () => void): void {
    this.world.engine.after(
      0,
      () => {
        if (this.#live) fn()
      },
      true,
    )
  }
}

/**
 * `from` closed its connection to `to` (a hang-up, or its process died): `to` learns of it when
 * the close reaches it. If it cannot, `to` holds a half-open connection until its own heartbeats
 * age `from` out.
 */
export function closeReaches(world: SimWorld, from: SimNode, to: SimNode): void {
  const { network, engine } = world
  if (!network.reachable(from.id, to.id)) return
  engine.after(
    network.latency(from.id, to.id),
    () => {
      // A connection opened again since is another connection.
      if (to.links.get(from.id) !== from || from.links.has(to.id) || !network.reachable(from.id, to.id))
        return
      to.links.delete(from.id)
      if (to.up) to.membership.disconnected(from.id)
    },
    true,
  )
}

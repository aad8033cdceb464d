import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type LengthPrefixedStream, lpStream } from 'it-length-prefixed-stream'
import type { Logger } from '../logger.js'
import { readFrames } from './frame-reader.js'
import { clusterNames } from './names.js'

export interface LinksInit {
  cluster: string
  /** Largest heartbeat frame, bytes. */
  maxHeartbeatBytes: number
  /** Largest state answer, bytes. */
  maxStateBytes: number
  /** Largest peer-hints answer, bytes. */
  maxPeersBytes: number
  /** Largest member-sync request or answer, bytes. */
  maxMemberSyncBytes: number
  /** Largest note told directly, bytes. */
  maxNoteBytes: number
}

export interface LinksComponents {
  libp2p: Libp2p
  logger: Logger
  /** A heartbeat frame arrived from the authenticated peer. Returns false to drop the stream (bad input). */
  onHeartbeat(peer: string, frame: Uint8Array): boolean
  /** This node's current NodeState, encoded, for peers that pull it. */
  ownState(): Uint8Array
  /** Where other members can be dialled, encoded, for the authenticated peer that asks. */
  peerHints(peer: string): Uint8Array
  /**
   * The answer to the authenticated peer's member-sync request (the member versions it holds):
   * the states it misses, encoded within `maxMemberSyncBytes`. Undefined drops the stream (bad input).
   */
  memberSync(request: Uint8Array, peer: string): Uint8Array | undefined
  /** A note told directly by the authenticated peer. Returns false to drop the stream (bad input). */
  onNote(peer: string, frame: Uint8Array): boolean
}

export interface LinkCounters {
  framesIn: number
  bytesIn: number
  framesOut: number
  bytesOut: number
}

interface Outbound {
  stream: Stream
  lp: LengthPrefixedStream<Stream>
  /** The peer reads short beats (heartbeat 1.1.0). */
  shortBeats: boolean
  /** When (monotonic) each write not yet taken by the stream began, oldest first. */
  pending: number[]
}

const RETRY_OPEN_AFTER_MS = 10_000
/** A heartbeat the stream has not taken within this: the link is stuck, and is dropped. */
const HEARTBEAT_WRITE_TIMEOUT_MS = 5000
const ANSWER_TIMEOUT_MS = 5000

/**
 * Direct links to connected peers: a long-lived stream per peer carries heartbeats (one small
 * frame per interval, no re-flooding); request streams serve this node's full state, hints of
 * where other members are, and the member states a peer misses (member sync); a one-way stream
 * tells a peer a note about itself. The remote end of a stream is authenticated by Noise, so
 * these messages need no signature.
 */
export class PeerLinks {
  readonly counters: LinkCounters = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 }
  readonly heartbeatProtocol: string
  /** Heartbeats without short beats, as daemons before 1.1.0 speak them. */
  readonly fullHeartbeatProtocol: string
  readonly stateProtocol: string
  readonly peersProtocol: string
  readonly memberSyncProtocol: string
  readonly noteProtocol: string
  readonly #outbound = new Map<string, Outbound>()
  readonly #opening = new Set<string>()
  readonly #cannotOpenUntil = new Map<string, number>()
  readonly #inbound = new Set<Stream>()

  constructor(
    private readonly init: LinksInit,
    private readonly components: LinksComponents,
  ) {
    const { protocols } = clusterNames(init.cluster)
    this.heartbeatProtocol = protocols.heartbeat
    this.fullHeartbeatProtocol = protocols.heartbeatFull
    this.stateProtocol = protocols.state
    this.peersProtocol = protocols.peers
    this.memberSyncProtocol = protocols.memberSync
    this.noteProtocol = protocols.note
  }

  async start(): Promise<void> {
    const { libp2p } = this.components
    await libp2p.handle([this.heartbeatProtocol, this.fullHeartbeatProtocol], ({ stream, connection }) => {
      void this.#readHeartbeats(stream, connection.remotePeer.toString())
    })
    await libp2p.handle(this.stateProtocol, ({ stream }) => {
      void this.#answer(stream, this.components.ownState())
    })
    await libp2p.handle(this.peersProtocol, ({ stream, connection }) => {
      void this.#answer(stream, this.components.peerHints(connection.remotePeer.toString()))
    })
    await libp2p.handle(this.memberSyncProtocol, ({ stream, connection }) => {
      void this.#serveMemberSync(stream, connection.remotePeer.toString())
    })
    await libp2p.handle(this.noteProtocol, ({ stream, connection }) => {
      void this.#readNote(stream, connection.remotePeer.toString())
    })
  }

  async stop(): Promise<void> {
    const { libp2p } = this.components
    await libp2p.unhandle([
      this.heartbeatProtocol,
      this.fullHeartbeatProtocol,
      this.stateProtocol,
      this.peersProtocol,
      this.memberSyncProtocol,
      this.noteProtocol,
    ])
    for (const { stream } of this.#outbound.values()) stream.abort(new Error('stopping'))
    for (const stream of this.#inbound) stream.abort(new Error('stopping'))
    this.#outbound.clear()
    this.#inbound.clear()
  }

  /**
   * Sends a heartbeat frame, `frameFor` each, to every connected peer that speaks Gary, or to
   * `only`. `mayShorten`: the peer reads short beats, and has read a frame on this stream before.
   */
  sendHeartbeat(
    frameFor: (peer: string, mayShorten: boolean) => Uint8Array,
    now: number,
    only?: string,
  ): void {
    if (only !== undefined) {
      // One peer (a fast beat, or a regular beat sent peer by peer): its own connections only, not
      // every connection libp2p lists (a fresh array of them all, built anew for each frame).
      const outbound = this.#outbound.get(only)
      if (outbound !== undefined && outbound.stream.status === 'open') {
        void this.#write(only, outbound, frameFor(only, outbound.shortBeats), now)
        return
      }
    }
    const peers = new Map<string, PeerId>()
    for (const connection of this.components.libp2p.getConnections()) {
      const id = connection.remotePeer.toString()
      if (only === undefined || id === only) peers.set(id, connection.remotePeer)
    }
    for (const [id, outbound] of this.#outbound) {
      if (only === undefined && !peers.has(id)) {
        outbound.stream.abort(new Error('peer disconnected'))
        this.#outbound.delete(id)
      }
    }
    for (const [id, peer] of peers) {
      const outbound = this.#outbound.get(id)
      if (outbound !== undefined) {
        void this.#write(id, outbound, frameFor(id, outbound.shortBeats), now)
      } else if (!this.#opening.has(id) && (this.#cannotOpenUntil.get(id) ?? 0) <= now) {
        void this.#open(id, peer, frameFor(id, false), now)
      }
    }
  }

  /** Asks a peer for its own full state: by id when connected, else at its addresses. */
  pullState(peer: PeerId | Multiaddr[], signal: AbortSignal): Promise<Uint8Array> {
    return this.#ask(peer, this.stateProtocol, this.init.maxStateBytes, signal)
  }

  /** Asks a connected peer where the members it knows can be dialled. */
  askPeers(peer: PeerId, signal: AbortSignal): Promise<Uint8Array> {
    return this.#ask(peer, this.peersProtocol, this.init.maxPeersBytes, signal)
  }

  /** Sends a connected peer the member versions this node holds; it answers with the states we miss. */
  syncMembers(peer: PeerId, request: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    return this.#ask(peer, this.memberSyncProtocol, this.init.maxMemberSyncBytes, signal, request)
  }

  /** Tells a connected peer a note about itself: one frame, no answer. */
  async tellNote(peer: PeerId, frame: Uint8Array, signal: AbortSignal): Promise<void> {
    const stream = await this.components.libp2p.dialProtocol(peer, this.noteProtocol, { signal })
    try {
      await lpStream(stream, { maxDataLength: this.init.maxNoteBytes }).write(frame, { signal })
      this.counters.framesOut++
      this.counters.bytesOut += frame.byteLength
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #ask(
    peer: PeerId | Multiaddr[],
    protocol: string,
    maxBytes: number,
    signal: AbortSignal,
    request?: Uint8Array,
  ): Promise<Uint8Array> {
    const stream = await this.components.libp2p.dialProtocol(peer, protocol, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: maxBytes })
      if (request !== undefined) {
        await lp.write(request, { signal })
        this.counters.framesOut++
        this.counters.bytesOut += request.byteLength
      }
      const answer = await lp.read({ signal })
      this.counters.framesIn++
      this.counters.bytesIn += answer.byteLength
      await stream.close({ signal })
      return answer.subarray()
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #open(id: string, peer: PeerId, frame: Uint8Array, now: number): Promise<void> {
    this.#opening.add(id)
    try {
      const stream = await this.components.libp2p.dialProtocol(
        peer,
        [this.heartbeatProtocol, this.fullHeartbeatProtocol],
        { signal: AbortSignal.timeout(5000) },
      )
      const outbound = {
        stream,
        lp: lpStream(stream),
        shortBeats: stream.protocol === this.heartbeatProtocol,
        pending: [],
      }
      this.#outbound.set(id, outbound)
      await this.#write(id, outbound, frame, now)
    } catch (err) {
      // Not a Gary peer (or not of this cluster), or it went away: try again later, quietly.
      this.#cannotOpenUntil.set(id, now + RETRY_OPEN_AFTER_MS)
      this.components.logger.debug({ peer: id, err: (err as Error).message }, 'cannot open heartbeat stream')
    } finally {
      this.#opening.delete(id)
    }
  }

  /**
   * Writes one heartbeat frame. Without an abort signal of its own: a timer, a signal, its
   * listeners and its DOMException for every frame were about a twentieth of an idle daemon's
   * work (profiled at N = 15: several beats a second to each peer). A write the stream has not
   * taken within `HEARTBEAT_WRITE_TIMEOUT_MS` is found by the next one, which drops the link.
   */
  async #write(id: string, outbound: Outbound, frame: Uint8Array, now: number): Promise<void> {
    const oldest = outbound.pending[0]
    if (oldest !== undefined && now - oldest > HEARTBEAT_WRITE_TIMEOUT_MS) {
      this.#drop(id, outbound)
      return
    }
    outbound.pending.push(now)
    try {
      await outbound.lp.write(frame)
      this.counters.framesOut++
      this.counters.bytesOut += frame.byteLength
    } catch {
      this.#drop(id, outbound)
    } finally {
      outbound.pending.shift()
    }
  }

  #drop(id: string, outbound: Outbound): void {
    outbound.stream.abort(new Error('heartbeat write failed'))
    if (this.#outbound.get(id) === outbound) this.#outbound.delete(id)
  }

  async #readHeartbeats(stream: Stream, peer: string): Promise<void> {
    this.#inbound.add(stream)
    try {
      const valid = await readFrames(stream.source, this.init.maxHeartbeatBytes, (frame) => {
        this.counters.framesIn++
        this.counters.bytesIn += frame.byteLength
        return this.components.onHeartbeat(peer, frame)
      })
      // At its end too: this side never writes, and the stream is over.
      stream.abort(new Error(valid ? 'heartbeat stream ended' : 'invalid heartbeat'))
      if (valid) this.components.logger.debug({ peer }, 'heartbeat stream ended')
    } catch (err) {
      // A closed connection, or an oversized frame: the sender reopens if it can.
      this.components.logger.debug({ peer, err: (err as Error).message }, 'heartbeat stream ended')
      stream.abort(err as Error)
    } finally {
      this.#inbound.delete(stream)
    }
  }

  async #readNote(stream: Stream, peer: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: this.init.maxNoteBytes })
    try {
      const frame = await lp.read({ signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
      this.counters.framesIn++
      this.counters.bytesIn += frame.byteLength
      if (!this.components.onNote(peer, frame.subarray())) throw new Error('invalid note')
      await stream.close({ signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  async #serveMemberSync(stream: Stream, peer: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: this.init.maxMemberSyncBytes })
    try {
      const request = await lp.read({ signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
      this.counters.framesIn++
      this.counters.bytesIn += request.byteLength
      const answer = this.components.memberSync(request.subarray(), peer)
      if (answer === undefined) throw new Error('malformed member sync request')
      await this.#answer(stream, answer, lp)
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  async #answer(stream: Stream, answer: Uint8Array, lp = lpStream(stream)): Promise<void> {
    try {
      await lp.write(answer, { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
      this.counters.framesOut++
      this.counters.bytesOut += answer.byteLength
      await stream.close({ signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

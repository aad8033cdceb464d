import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from 'it-length-prefixed-stream'
import type { Logger } from '../logger.js'
import { clusterNames } from '../net/names.js'
import {
  decodeRotationAnswer,
  decodeRotationQuery,
  encodeRotationFrame,
  MAX_ROTATION_FRAME_BYTES,
  type RotationQuery,
} from './rotation-frames.js'

export interface RotationInit {
  cluster: string
  /** How long a peer may take to take a released slot out of its rotation, ms. Default 10000. */
  timeoutMs?: number
  /** How often the asker looks whether the peers it waits for are still live, ms. Default 100. */
  liveCheckMs?: number
}

export interface RotationComponents {
  libp2p: Libp2p
  logger: Logger
  /**
   * Resolves true once this node's forwarding (its kernel table included) no longer sends
   * connections to `container` of `node`; false if `signal` ends first.
   */
  outOfRotation(node: string, container: string, signal: AbortSignal): Promise<boolean>
}

/** What the peers asked about a released slot said. */
export interface Confirmation {
  /** Peers whose forwarding no longer holds the slot's container. */
  confirmed: string[]
  /** Peers that could not say so, and why (an older daemon, no answer in time, cannot be reached). */
  unconfirmed: { peer: string; reason: string }[]
  /** Peers that died or left while asked. */
  gone: string[]
}

/**
 * The drain's evidence. A slot that served published ports is published not ready when it is
 * released, and its holder asks every peer whose mesh may send it connections to answer once its
 * forwarding no longer does: a fixed delay alone was too short for a peer that took more than a
 * second to read the change on a loaded machine, and the kernel, unlike the userland proxy,
 * cannot send a refused connection elsewhere. A peer answers only about the asker's own slots.
 */
export class RotationService {
  readonly protocol: string
  readonly #timeoutMs: number

  constructor(
    private readonly init: RotationInit,
    private readonly components: RotationComponents,
  ) {
    this.protocol = clusterNames(init.cluster).protocols.rotation
    this.#timeoutMs = init.timeoutMs ?? 10_000
  }

  async start(): Promise<void> {
    await this.components.libp2p.handle(
      this.protocol,
      ({ stream, connection }) => void this.#serve(stream, connection.remotePeer.toString()),
      // A rolling update releases up to maxUnavailable slots of a node at once.
      { maxInboundStreams: 32, maxOutboundStreams: 64 },
    )
  }

  async stop(): Promise<void> {
    await this.components.libp2p.unhandle(this.protocol)
  }

  /**
   * Asks `peers` about a released slot of this node; resolves when each has answered, failed, or
   * is no longer `live`, or when the time limit or `signal` ends the wait.
   */
  async confirm(
    query: RotationQuery,
    peers: readonly string[],
    live: (peer: string) => boolean,
    signal: AbortSignal,
  ): Promise<Confirmation> {
    const stop = new AbortController()
    const asking = AbortSignal.any([signal, stop.signal, AbortSignal.timeout(this.#timeoutMs)])
    const answers = new Map<string, true | string>()
    const asked = Promise.allSettled(
      peers.map(async (peer) => answers.set(peer, await this.#ask(peer, query, asking))),
    )
    const waiting = () => peers.filter((peer) => !answers.has(peer) && live(peer))
    while (waiting().length > 0 && !asking.aborted) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        asked,
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.init.liveCheckMs ?? 100)
        }),
      ])
      clearTimeout(timer)
    }
    stop.abort()
    const out: Confirmation = { confirmed: [], unconfirmed: [], gone: [] }
    for (const peer of peers) {
      const answer = answers.get(peer)
      if (answer === true) out.confirmed.push(peer)
      else if (answer !== undefined) out.unconfirmed.push({ peer, reason: answer })
      else if (!live(peer)) out.gone.push(peer)
      else out.unconfirmed.push({ peer, reason: `no answer within ${this.#timeoutMs} ms` })
    }
    return out
  }

  /** True when the peer's forwarding no longer holds the container, else why not. */
  async #ask(peer: string, query: RotationQuery, signal: AbortSignal): Promise<true | string> {
    let stream: Stream | undefined
    try {
      stream = await this.components.libp2p.dialProtocol(peerIdFromString(peer), this.protocol, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_ROTATION_FRAME_BYTES })
      await lp.write(encodeRotationFrame(query), { signal })
      const answer = decodeRotationAnswer((await lp.read({ signal })).subarray())
      await stream.close({ signal }).catch(() => {})
      if (!answer.ok) return `it answered: ${answer.reason}`
      return answer.value.out ? true : 'it still sends connections to the slot'
    } catch (err) {
      stream?.abort(err as Error)
      return `cannot ask it: ${(err as Error).message}`
    }
  }

  async #serve(stream: Stream, peer: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_ROTATION_FRAME_BYTES })
    try {
      const query = decodeRotationQuery((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      if (!query.ok) throw new Error(query.reason)
      const signal = AbortSignal.timeout(this.#timeoutMs)
      const out = await this.components.outOfRotation(peer, query.value.container, signal)
      this.components.logger.debug({ peer, ...query.value, out }, 'released slot asked about by its holder')
      await lp.write(encodeRotationFrame({ out }), { signal: AbortSignal.timeout(5000) })
      await stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => {})
    } catch (err) {
      this.components.logger.debug({ peer, err: (err as Error).message }, 'rotation query dropped')
      stream.abort(err as Error)
    }
  }
}

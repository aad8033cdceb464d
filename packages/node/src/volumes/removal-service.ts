import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from 'it-length-prefixed-stream'
import type { Logger } from '../logger.js'
import { clusterNames } from '../net/names.js'
import {
  cutMessage,
  decodeVolumeAnswer,
  decodeVolumeRequest,
  encodeVolumeMessage,
  MAX_VOLUME_ANSWER_BYTES,
  MAX_VOLUME_REQUEST_BYTES,
  type VolumeAnswer,
} from './frames.js'
import type { VolumeSelector } from './remove.js'

export interface VolumeRemovalInit {
  cluster: string
  /** How long asking a node may take, reaching it included, ms. Default 15000. */
  timeoutMs?: number
}

export interface VolumeRemovalComponents {
  libp2p: Libp2p
  logger: Logger
  /** Removes this node's volumes the selector names, all or none. */
  removeHere(selector: VolumeSelector): Promise<VolumeAnswer>
}

/**
 * `gary volume rm` on the nodes that hold the volumes: the asked node sends each holder one
 * request on a libp2p stream, and the holder removes its own volumes (all or none) and answers
 * what it did. Only members can open the stream (a banned one's connections are refused).
 */
export class VolumeRemovalService {
  readonly protocol: string

  constructor(
    private readonly init: VolumeRemovalInit,
    private readonly components: VolumeRemovalComponents,
  ) {
    this.protocol = clusterNames(init.cluster).protocols.volumeRemoval
  }

  async start(): Promise<void> {
    await this.components.libp2p.handle(
      this.protocol,
      ({ stream, connection }) => void this.#serve(stream, connection.remotePeer.toString()),
      { maxInboundStreams: 4, maxOutboundStreams: 16 },
    )
  }

  async stop(): Promise<void> {
    await this.components.libp2p.unhandle(this.protocol)
  }

  /** What `node` did about the selector; a failure to reach it or to understand it is an answer too. */
  async ask(node: string, selector: VolumeSelector): Promise<VolumeAnswer> {
    const signal = AbortSignal.timeout(this.init.timeoutMs ?? 15_000)
    let stream: Stream | undefined
    try {
      stream = await this.components.libp2p.dialProtocol(peerIdFromString(node), this.protocol, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_VOLUME_ANSWER_BYTES })
      await lp.write(encodeVolumeMessage(selector), { signal })
      const answer = decodeVolumeAnswer((await lp.read({ signal })).subarray())
      await stream.close({ signal }).catch(() => {})
      if (!answer.ok) return { ok: false, kind: 'failed', message: `node ${node} answered: ${answer.reason}` }
      return answer.value
    } catch (err) {
      stream?.abort(err as Error)
      return { ok: false, kind: 'failed', message: `cannot reach node ${node}: ${(err as Error).message}` }
    }
  }

  async #serve(stream: Stream, peer: string): Promise<void> {
    const signal = AbortSignal.timeout(this.init.timeoutMs ?? 15_000)
    const lp = lpStream(stream, { maxDataLength: MAX_VOLUME_REQUEST_BYTES })
    try {
      const request = decodeVolumeRequest((await lp.read({ signal })).subarray())
      const answer: VolumeAnswer = request.ok
        ? await this.components.removeHere(request.value).catch((err: Error) => ({
            ok: false as const,
            kind: 'failed' as const,
            message: cutMessage(err.message),
          }))
        : { ok: false, kind: 'bad-request', message: request.reason }
      this.components.logger.info(
        { peer, ...(request.ok ? request.value : {}), outcome: answer.ok ? answer.removed : answer.kind },
        'volume removal asked by a peer',
      )
      await lp.write(
        encodeVolumeMessage(answer.ok ? answer : { ...answer, message: cutMessage(answer.message) }),
        {
          signal,
        },
      )
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

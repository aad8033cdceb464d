// The one file that knows gossipsub. Moving to the successor package (@libp2p/gossipsub) should
// change this file alone.
import { type GossipSub, gossipsub } from '@chainsafe/libp2p-gossipsub'
import { type PeerId, TopicValidatorResult } from '@libp2p/interface'
import type { Verdict } from '../port.js'

export type { Verdict }

/** Judges one message, and applies it when it returns `accept`. `signer` is the author, checked by signature. */
export type MessageHandler = (signer: string, data: Uint8Array) => Verdict

export interface GossipInit {
  /** Gossipsub heartbeat, ms: the mesh forms and repairs on it. Default 500. */
  heartbeatMs?: number
  /** Largest message accepted before any validation, bytes. Default 1 MiB. */
  maxMessageBytes?: number
}

/** The libp2p service factory, for `createLibp2p({ services: { pubsub: gossipService() } })`. */
export function gossipService(init: GossipInit = {}) {
  return gossipsub({
    // StrictSign (the default) binds every message to its author, so a node can only speak for itself.
    globalSignaturePolicy: 'StrictSign',
    heartbeatInterval: init.heartbeatMs ?? 500,
    // A lone node, or one whose mesh is still forming, must not throw on publish.
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    fallbackToFloodsub: false,
    maxInboundDataLength: init.maxMessageBytes ?? 1024 * 1024,
    // Gossipsub penalises more than 10 peers sharing an IP (a Sybil defence for open networks): a
    // cluster of 20 on one machine or behind one NAT graylisted every peer and gossip stopped.
    // Every Gary peer has already proved the cluster key, so the penalty is off.
    scoreParams: { IPColocationFactorWeight: 0 },
    // Each message reaches a node once from its author and again from every mesh peer that
    // forwards it (3 more copies in a mesh of 5). Gossipsub checks the signature of every copy
    // before it looks up the message id, unless a fast id finds it seen: the author and sequence
    // number, as the message id itself (a copy that fails its check is never cached, so a forged
    // copy cannot hide the genuine message).
    fastMsgIdFn: fastMessageId,
  })
}

/** The author's id bytes and the sequence number, as text: what the message id is made of. */
export function fastMessageId(message: { from?: Uint8Array; seqno?: Uint8Array }): string {
  const from = message.from ?? EMPTY
  const seqno = message.seqno ?? EMPTY
  // Length first: no author and sequence number of other lengths give the same text.
  return `${from.byteLength}:${Buffer.from(from.buffer, from.byteOffset, from.byteLength).toString('latin1')}${Buffer.from(seqno.buffer, seqno.byteOffset, seqno.byteLength).toString('latin1')}`
}

const EMPTY = new Uint8Array(0)

export interface GossipCounters {
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
}

/** Totals since start for each topic this node subscribed or published to (a handful per node). */
export type TopicCounters = Map<string, GossipCounters>

const VERDICTS: Record<Verdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

const newCounters = (): GossipCounters => ({ messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 })

/** Topics with one validating handler each, over a gossipsub service. */
export class Gossip {
  readonly counters: GossipCounters = newCounters()
  readonly byTopic: TopicCounters = new Map()
  readonly #service: GossipSub

  constructor(service: unknown) {
    this.#service = service as GossipSub
  }

  /** Subscribes to a topic. Every message passes `handle` before it is forwarded to anyone. */
  subscribe(topic: string, handle: MessageHandler): void {
    const topicCounters = this.#topic(topic)
    this.#service.topicValidators.set(topic, (_propagator: PeerId, message) => {
      for (const counters of [this.counters, topicCounters]) {
        counters.messagesIn++
        counters.bytesIn += message.data.byteLength
      }
      if (message.type !== 'signed') return TopicValidatorResult.Reject
      return VERDICTS[handle(message.from.toString(), message.data)]
    })
    this.#service.subscribe(topic)
  }

  /** Publishes; resolves to the number of peers it was sent to (0 while the mesh is forming). */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    const result = await this.#service.publish(topic, data)
    for (const counters of [this.counters, this.#topic(topic)]) {
      counters.messagesOut++
      counters.bytesOut += data.byteLength
    }
    return result.recipients.length
  }

  #topic(topic: string): GossipCounters {
    let counters = this.byTopic.get(topic)
    if (counters === undefined) {
      counters = newCounters()
      this.byTopic.set(topic, counters)
    }
    return counters
  }

  /** Peers in this node's mesh for the topic: "joined" means at least one. */
  meshPeers(topic: string): number {
    return this.#service.getMeshPeers(topic).length
  }
}

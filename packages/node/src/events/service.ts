import { type ClusterEvent, compareEvents, type Decoded } from '@gary/protocol'
import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from 'it-length-prefixed-stream'
import { EventStreamError } from '../errors.js'
import type { Logger } from '../logger.js'
import { merge } from '../logs/sources.js'
import { clusterNames } from '../net/names.js'
import {
  endWithReader,
  errorMessage as message,
  StreamLives,
  sendLast,
  serveProtocol,
} from '../net/streams.js'
import {
  decodeEventFrame,
  decodeEventRequest,
  type EventFrame,
  type EventRequest,
  encodeEventFrame,
  encodeEventRequest,
  MAX_EVENT_ERROR_CHARS,
  MAX_EVENT_FRAME_BYTES,
  MAX_EVENT_REQUEST_BYTES,
  MAX_EVENTS_PER_REQUEST,
} from './frames.js'
import { BoundedQueue } from './queue.js'
import { type EventFilter, type EventRing, eventMatches } from './ring.js'

/** One item of a merged read: an event, or why a node's events could not be read. */
export type EventItem = { event: ClusterEvent } | { node: string; error: string }

export interface EventReadOptions {
  filter: EventFilter
  /** At most this many events before following: the newest. Default and most: 10,000. */
  limit?: number
  /** Keep reading new events as every node records them. */
  follow: boolean
  signal: AbortSignal
}

export interface EventServiceInit {
  cluster: string
  /** How long reaching a node and reading the events it has may take, ms. Default 5000. */
  openTimeoutMs?: number
  /** Event streams open at once on one connection, each way. Default 32. */
  maxStreams?: number
  /** Nodes asked at once. Default 32. */
  concurrency?: number
  /** New events a follower may fall behind by before its stream ends. Default 1000. */
  maxBacklog?: number
  /** While following, how often to look for members not followed yet, ms. Default 1000. */
  rejoinMs?: number
}

export interface EventServiceComponents {
  libp2p: Libp2p
  ring: EventRing
  logger: Logger
  /** This node's peer id. */
  self: string
  /** Wall-clock milliseconds: when a member joining a follow is asked from. */
  wallNow(): number
  /** The members to ask for their events (those that may answer: not dead). */
  members(): string[]
}

/**
 * The cluster's events from any node: each node serves its own ring over a libp2p stream, and a
 * reader asks every member and merges what they answer in one order (`compareEvents`). A node
 * speaks only for itself: an event that names another recorder ends that node's stream.
 */
export class EventService {
  readonly protocol: string
  readonly #lives = new StreamLives('event reader gone')

  constructor(
    private readonly init: EventServiceInit,
    private readonly components: EventServiceComponents,
  ) {
    this.protocol = clusterNames(init.cluster).protocols.events
  }

  async start(): Promise<void> {
    await serveProtocol(this.components.libp2p, this.protocol, this.init.maxStreams ?? 32, (stream, peer) =>
      this.#serve(stream, peer),
    )
  }

  async stop(): Promise<void> {
    await this.components.libp2p.unhandle(this.protocol)
    this.#lives.endAll()
  }

  /**
   * Every member's events that match, merged in order: the newest `limit` first, then (when
   * following) new ones as they come. A node that cannot be read gives an error item instead.
   */
  async read(options: EventReadOptions): Promise<AsyncIterable<EventItem>> {
    const limit = Math.min(options.limit ?? MAX_EVENTS_PER_REQUEST, MAX_EVENTS_PER_REQUEST)
    const { filter, follow } = options
    const life = this.#lives.track(options.signal)
    const { ring } = this.components
    // Subscribed before the list is taken, with no await between: nothing falls in the gap.
    const local = follow ? new BoundedQueue<ClusterEvent>(this.init.maxBacklog ?? 1000) : undefined
    const unsubscribe = local
      ? ring.subscribe((event) => {
          if (eventMatches(event, filter)) local.push(event)
        })
      : () => {}
    const request: EventRequest = {
      follow,
      limit,
      ...(filter.sinceWall === undefined ? {} : { since: filter.sinceWall }),
      ...(filter.workload === undefined ? {} : { workload: filter.workload }),
      ...(filter.node === undefined ? {} : { node: filter.node }),
    }
    // The reader going away ends the local source too, so the merge below can end.
    life.signal.addEventListener('abort', () => local?.end(), { once: true })
    const own = ring.list(filter, limit)
    const others = this.components.members().filter((id) => id !== this.components.self)
    let remotes: Remote[]
    try {
      remotes = await pool(others, this.init.concurrency ?? 32, (node) =>
        this.#open(node, request, life.signal),
      )
    } catch (err) {
      unsubscribe()
      life.done()
      throw err
    }
    const backlog = [...own, ...remotes.flatMap((remote) => remote.backlog ?? [])].sort(compareEvents)
    const errors = remotes.flatMap((remote) => (remote.error === undefined ? [] : [remote]))
    const follows = follow ? new Follows(this.components.wallNow, request.since) : undefined
    const lives = remotes.flatMap((remote) =>
      remote.live === undefined ? [] : [follows!.watched(remote.node, remote.live)],
    )
    for (const remote of remotes) if (remote.error !== undefined) follows?.failed(remote.node)
    const newcomers = follows && this.#newcomers(follows, request, life.signal)
    const self = this.components.self
    return (async function* () {
      try {
        for (const { node, error } of errors) yield { node, error: error as string }
        for (const event of backlog.slice(-limit)) yield { event }
        if (local === undefined) return
        yield* merge<EventItem>([tagLocal(self, local), ...lives], newcomers)
      } finally {
        unsubscribe()
        local?.end()
        life.abort()
        life.done()
        for (const live of lives) void live.return(undefined)
      }
    })()
  }

  /**
   * While following: members not followed yet (joined after the read began, back after their
   * stream ended) are asked for what they recorded since, then followed. A node that cannot be
   * read says so once, and is asked again at most every `RETRY_MS`, until it answers.
   */
  async *#newcomers(
    follows: Follows,
    request: EventRequest,
    signal: AbortSignal,
  ): AsyncGenerator<AsyncGenerator<EventItem>> {
    const every = this.init.rejoinMs ?? 1000
    while (await pause(every, signal)) {
      for (const node of this.components.members()) {
        if (node === this.components.self || !follows.due(node)) continue
        const since = follows.asking(node)
        const remote = await this.#open(node, { ...request, since, limit: MAX_EVENTS_PER_REQUEST }, signal)
        if (signal.aborted) return
        if (remote.error !== undefined) {
          if (follows.failed(node)) yield once({ node, error: remote.error })
          continue
        }
        const { backlog = [], live } = remote
        yield follows.watched(
          node,
          (async function* () {
            for (const event of backlog) yield { event }
            if (live !== undefined) yield* live
          })(),
        )
      }
    }
  }

  /** Asks one node for its events: what it has, then (following) a generator of what comes. */
  async #open(node: string, request: EventRequest, signal: AbortSignal): Promise<Remote> {
    const opening = AbortSignal.any([signal, AbortSignal.timeout(this.init.openTimeoutMs ?? 5000)])
    let stream: Stream
    try {
      stream = await this.components.libp2p.dialProtocol(peerIdFromString(node), this.protocol, {
        signal: opening,
      })
    } catch (err) {
      return { node, error: `cannot reach it: ${message(err)}` }
    }
    const lp = lpStream(stream, { maxDataLength: MAX_EVENT_FRAME_BYTES })
    const backlog: ClusterEvent[] = []
    try {
      await lp.write(encodeEventRequest(request), { signal: opening })
      for (;;) {
        const frame = await this.#frame(node, lp, opening)
        if (frame.type === 'event') {
          backlog.push(frame.event)
          if (backlog.length > request.limit)
            throw new EventStreamError(`it sent more than the ${request.limit} events asked for`)
        } else if (frame.type === 'end' && !request.follow) {
          await stream
            .close({ signal: AbortSignal.timeout(5000) })
            .catch((err: Error) =>
              this.components.logger.debug({ peer: node, err: err.message }, 'event stream close failed'),
            )
          return { node, backlog }
        } else if (frame.type === 'live' && request.follow) {
          return { node, backlog, live: this.#follow(node, stream, lp, signal) }
        } else if (frame.type === 'error') {
          throw new EventStreamError(`it refused: ${frame.message}`)
        } else {
          throw new EventStreamError(`it answered an event request with ${frame.type}`)
        }
      }
    } catch (err) {
      stream.abort(err as Error)
      if (signal.aborted) throw err
      return {
        node,
        error:
          err instanceof EventStreamError ? err.message : `its events could not be read: ${message(err)}`,
      }
    }
  }

  async *#follow(
    node: string,
    stream: Stream,
    lp: LengthPrefixedStream<Stream>,
    signal: AbortSignal,
  ): AsyncGenerator<EventItem> {
    try {
      for (;;) {
        const frame = await this.#frame(node, lp, signal)
        if (frame.type === 'event') yield { event: frame.event }
        else if (frame.type === 'error') throw new EventStreamError(`it stopped: ${frame.message}`)
        else throw new EventStreamError(`it sent ${frame.type} while following`)
      }
    } catch (err) {
      // The reader went away, or this node stops: a quiet end.
      if (signal.aborted) return
      yield {
        node,
        error: err instanceof EventStreamError ? err.message : `its event stream broke: ${message(err)}`,
      }
    } finally {
      stream.abort(new Error('event reader done'))
    }
  }

  /** Reads and validates one frame: malformed, too large, or another node's event is an EventStreamError. */
  async #frame(node: string, lp: LengthPrefixedStream<Stream>, signal: AbortSignal): Promise<EventFrame> {
    const bytes = await lp.read({ signal })
    const decoded = decodeEventFrame(bytes.subarray())
    if (!decoded.ok) throw new EventStreamError(`it sent a malformed event frame (${decoded.reason})`)
    const frame = decoded.value
    if (frame.type === 'event' && frame.event.node !== node)
      throw new EventStreamError(
        `it sent an event of node ${frame.event.node}: a node speaks only for itself`,
      )
    return frame
  }

  async #serve(stream: Stream, peer: string): Promise<void> {
    const { logger, ring } = this.components
    const life = this.#lives.track()
    const lp = lpStream(stream, { maxDataLength: MAX_EVENT_REQUEST_BYTES })
    let sent = 0
    let outcome = 'served'
    let unsubscribe = () => {}
    try {
      let decoded: Decoded<EventRequest>
      try {
        const bytes = await lp.read({ signal: AbortSignal.any([life.signal, AbortSignal.timeout(5000)]) })
        decoded = decodeEventRequest(bytes.subarray())
      } catch (err) {
        outcome = `no request: ${message(err)}`
        stream.abort(err as Error)
        return
      }
      if (!decoded.ok) {
        outcome = decoded.reason
        await refuse(stream, lp, decoded.reason)
        return
      }
      const { follow, limit, since, workload, node } = decoded.value
      const filter: EventFilter = {
        ...(since === undefined ? {} : { sinceWall: since }),
        ...(workload === undefined ? {} : { workload }),
        ...(node === undefined ? {} : { node }),
      }
      const queue = follow ? new BoundedQueue<ClusterEvent>(this.init.maxBacklog ?? 1000) : undefined
      if (queue !== undefined)
        unsubscribe = ring.subscribe((event) => {
          if (eventMatches(event, filter)) queue.push(event)
        })
      const backlog = ring.list(filter, limit)
      // The reader sends nothing more: a read ends only when it closes its side or resets the stream.
      endWithReader(lp, life)
      life.signal.addEventListener('abort', () => queue?.end(), { once: true })
      for (const event of backlog) {
        await lp.write(encodeEventFrame({ type: 'event', event }), { signal: life.signal })
        sent++
      }
      if (queue === undefined) {
        await lp.write(encodeEventFrame({ type: 'end' }), { signal: life.signal })
        await stream.close({ signal: AbortSignal.timeout(5000) })
        return
      }
      await lp.write(encodeEventFrame({ type: 'live' }), { signal: life.signal })
      for await (const event of queue) {
        await lp.write(encodeEventFrame({ type: 'event', event }), { signal: life.signal })
        sent++
      }
      outcome = 'reader gone'
      stream.abort(new Error(outcome))
    } catch (err) {
      if (life.signal.aborted) {
        outcome = 'reader gone'
        stream.abort(new Error(outcome))
        return
      }
      outcome = `failed: ${message(err)}`
      await refuse(stream, lp, message(err))
    } finally {
      unsubscribe()
      life.done()
      logger.debug({ peer, sent, outcome }, 'event stream served')
    }
  }
}

interface Remote {
  node: string
  backlog?: ClusterEvent[]
  live?: AsyncGenerator<EventItem>
  error?: string
}

/** How long a member that could not be read waits before it is asked again, ms. */
const RETRY_MS = 5000

/** The members a follow reads, and since when to ask each that is not read now. */
class Follows {
  /** Read now. */
  readonly #reading = new Set<string>()
  /** Not read now: when each may be asked again, and from when. */
  readonly #idle = new Map<string, { at: number; since: number }>()
  /** Failed the last time they were asked: said once. */
  readonly #failing = new Set<string>()
  readonly #start: number

  constructor(
    private readonly wallNow: () => number,
    private readonly since: number | undefined,
  ) {
    this.#start = wallNow()
  }

  /** Whether `node` is to be asked now: not read, and not waiting out a failure. */
  due(node: string): boolean {
    if (this.#reading.has(node)) return false
    const idle = this.#idle.get(node)
    return idle === undefined || idle.at <= this.wallNow()
  }

  /** `node` is asked now: from when (a newcomer since the read began, a returning one since its stream ended). */
  asking(node: string): number {
    this.#reading.add(node)
    const from = this.#idle.get(node)?.since ?? this.#start
    return Math.max(this.since ?? 0, from)
  }

  /** `node` could not be read; true the first time in a row (say so then only). */
  failed(node: string): boolean {
    this.#reading.delete(node)
    this.#idle.set(node, { at: this.wallNow() + RETRY_MS, since: this.#idle.get(node)?.since ?? this.#start })
    const first = !this.#failing.has(node)
    this.#failing.add(node)
    return first
  }

  /** `items`, read from `node`; when they end, the node may be asked again from then. */
  watched(node: string, items: AsyncGenerator<EventItem>): AsyncGenerator<EventItem> {
    this.#reading.add(node)
    this.#failing.delete(node)
    const ended = () => {
      this.#reading.delete(node)
      const now = this.wallNow()
      this.#idle.set(node, { at: now + RETRY_MS, since: now })
    }
    return (async function* () {
      try {
        yield* items
      } finally {
        ended()
      }
    })()
  }
}

/** Waits `ms`; false when `signal` ended the wait. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stop)
      resolve(true)
    }, ms)
    const stop = () => {
      clearTimeout(timer)
      resolve(false)
    }
    signal.addEventListener('abort', stop, { once: true })
  })
}

async function* once(item: EventItem): AsyncGenerator<EventItem> {
  yield item
}

async function* tagLocal(self: string, queue: BoundedQueue<ClusterEvent>): AsyncGenerator<EventItem> {
  try {
    for await (const event of queue) yield { event }
  } catch (err) {
    yield { node: self, error: message(err) }
  }
}

/** Sends a last error frame and closes. */
function refuse(stream: Stream, lp: LengthPrefixedStream<Stream>, reason: string): Promise<void> {
  return sendLast(
    stream,
    lp,
    encodeEventFrame({ type: 'error', message: reason.slice(0, MAX_EVENT_ERROR_CHARS) }),
  )
}

/** Runs `task` over `items`, at most `size` at once, answers in the items' order. */
async function pool<T, R>(items: readonly T[], size: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker))
  return results
}

import { type Decoded, slotKey } from '@gary/protocol'
import type { ContainerRuntime, LogLine } from '@gary/runtime'
import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from 'it-length-prefixed-stream'
import { LogStreamError, SlotNotHeldError, SlotNotPlacedError } from '../errors.js'
import { type Logger, swallowed } from '../logger.js'
import { clusterNames } from '../net/names.js'
import {
  endWithReader,
  errorMessage as message,
  StreamLives,
  sendLast,
  serveProtocol,
} from '../net/streams.js'
import {
  cutLine,
  decodeLogFrame,
  decodeLogRequest,
  encodeLogFrame,
  encodeLogRequest,
  type LogFrame,
  type LogRequest,
  MAX_ERROR_CHARS,
  MAX_LOG_FRAME_BYTES,
  MAX_LOG_REQUEST_BYTES,
} from './frames.js'

export interface LogOpenOptions {
  /** Keep the stream open and deliver new lines until the container's process exits. Default false. */
  follow?: boolean
  /** Only the last N lines. Default: all. */
  tail?: number
  /** Ends the stream: the reader went away. */
  signal?: AbortSignal
  /** Read from this node. Default: this node when it holds the slot, else the node `locate` names. */
  node?: string
  /**
   * The slot's last exited container (kept until the slot is released), or the last lines of a
   * slot the node refused (kept a while), instead of the running one. Never follows.
   */
  previous?: boolean
}

export interface LogServiceInit {
  cluster: string
  /** How long reaching the holder and its first answer may take, ms. Default 5000. */
  openTimeoutMs?: number
  /** Log streams open at once on one connection, each way. Default 128. */
  maxStreams?: number
}

export interface LogServiceComponents {
  libp2p: Libp2p
  runtime: ContainerRuntime
  logger: Logger
  /** This node's peer id. */
  self: string
  /** The node holding a slot, as this node's view of the cluster says; undefined when none does. */
  locate(workload: string, slot: number): string | undefined
  /** This node's container for a slot it holds; undefined when it holds none. */
  ownContainer(workload: string, slot: number): string | undefined
  /** The slot's last exited container this node keeps; undefined when it keeps none. */
  previousContainer?(workload: string, slot: number): string | undefined
  /** The last lines of a slot this node refused, while it keeps them. */
  retained?(workload: string, slot: number): readonly LogLine[] | undefined
}

/**
 * Container logs from any node: the node holding a slot reads its runtime and serves the lines
 * over a libp2p stream; any other node dials it and relays what it reads. A stream lives as long
 * as its reader: aborting the reader's signal resets the stream, which ends the holder's read of
 * the runtime.
 */
export class LogService {
  readonly protocol: string
  readonly #lives = new StreamLives('log reader gone')
  #stopping = false

  constructor(
    private readonly init: LogServiceInit,
    private readonly components: LogServiceComponents,
  ) {
    this.protocol = clusterNames(init.cluster).protocols.logs
  }

  async start(): Promise<void> {
    await serveProtocol(this.components.libp2p, this.protocol, this.init.maxStreams ?? 128, (stream, peer) =>
      this.#serve(stream, peer),
    )
  }

  async stop(): Promise<void> {
    this.#stopping = true
    await this.components.libp2p.unhandle(this.protocol)
    this.#lives.endAll()
  }

  /** Log streams open now, served or read. */
  get streams(): number {
    return this.#lives.size
  }

  /**
   * The log lines of one slot's container, from this node's runtime or from the node holding it.
   * Resolves once the holder has accepted: rejects with SlotNotPlacedError, SlotNotHeldError or
   * LogStreamError. A stream that breaks later throws LogStreamError from the iteration.
   */
  async open(workload: string, slot: number, options: LogOpenOptions = {}): Promise<AsyncIterable<LogLine>> {
    const { self } = this.components
    const node =
      options.node ??
      (this.components.ownContainer(workload, slot) === undefined
        ? this.components.locate(workload, slot)
        : self)
    if (node === undefined) throw new SlotNotPlacedError(workload, slot)
    if (node !== self) return this.#remote(node, workload, slot, options)
    if (options.previous === true) {
      const previous = this.#previous(workload, slot, options.tail)
      if (previous === undefined)
        throw new SlotNotHeldError(`this node keeps no previous container of ${slotKey(workload, slot)}`)
      return previous
    }
    const container = this.components.ownContainer(workload, slot)
    if (container === undefined)
      throw new SlotNotHeldError(`slot ${slotKey(workload, slot)} is not held by this node`)
    return this.#local(container, options)
  }

  /** The slot's previous lines on this node: its kept container's, or a refused slot's kept lines. */
  #previous(workload: string, slot: number, tail: number | undefined): AsyncIterable<LogLine> | undefined {
    const container = this.components.previousContainer?.(workload, slot)
    if (container !== undefined) return this.#local(container, { ...(tail === undefined ? {} : { tail }) })
    const lines = this.components.retained?.(workload, slot)
    if (lines === undefined) return undefined
    return (async function* () {
      yield* tail === undefined ? lines : lines.slice(Math.max(0, lines.length - tail))
    })()
  }

  async *#local(container: string, options: LogOpenOptions): AsyncGenerator<LogLine> {
    const life = this.#lives.track(options.signal)
    try {
      yield* this.components.runtime.logs(container, {
        follow: options.follow === true,
        ...(options.tail === undefined ? {} : { tail: options.tail }),
        signal: life.signal,
      })
    } finally {
      life.done()
    }
  }

  async #remote(
    node: string,
    workload: string,
    slot: number,
    options: LogOpenOptions,
  ): Promise<AsyncIterable<LogLine>> {
    const life = this.#lives.track(options.signal)
    const opening = AbortSignal.any([life.signal, AbortSignal.timeout(this.init.openTimeoutMs ?? 5000)])
    let stream: Stream
    try {
      stream = await this.components.libp2p.dialProtocol(peerIdFromString(node), this.protocol, {
        signal: opening,
      })
    } catch (err) {
      life.done()
      const reason = `cannot reach node ${node}, which holds ${slotKey(workload, slot)}: ${message(err)}`
      throw new LogStreamError(reason, { cause: err })
    }
    let closed = false
    const close = (err?: Error) => {
      if (closed) return
      closed = true
      life.signal.removeEventListener('abort', onAbort)
      life.done()
      if (err !== undefined) stream.abort(err)
    }
    // Whether or not anyone iterates, the stream ends with the reader's signal.
    const onAbort = () => close(new Error('log reader gone'))
    life.signal.addEventListener('abort', onAbort, { once: true })
    const lp = lpStream(stream, { maxDataLength: MAX_LOG_FRAME_BYTES })
    try {
      const request: LogRequest = {
        workload,
        slot,
        follow: options.follow === true && options.previous !== true,
        ...(options.tail === undefined ? {} : { tail: options.tail }),
        ...(options.previous === true ? { previous: true } : {}),
      }
      await lp.write(encodeLogRequest(request), { signal: opening })
      const first = await this.#frame(node, lp, opening)
      if (first.type === 'error') throw frameError(node, first)
      if (first.type !== 'ok')
        throw new LogStreamError(`node ${node} answered a log request with ${first.type}`)
    } catch (err) {
      close(err as Error)
      if (err instanceof LogStreamError || err instanceof SlotNotHeldError) throw err
      const reason = `node ${node} did not serve the logs of ${slotKey(workload, slot)}: ${message(err)}`
      throw new LogStreamError(reason, { cause: err })
    }
    return this.#frames(node, stream, lp, life.signal, close)
  }

  async *#frames(
    node: string,
    stream: Stream,
    lp: LengthPrefixedStream<Stream>,
    signal: AbortSignal,
    close: (err?: Error) => void,
  ): AsyncGenerator<LogLine> {
    let ended = false
    try {
      for (;;) {
        const frame = await this.#frame(node, lp, signal)
        if (frame.type === 'line') {
          yield { stream: frame.stream, line: frame.line }
        } else if (frame.type === 'end') {
          ended = true
          await stream
            .close({ signal: AbortSignal.timeout(5000) })
            .catch(swallowed(this.components.logger, 'cannot close an ended log stream', { node }))
          return
        } else if (frame.type === 'error') {
          throw frameError(node, frame)
        } else {
          throw new LogStreamError(`node ${node} sent a second ok on a log stream`)
        }
      }
    } catch (err) {
      // The reader went away, or this node stops: a quiet end.
      if (signal.aborted) return
      if (err instanceof LogStreamError) throw err
      throw new LogStreamError(`the log stream from node ${node} broke: ${message(err)}`, { cause: err })
    } finally {
      close(ended ? undefined : new Error('log stream closed early'))
    }
  }

  /** Reads and validates one frame; a frame that is too large or malformed is a LogStreamError. */
  async #frame(node: string, lp: LengthPrefixedStream<Stream>, signal: AbortSignal): Promise<LogFrame> {
    const bytes = await lp.read({ signal })
    const decoded = decodeLogFrame(bytes.subarray())
    if (!decoded.ok) throw new LogStreamError(`node ${node} sent a malformed log frame (${decoded.reason})`)
    return decoded.value
  }

  async #serve(stream: Stream, peer: string): Promise<void> {
    const { logger, runtime } = this.components
    // Aborted when the reader resets or closes the stream, or when this node stops.
    const life = this.#lives.track()
    const lp = lpStream(stream, { maxDataLength: MAX_LOG_REQUEST_BYTES })
    const context: Record<string, unknown> = { peer }
    let lines = 0
    let outcome = 'served'
    try {
      let decoded: Decoded<LogRequest>
      try {
        const bytes = await lp.read({ signal: AbortSignal.any([life.signal, AbortSignal.timeout(5000)]) })
        decoded = decodeLogRequest(bytes.subarray())
      } catch (err) {
        // Too large, too slow, or gone: nothing worth an answer.
        outcome = `no request: ${message(err)}`
        stream.abort(err as Error)
        return
      }
      if (!decoded.ok) {
        outcome = decoded.reason
        await this.#refuse(stream, lp, 'bad-request', decoded.reason)
        return
      }
      const { workload, slot, tail, previous } = decoded.value
      const follow = decoded.value.follow && previous !== true
      Object.assign(context, { workload, slot, follow, previous })
      const container = previous === true ? undefined : this.components.ownContainer(workload, slot)
      const earlier = previous === true ? this.#previous(workload, slot, tail) : undefined
      if (container === undefined && earlier === undefined) {
        outcome = 'not held'
        const why =
          previous === true
            ? `this node keeps no previous container of ${slotKey(workload, slot)}`
            : `slot ${slotKey(workload, slot)} is not held by this node`
        await this.#refuse(stream, lp, 'not-held', why)
        return
      }
      // The reader sends nothing more: a read ends only when it closes its side or resets the stream.
      endWithReader(lp, life)
      await lp.write(encodeLogFrame({ type: 'ok' }), { signal: life.signal })
      const source =
        earlier ??
        runtime.logs(container as string, {
          follow,
          ...(tail === undefined ? {} : { tail }),
          signal: life.signal,
        })
      for await (const line of source) {
        await lp.write(encodeLogFrame({ type: 'line', stream: line.stream, line: cutLine(line.line) }), {
          signal: life.signal,
        })
        lines++
      }
      if (life.signal.aborted) {
        outcome = this.#stopping ? 'node stopping' : 'reader gone'
        stream.abort(new Error(outcome))
        return
      }
      await lp.write(encodeLogFrame({ type: 'end' }), { signal: AbortSignal.timeout(5000) })
      await stream.close({ signal: AbortSignal.timeout(5000) })
    } catch (err) {
      if (life.signal.aborted) {
        outcome = this.#stopping ? 'node stopping' : 'reader gone'
        stream.abort(new Error(outcome))
        return
      }
      outcome = `failed: ${message(err)}`
      await this.#refuse(stream, lp, 'failed', message(err))
    } finally {
      life.done()
      logger.debug({ ...context, lines, outcome }, 'log stream served')
    }
  }

  /** Sends a last error frame and closes. */
  #refuse(
    stream: Stream,
    lp: LengthPrefixedStream<Stream>,
    code: ErrorFrame['code'],
    reason: string,
  ): Promise<void> {
    return sendLast(
      stream,
      lp,
      encodeLogFrame({ type: 'error', code, message: reason.slice(0, MAX_ERROR_CHARS) }),
    )
  }
}

type ErrorFrame = Extract<LogFrame, { type: 'error' }>

function frameError(node: string, frame: ErrorFrame): Error {
  const text = `node ${node}: ${frame.message}`
  return frame.code === 'not-held' ? new SlotNotHeldError(text) : new LogStreamError(text)
}

// What the stream protocols between nodes (logs, events) share: serving a protocol, the life of
// each stream (ended by its reader, or when the node stops), and the last frame before a close.
import type { Libp2p, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from 'it-length-prefixed-stream'

/** One stream's life: ended by its reader's signal, by `abort()`, or when its service stops. */
export interface StreamLife {
  signal: AbortSignal
  /** The reader went away. */
  abort(): void
  /** The stream is over: the service forgets it. */
  done(): void
}

/** The streams a service (logs, events) serves or reads now, so that stopping it ends them all. */
export class StreamLives {
  readonly #live = new Set<AbortController>()

  /** `gone`: why a stream ends when its reader goes away ("log reader gone"). */
  constructor(private readonly gone: string) {}

  /** Streams open now. */
  get size(): number {
    return this.#live.size
  }

  /** A life this service ends when it stops, ended too by `signal`. */
  track(signal?: AbortSignal): StreamLife {
    const controller = new AbortController()
    const abort = () => controller.abort(signal?.reason)
    if (signal?.aborted === true) abort()
    else signal?.addEventListener('abort', abort, { once: true })
    this.#live.add(controller)
    return {
      signal: controller.signal,
      abort: () => controller.abort(new Error(this.gone)),
      done: () => {
        signal?.removeEventListener('abort', abort)
        this.#live.delete(controller)
      },
    }
  }

  /** Ends every stream: the node stops. */
  endAll(): void {
    for (const controller of this.#live) controller.abort(new Error('this node is stopping'))
    this.#live.clear()
  }
}

/** Serves `protocol`: each inbound stream to `serve`, with the peer that opened it; `maxStreams` each way per connection. */
export async function serveProtocol(
  libp2p: Libp2p,
  protocol: string,
  maxStreams: number,
  serve: (stream: Stream, peer: string) => Promise<void>,
): Promise<void> {
  await libp2p.handle(
    protocol,
    ({ stream, connection }) => {
      void serve(stream, connection.remotePeer.toString())
    },
    { maxInboundStreams: maxStreams, maxOutboundStreams: maxStreams },
  )
}

/** Sends a last frame (an error) and closes; a stream that cannot take it is reset. */
export async function sendLast(
  stream: Stream,
  lp: LengthPrefixedStream<Stream>,
  frame: Uint8Array,
): Promise<void> {
  try {
    await lp.write(frame, { signal: AbortSignal.timeout(5000) })
    await stream.close({ signal: AbortSignal.timeout(5000) })
  } catch (err) {
    stream.abort(err as Error)
  }
}

/** Ends `life` when the reader closes its side or resets the stream: it sends nothing after its request. */
export function endWithReader(lp: LengthPrefixedStream<Stream>, life: StreamLife): void {
  lp.read().then(
    () => life.abort(),
    () => life.abort(),
  )
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err))

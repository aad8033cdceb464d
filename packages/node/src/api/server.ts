import { createHash, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolveLoopback } from '../config/loopback.js'
import { UserError } from '../errors.js'
import type { Logger } from '../logger.js'
import { Gate, GateFullError } from './gate.js'
import { jsonDepthOver } from './json-depth.js'
import { refusal } from './request-guard.js'

/** Largest request body the API reads, bytes. */
export const MAX_API_BODY_BYTES = 2 * 1024 * 1024
/** Deepest nesting of a JSON body: every route's body is a flat object. */
export const MAX_API_BODY_DEPTH = 32

/** The API would listen beyond loopback without a token. */
export class ApiExposedError extends UserError {
  override name = 'ApiExposedError'
}

/** A request the API refuses: the status and sentence go back to the client as they are. */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError'
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
  }
}

/** An answer sent as it is (a page, the metrics exposition), not as JSON. */
export class RawAnswer {
  constructor(
    readonly contentType: string,
    readonly body: string | Uint8Array,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** One server-sent event: `event` names it (default `message`), `data` goes as one JSON line. */
export interface ServerSentEvent {
  event?: string
  data: unknown
}

/** An answer streamed as server-sent events (`text/event-stream`) until it ends or the client goes. */
export class EventStream {
  constructor(readonly events: AsyncIterable<ServerSentEvent>) {}
}

export interface ApiRequest {
  params: Record<string, string>
  body: unknown
  query: URLSearchParams
  /** Aborts when the client goes away. */
  signal: AbortSignal
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  /** Path pattern; `:name` segments become params. */
  path: string
  /**
   * Returns the JSON answer, or an AsyncIterable whose items are streamed as NDJSON until it ends
   * or the client goes away. An error it throws once streaming has begun becomes a last
   * `{"error": ...}` line.
   */
  handle(request: ApiRequest): unknown
}

export interface ApiInit {
  host: string
  port: number
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string
  /** Requests handled at once; the others wait. Default 8. */
  maxConcurrent?: number
  /** Requests waiting; beyond that the API answers 503 with Retry-After. Default 64. */
  maxQueued?: number
  /** Answer streams (logs) open at once. Default 64. */
  maxStreams?: number
  /** A request body must arrive within this long, ms. Default 10000. */
  bodyTimeoutMs?: number
  /** What the listener is called in its `listening` log line. Default `api`. */
  name?: string
}

export interface ApiComponents {
  /**
   * Told of every answer: the route's method and pattern (`none` when no route matched), and the
   * status (0 when the client went away before it).
   */
  onAnswer?: (route: string, status: number) => void
}

/**
 * The local HTTP API the CLI talks to. Loopback by default: any node answers for the whole
 * cluster, so there is no reason to expose it wider without a token.
 */
export class ApiServer {
  #server?: Server
  readonly #routes: { method: string; pattern: RegExp; names: string[]; route: Route }[]
  readonly #gate: Gate
  #streams = 0

  constructor(
    private readonly init: ApiInit,
    routes: Route[],
    private readonly log: Logger,
    private readonly components: ApiComponents = {},
  ) {
    this.#gate = new Gate(init.maxConcurrent ?? 8, init.maxQueued ?? 64)
    this.#routes = routes.map((route) => {
      const names: string[] = []
      const pattern = route.path.replace(/:([a-z]+)/g, (_, name: string) => {
        names.push(name)
        return '([^/]+)'
      })
      return { method: route.method, pattern: new RegExp(`^${pattern}$`), names, route }
    })
  }

  /**
   * Refuses, with ApiExposedError, an API without a token whose host resolves to anything but
   * loopback: judged on the addresses, since a name that looks local may not be.
   */
  async #checkExposure(): Promise<void> {
    if (this.init.token === undefined) {
      const { loopback, addresses } = await resolveLoopback(this.init.host).catch((err: Error) => {
        throw new ApiExposedError(`cannot resolve the API host ${this.init.host}: ${err.message}`)
      })
      if (!loopback) {
        throw new ApiExposedError(
          `the API host ${this.init.host} is ${addresses.join(', ')}, beyond loopback: give it a token (--api-token-file FILE or GARY_API_TOKEN)`,
        )
      }
    }
  }

  async start(): Promise<void> {
    await this.#checkExposure()
    const server = createServer((request, response) => {
      void this.#handle(request, response)
    })
    // A client that sends its request slowly holds a socket, not the event loop; bound both.
    server.headersTimeout = 10_000
    server.requestTimeout = 30_000
    server.maxConnections = 256
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const { port } = server.address() as AddressInfo
    this.log.info(
      { [this.init.name ?? 'api']: `${this.init.host}:${port}` },
      `${this.init.name ?? 'api'} listening`,
    )
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const gone = new AbortController()
    const matched = { route: 'none' }
    response.once('close', () => {
      gone.abort()
      this.components.onAnswer?.(matched.route, response.headersSent ? response.statusCode : 0)
    })
    let release: (() => void) | undefined
    try {
      const refused = refusal(request, { apiHost: this.init.host, token: this.init.token })
      if (refused !== undefined) throw new ApiRequestError(refused.status, refused.message)
      if (!this.#authorised(request)) throw new ApiRequestError(401, 'missing or wrong API token')
      release = await this.#admit(gone.signal)
      const answer = await this.#route(request, gone.signal, matched)
      // A stream may last for hours: it stops counting as work once it is set up.
      if (answer instanceof EventStream) {
        release()
        await this.#streamBounded(request, response, answer.events, gone.signal, 'sse')
      } else if (isAsyncIterable(answer)) {
        release()
        await this.#streamBounded(request, response, answer, gone.signal, 'ndjson')
      } else if (answer instanceof RawAnswer) sendRaw(response, answer)
      else send(response, 200, answer)
    } catch (err) {
      if (gone.signal.aborted) return
      if (err instanceof ApiRequestError) {
        send(
          response,
          err.status,
          { error: err.message, ...(err.details === undefined ? {} : { details: err.details }) },
          err.status === 503
            ? { 'retry-after': '1' }
            : // The rest of an unread body is not worth reading.
              err.status === 408 || err.status === 413
              ? { connection: 'close' }
              : // A browser asks for the token (as the password) and sends it with every request.
                err.status === 401
                ? { 'www-authenticate': 'Basic realm="gary", charset="UTF-8"' }
                : {},
        )
      } else {
        this.log.error({ err, url: request.url?.slice(0, 200) }, 'api request failed')
        send(response, 500, { error: (err as Error).message })
      }
    } finally {
      release?.()
    }
  }

  async #admit(signal: AbortSignal): Promise<() => void> {
    try {
      return await this.#gate.acquire(signal)
    } catch (err) {
      if (err instanceof GateFullError)
        throw new ApiRequestError(503, 'the API is busy: try again in a second')
      throw err
    }
  }

  async #streamBounded(
    request: IncomingMessage,
    response: ServerResponse,
    items: AsyncIterable<unknown>,
    signal: AbortSignal,
    format: 'ndjson' | 'sse',
  ): Promise<void> {
    if (this.#streams >= (this.init.maxStreams ?? 64)) {
      await (items as AsyncIterable<unknown> & { return?: () => Promise<unknown> })
        [Symbol.asyncIterator]()
        .return?.()
        .catch(() => {})
      throw new ApiRequestError(503, 'too many streams open: try again later')
    }
    this.#streams++
    try {
      await this.#stream(request, response, items, signal, format)
    } finally {
      this.#streams--
    }
  }

  async #route(request: IncomingMessage, signal: AbortSignal, matched: { route: string }): Promise<unknown> {
    let url: URL
    try {
      url = new URL(request.url ?? '/', 'http://localhost')
    } catch {
      throw new ApiRequestError(400, 'the request target is not a URL path')
    }
    const path = url.pathname
    for (const { method, pattern, names, route } of this.#routes) {
      const match = pattern.exec(path)
      if (match === null || method !== request.method) continue
      matched.route = `${method} ${route.path}`
      const params = Object.fromEntries(names.map((name, i) => [name, decodePathPart(match[i + 1] ?? '')]))
      const body =
        request.method === 'POST'
          ? await readJsonBody(
              request,
              AbortSignal.any([signal, AbortSignal.timeout(this.init.bodyTimeoutMs ?? 10_000)]),
            )
          : undefined
      return await route.handle({ params, body, query: url.searchParams, signal })
    }
    throw new ApiRequestError(404, `no such endpoint: ${request.method} ${path.slice(0, 200)}`)
  }

  /**
   * Writes items as NDJSON, or as server-sent events, waiting for the client to take them; never
   * throws.
   */
  async #stream(
    request: IncomingMessage,
    response: ServerResponse,
    items: AsyncIterable<unknown>,
    signal: AbortSignal,
    format: 'ndjson' | 'sse',
  ): Promise<void> {
    const frame = (item: unknown) => {
      if (format === 'ndjson') return `${JSON.stringify(item)}\n`
      const { event, data } = item as ServerSentEvent
      return `event: ${event ?? 'message'}\ndata: ${JSON.stringify(data)}\n\n`
    }
    response.writeHead(200, {
      'content-type': format === 'ndjson' ? 'application/x-ndjson' : 'text/event-stream',
      'cache-control': 'no-store',
    })
    // A stream may stay quiet for long: the client should know at once that it was accepted.
    response.flushHeaders()
    try {
      for await (const item of items) {
        if (signal.aborted) break
        if (!response.write(frame(item))) await once(response, 'drain', { signal })
      }
    } catch (err) {
      if (!signal.aborted) {
        this.log.error({ err, url: request.url }, 'api stream failed')
        response.write(
          frame(
            format === 'ndjson'
              ? { error: (err as Error).message }
              : { event: 'error', data: { error: (err as Error).message } },
          ),
        )
      }
    } finally {
      response.end()
    }
  }

  /**
   * The token as a bearer token (the CLI, Prometheus), or as the password of Basic auth with any
   * user name (a browser on the live page, which sends it with every request once asked).
   */
  #authorised(request: IncomingMessage): boolean {
    if (this.init.token === undefined) return true
    const header = request.headers.authorization ?? ''
    const basic = /^Basic ([A-Za-z0-9+/=]{1,2048})$/.exec(header)
    const given = basic === null ? header : `Bearer ${passwordOf(basic[1]!)}`
    return sameSecret(given, `Bearer ${this.init.token}`)
  }
}

/** Compares in time that does not depend on where they differ, nor on the given one's length. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

function passwordOf(credentials: string): string {
  const decoded = Buffer.from(credentials, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? '' : decoded.slice(colon + 1)
}

function sendRaw(response: ServerResponse, answer: RawAnswer): void {
  response.writeHead(200, {
    'content-type': answer.contentType,
    'content-length': Buffer.byteLength(answer.body),
    'cache-control': 'no-store',
    ...answer.headers,
  })
  response.end(answer.body)
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new ApiRequestError(400, 'the path has a malformed %-escape')
  }
}

async function readJsonBody(request: IncomingMessage, signal: AbortSignal): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  const read = async () => {
    for await (const chunk of request.iterator({ destroyOnReturn: false })) {
      size += (chunk as Buffer).byteLength
      if (size > MAX_API_BODY_BYTES)
        throw new ApiRequestError(413, `request body is over ${MAX_API_BODY_BYTES} bytes`)
      chunks.push(chunk as Buffer)
    }
  }
  // A client that stops sending is answered and let go: it holds a place in the gate meanwhile.
  let onAbort: (() => void) | undefined
  const late = new Promise<never>((_, reject) => {
    onAbort = () => reject(new ApiRequestError(408, 'the request body did not arrive in time'))
    signal.addEventListener('abort', onAbort, { once: true })
  })
  const reading = read()
  // Once the race is lost the reading may still fail, when the socket closes: nobody waits for it.
  reading.catch(() => {})
  try {
    await Promise.race([reading, late])
  } catch (err) {
    if (err instanceof ApiRequestError) throw err
    throw new ApiRequestError(400, `the request body could not be read: ${(err as Error).message}`)
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  // JSON.parse took a second over 2 MB of nested brackets, on the event loop.
  if (jsonDepthOver(text, MAX_API_BODY_DEPTH))
    throw new ApiRequestError(400, `request body nests deeper than ${MAX_API_BODY_DEPTH} levels`)
  try {
    return JSON.parse(text)
  } catch {
    throw new ApiRequestError(400, 'request body is not JSON')
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.end()
    return
  }
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  response.end(text)
}

import { timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'

/** Largest request body the API reads, bytes. */
export const MAX_API_BODY_BYTES = 2 * 1024 * 1024

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
}

/**
 * The local HTTP API the CLI talks to. Loopback by default: any node answers for the whole
 * cluster, so there is no reason to expose it wider without a token.
 */
export class ApiServer {
  #server?: Server
  readonly #routes: { method: string; pattern: RegExp; names: string[]; route: Route }[]

  constructor(
    private readonly init: ApiInit,
    routes: Route[],
    private readonly log: Logger,
  ) {
    this.#routes = routes.map((route) => {
      const names: string[] = []
      const pattern = route.path.replace(/:([a-z]+)/g, (_, name: string) => {
        names.push(name)
        return '([^/]+)'
      })
      return { method: route.method, pattern: new RegExp(`^${pattern}$`), names, route }
    })
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      void this.#handle(request, response)
    })
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const { port } = server.address() as AddressInfo
    this.log.info({ api: `${this.init.host}:${port}` }, 'api listening')
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const gone = new AbortController()
    response.once('close', () => gone.abort())
    try {
      const answer = await this.#route(request, gone.signal)
      if (isAsyncIterable(answer)) await this.#stream(request, response, answer, gone.signal)
      else send(response, 200, answer)
    } catch (err) {
      if (err instanceof ApiRequestError) {
        send(response, err.status, {
          error: err.message,
          ...(err.details === undefined ? {} : { details: err.details }),
        })
      } else {
        this.log.error({ err, url: request.url }, 'api request failed')
        send(response, 500, { error: (err as Error).message })
      }
    }
  }

  async #route(request: IncomingMessage, signal: AbortSignal): Promise<unknown> {
    if (!this.#authorised(request)) throw new ApiRequestError(401, 'missing or wrong API token')
    const url = new URL(request.url ?? '/', 'http://localhost')
    const path = url.pathname
    for (const { method, pattern, names, route } of this.#routes) {
      const match = pattern.exec(path)
      if (match === null || method !== request.method) continue
      const params = Object.fromEntries(
        names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]),
      )
      const body = request.method === 'POST' ? await readJsonBody(request) : undefined
      return await route.handle({ params, body, query: url.searchParams, signal })
    }
    throw new ApiRequestError(404, `no such endpoint: ${request.method} ${path}`)
  }

  /** Writes items as NDJSON, waiting for the client to take them; never throws. */
  async #stream(
    request: IncomingMessage,
    response: ServerResponse,
    items: AsyncIterable<unknown>,
    signal: AbortSignal,
  ): Promise<void> {
    response.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    // A stream may stay quiet for long: the client should know at once that it was accepted.
    response.flushHeaders()
    try {
      for await (const item of items) {
        if (signal.aborted) break
        if (!response.write(`${JSON.stringify(item)}\n`)) await once(response, 'drain', { signal })
      }
    } catch (err) {
      if (!signal.aborted) {
        this.log.error({ err, url: request.url }, 'api stream failed')
        response.write(`${JSON.stringify({ error: (err as Error).message })}\n`)
      }
    } finally {
      response.end()
    }
  }

  #authorised(request: IncomingMessage): boolean {
    if (this.init.token === undefined) return true
    const given = Buffer.from(request.headers.authorization ?? '')
    const expected = Buffer.from(`Bearer ${this.init.token}`)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength
    if (size > MAX_API_BODY_BYTES)
      throw new ApiRequestError(413, `request body is over ${MAX_API_BODY_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ApiRequestError(400, 'request body is not JSON')
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}

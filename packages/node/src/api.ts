import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from './logger.js'

/** What the API serves; the daemon implements it. */
export interface ApiHandlers {
  id(): { id: string; addrs: string[] }
  nodes(): unknown[]
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

  constructor(
    private readonly init: ApiInit,
    private readonly handlers: ApiHandlers,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const server = createServer((request, response) => this.#handle(request, response))
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

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const { status, body } = this.#route(request)
    send(response, status, body)
  }

  #route(request: IncomingMessage): { status: number; body: unknown } {
    if (!this.#authorised(request)) return { status: 401, body: { error: 'missing or wrong API token' } }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    const route = `${request.method} ${path}`
    try {
      switch (route) {
        case 'GET /v1/id':
          return { status: 200, body: this.handlers.id() }
        case 'GET /v1/nodes':
          return { status: 200, body: this.handlers.nodes() }
        case 'GET /v1/health':
          return { status: 200, body: { ok: true } }
        default:
          return { status: 404, body: { error: `no such endpoint: ${route}` } }
      }
    } catch (err) {
      this.log.error({ err, route }, 'api request failed')
      return { status: 500, body: { error: (err as Error).message } }
    }
  }

  #authorised(request: IncomingMessage): boolean {
    if (this.init.token === undefined) return true
    const given = Buffer.from(request.headers.authorization ?? '')
    const expected = Buffer.from(`Bearer ${this.init.token}`)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}

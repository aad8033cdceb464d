import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import type { Logger } from '../logger.js'
import { answer, failure, messageId, parseQuery, RCODE } from './dns-message.js'
import { hostResolvers } from './resolv-conf.js'
import { type MeshStats, newMeshStats } from './stats.js'

export interface NameServerInit {
  /** Where to listen, and the address containers are given as their name server. */
  address: string
  /** Default 53: resolv.conf names no port. */
  port?: number
  /** Where other names go. Default the host's resolv.conf's name servers (read at start). */
  upstreams?: string[]
  /** The upstreams' port. Default 53. */
  upstreamPort?: number
  /** How long one upstream may take to answer, ms. Default 1000. */
  upstreamTimeoutMs?: number
  /** Queries forwarded at once; past it, a query is told to try again (SERVFAIL). Default 256. */
  maxPending?: number
}

export interface NameServerComponents {
  logger: Logger
  /** The addresses that serve a workload's name (lower case, no `.gary`), or undefined when no workload has it. */
  lookup: (workload: string) => string[] | undefined
  stats?: MeshStats
}

/** The name server could not listen where it was told; the message says why. */
export class NameServerError extends Error {
  override name = 'NameServerError'
}

const SUFFIX = '.gary'

/**
 * The name server a node gives its containers: a workload's name (`web`, or `web.gary`) resolves
 * to where this node's mesh serves its published ports; any other name is forwarded, bytes
 * untouched, to the host's own resolvers. UDP only.
 */
export class NameServer {
  #socket?: Socket
  #upstreams: string[] = []
  #pending = 0
  readonly #stats: MeshStats
  readonly #timeoutMs: number
  readonly #maxPending: number
  readonly #forwards = new Set<Socket>()

  constructor(
    private readonly init: NameServerInit,
    private readonly components: NameServerComponents,
  ) {
    this.#stats = components.stats ?? newMeshStats()
    this.#timeoutMs = init.upstreamTimeoutMs ?? 1000
    this.#maxPending = init.maxPending ?? 256
  }

  get address(): string {
    return this.init.address
  }

  /** Listens; throws NameServerError when the address cannot be had (in use, not this host's...). */
  async start(): Promise<void> {
    this.#upstreams = this.init.upstreams ?? (await hostResolvers('/etc/resolv.conf', [this.init.address]))
    const socket = createSocket({ type: isIPv6(this.init.address) ? 'udp6' : 'udp4' })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.close()
        reject(new NameServerError(bindFailure(this.init.address, this.init.port ?? 53, err)))
      })
      socket.bind({ address: this.init.address, port: this.init.port ?? 53, exclusive: true }, () =>
        resolve(),
      )
    })
    socket.removeAllListeners('error')
    socket.on('error', (err) => this.components.logger.warn({ err: err.message }, 'name server error'))
    socket.on('message', (message, from) => this.#query(message, from))
    this.#socket = socket
  }

  get port(): number | undefined {
    return this.#socket?.address().port
  }

  async stop(): Promise<void> {
    for (const forward of this.#forwards) forward.close()
    this.#forwards.clear()
    const socket = this.#socket
    this.#socket = undefined
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  #query(message: Buffer, from: RemoteInfo): void {
    const query = parseQuery(message)
    if (query === undefined) {
      const id = messageId(message)
      // A response (or junk) gets nothing; a query we cannot read is told so.
      if (id !== undefined && message.length >= 3 && ((message[2] as number) & 0x80) === 0)
        this.#reply(failure(id, RCODE.formErr), from)
      return
    }
    const workload = query.name.endsWith(SUFFIX) ? query.name.slice(0, -SUFFIX.length) : query.name
    const addresses =
      query.opcode === 0 && !workload.includes('.') ? this.components.lookup(workload) : undefined
    if (addresses !== undefined) {
      this.#stats.dnsAnswered++
      this.#reply(answer(query, RCODE.noError, addresses), from)
      return
    }
    if (query.name.endsWith(SUFFIX) || query.name === 'gary') {
      this.#stats.dnsAnswered++
      this.#reply(answer(query, RCODE.nxDomain), from)
      return
    }
    void this.#forward(message, query.id).then((reply) => {
      if (reply !== undefined) this.#stats.dnsForwarded++
      else this.#stats.dnsFailed++
      this.#reply(reply ?? answer(query, RCODE.servFail), from)
    })
  }

  /** The first upstream answer with the query's id, or undefined when none came in time. */
  async #forward(message: Buffer, id: number): Promise<Uint8Array | undefined> {
    if (this.#pending >= this.#maxPending) return undefined
    this.#pending++
    try {
      for (const upstream of this.#upstreams.slice(0, 2)) {
        const reply = await this.#ask(upstream, message, id)
        if (reply !== undefined) return reply
      }
      return undefined
    } finally {
      this.#pending--
    }
  }

  #ask(upstream: string, message: Buffer, id: number): Promise<Uint8Array | undefined> {
    const port = this.init.upstreamPort ?? 53
    return new Promise((resolve) => {
      const [address = upstream] = upstream.split('%')
      const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' })
      this.#forwards.add(socket)
      const done = (reply: Uint8Array | undefined) => {
        clearTimeout(timer)
        this.#forwards.delete(socket)
        socket.close()
        resolve(reply)
      }
      const timer = setTimeout(() => done(undefined), this.#timeoutMs)
      socket.on('error', () => done(undefined))
      socket.on('message', (reply, from) => {
        // Only the upstream's answer to this query, on a port chosen at random for it.
        if (from.address === address && from.port === port && messageId(reply) === id) done(reply)
      })
      socket.send(message, port, upstream, (err) => {
        if (err) done(undefined)
      })
    })
  }

  #reply(bytes: Uint8Array, to: RemoteInfo): void {
    this.#socket?.send(bytes, to.port, to.address)
  }
}

function bindFailure(address: string, port: number, err: NodeJS.ErrnoException): string {
  const where = `${isIPv6(address) ? `[${address}]` : address}:${port}/udp`
  switch (err.code) {
    case 'EADDRINUSE':
      return `${where} is in use by another process (another node on this engine, or a local resolver)`
    case 'EADDRNOTAVAIL':
      return `${where} is not an address of this host`
    case 'EACCES':
      return `no permission to listen on ${where} (port 53 needs root or CAP_NET_BIND_SERVICE)`
    default:
      return `cannot listen on ${where}: ${err.message}`
  }
}

import { connect, createServer, type Server, type Socket } from 'node:net'
import { type Backend, chooseBackend, type MeshService, type PortClash } from '@gary/protocol'
import type { Logger } from '../logger.js'
import { type MeshStats, newMeshStats } from './stats.js'

export interface MeshInit {
  /** How long reaching a slot may take before the connection tries another, ms. Default 1000. */
  connectTimeoutMs?: number
  /** How long a slot that a connection failed to reach stays out of rotation, ms. Default 2000. */
  failingForMs?: number
  /** How often a published port that could not be listened on is tried again, ms. Default 5000. */
  relistenMs?: number
  /** Where published ports are listened on. Default every address. */
  host?: string
}

export interface MeshComponents {
  logger: Logger
  /** Monotonic ms. */
  now: () => number
  random?: () => number
  stats?: MeshStats
  /** A port started or stopped being served (see `unserved`). */
  onUnservedChange?: () => void
  /** A port is listened on now. */
  onListening?: (port: number) => void
}

/** A published port this node does not serve, and why. */
export interface UnservedPort {
  port: number
  protocol: 'tcp'
  workload: string
  reason: string
}

interface Listener {
  port: number
  service: MeshService
  server?: Server
  /** Why the port is not served, while it is not. */
  reason?: string
  retry?: NodeJS.Timeout
}

/**
 * The routing mesh of one node: it listens on every published port and sends each connection to
 * a ready slot (`chooseBackend`): its own first, else the one with the fewest connections. A slot
 * it cannot reach is left out for a while and the connection tries another, as long as nothing
 * was sent (the client's bytes wait in the socket until a slot is reached). Connections are never
 * cut when their slot leaves rotation: they end when either side ends them.
 */
export class Mesh {
  readonly stats: MeshStats
  readonly #listeners = new Map<number, Listener>()
  readonly #active = new Map<string, number>()
  readonly #failingUntil = new Map<string, number>()
  readonly #sockets = new Set<Socket>()
  #clashes: PortClash[] = []
  #stopped = false
  readonly #connectTimeoutMs: number
  readonly #failingForMs: number
  readonly #relistenMs: number

  constructor(
    private readonly init: MeshInit,
    private readonly components: MeshComponents,
  ) {
    this.stats = components.stats ?? newMeshStats()
    this.#connectTimeoutMs = init.connectTimeoutMs ?? 1000
    this.#failingForMs = init.failingForMs ?? 2000
    this.#relistenMs = init.relistenMs ?? 5000
  }

  /** Whether it serves nothing and remembers nothing of a view: `update([], [])` would change nothing. */
  get idle(): boolean {
    return this.#listeners.size === 0 && this.#clashes.length === 0 && this.#failingUntil.size === 0
  }

  /** Serves these ports, with these slots behind them, from now on (`meshServices` of the view). */
  update(services: readonly MeshService[], clashes: readonly PortClash[]): void {
    if (this.#stopped) return
    this.#clashes = [...clashes]
    const known = new Set(services.flatMap((service) => service.backends.map((backend) => backend.key)))
    for (const key of this.#failingUntil.keys()) if (!known.has(key)) this.#failingUntil.delete(key)
    const wanted = new Map(services.map((service) => [service.publishedPort, service]))
    for (const [port, listener] of this.#listeners) {
      if (wanted.has(port)) continue
      this.#close(listener)
      this.#listeners.delete(port)
    }
    for (const service of wanted.values()) {
      const listener = this.#listeners.get(service.publishedPort)
      if (listener !== undefined) listener.service = service
      else {
        const created: Listener = { port: service.publishedPort, service }
        this.#listeners.set(created.port, created)
        this.#listen(created)
      }
    }
  }

  /** The published ports this node does not serve now, and why. */
  get unserved(): UnservedPort[] {
    const ports: UnservedPort[] = []
    for (const listener of this.#listeners.values()) {
      if (listener.reason !== undefined)
        ports.push({
          port: listener.port,
          protocol: 'tcp',
          workload: listener.service.workload,
          reason: listener.reason,
        })
    }
    for (const clash of this.#clashes) {
      ports.push({
        port: clash.port,
        protocol: clash.protocol,
        workload: clash.workload,
        reason: `workload ${clash.servedBy} publishes port ${clash.port}/tcp too, and serves it`,
      })
    }
    return ports.sort((a, b) => a.port - b.port || (a.workload < b.workload ? -1 : 1))
  }

  /** Whether this node's listener holds the port now (another process may). */
  serving(port: number): boolean {
    return this.#listeners.get(port)?.server?.listening === true
  }

  /** Stops listening; open connections are closed too. */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const listener of this.#listeners.values()) this.#close(listener)
    this.#listeners.clear()
    for (const socket of this.#sockets) socket.destroy()
  }

  #listen(listener: Listener): void {
    const server = createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, (client) =>
      this.#accept(listener, client),
    )
    listener.server = server
    server.once('listening', () => {
      this.components.onListening?.(listener.port)
      if (listener.reason === undefined) return
      this.components.logger.info(
        { port: listener.port, workload: listener.service.workload },
        'serving published port',
      )
      listener.reason = undefined
      this.components.onUnservedChange?.()
    })
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (listener.server !== server) return
      const reason = listenFailure(listener.port, err)
      if (err.code === 'EADDRINUSE') this.stats.portInUse++
      if (reason !== listener.reason)
        this.components.logger.warn(
          { port: listener.port, workload: listener.service.workload, reason },
          'published port not served',
        )
      const changed = reason !== listener.reason
      listener.reason = reason
      listener.server = undefined
      if (changed) this.components.onUnservedChange?.()
      server.close()
      if (this.#stopped) return
      listener.retry = setTimeout(() => {
        listener.retry = undefined
        if (this.#listeners.get(listener.port) === listener && !this.#stopped) this.#listen(listener)
      }, this.#relistenMs)
      listener.retry.unref()
    })
    server.listen({ port: listener.port, host: this.init.host })
  }

  #close(listener: Listener): void {
    clearTimeout(listener.retry)
    listener.server?.close()
    listener.server = undefined
  }

  #accept(listener: Listener, client: Socket): void {
    this.stats.connections++
    this.#sockets.add(client)
    client.once('close', () => this.#sockets.delete(client))
    // Until a slot is reached a client that goes away only ends the attempt.
    client.on('error', () => client.destroy())
    this.#forward(listener, client, new Set())
  }

  #forward(listener: Listener, client: Socket, tried: Set<string>): void {
    if (client.destroyed) return
    const now = this.components.now()
    const backend = chooseBackend({
      backends: listener.service.backends,
      active: (key) => this.#active.get(key) ?? 0,
      tried,
      failing: (key) => (this.#failingUntil.get(key) ?? 0) > now,
      random: this.components.random ?? Math.random,
    })
    if (backend === undefined) {
      this.stats.unserved++
      this.components.logger.debug(
        { port: listener.port, workload: listener.service.workload, tried: [...tried] },
        tried.size === 0 ? 'no ready slot for a connection' : 'no slot could be reached for a connection',
      )
      client.resetAndDestroy()
      return
    }
    tried.add(backend.key)
    const upstream = connect({ host: backend.host, port: backend.port, noDelay: true, allowHalfOpen: true })
    const timer = setTimeout(
      () => upstream.destroy(new Error(`no answer within ${this.#connectTimeoutMs} ms`)),
      this.#connectTimeoutMs,
    )
    const abandon = () => upstream.destroy()
    client.once('close', abandon)
    upstream.once('error', (err) => {
      clearTimeout(timer)
      client.off('close', abandon)
      this.stats.connectFailures++
      this.#failingUntil.set(backend.key, this.components.now() + this.#failingForMs)
      this.components.logger.debug(
        { workload: backend.workload, slot: backend.slot, node: backend.node, err: err.message },
        'slot unreachable: trying another',
      )
      this.#forward(listener, client, tried)
    })
    upstream.once('connect', () => {
      clearTimeout(timer)
      client.off('close', abandon)
      upstream.removeAllListeners('error')
      this.#splice(backend, client, upstream)
    })
  }

  /** Both ways until both sides have ended; an error on either closes both. */
  #splice(backend: Backend, client: Socket, upstream: Socket): void {
    this.stats.forwarded++
    this.stats.open++
    this.#active.set(backend.key, (this.#active.get(backend.key) ?? 0) + 1)
    this.#failingUntil.delete(backend.key)
    this.#sockets.add(upstream)
    let closed = 0
    const onClose = () => {
      if (++closed === 1) {
        client.destroy()
        upstream.destroy()
        return
      }
      this.#sockets.delete(upstream)
      this.stats.open--
      const left = (this.#active.get(backend.key) ?? 1) - 1
      if (left > 0) this.#active.set(backend.key, left)
      else this.#active.delete(backend.key)
    }
    client.once('close', onClose)
    upstream.once('close', onClose)
    upstream.on('error', () => upstream.destroy())
    client.pipe(upstream)
    upstream.pipe(client)
    client.resume()
  }
}

function listenFailure(port: number, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${port}/tcp is in use by another process`
    case 'EACCES':
      return `no permission to listen on port ${port}/tcp (ports below 1024 need root or CAP_NET_BIND_SERVICE)`
    default:
      return `cannot listen on port ${port}/tcp: ${err.message}`
  }
}

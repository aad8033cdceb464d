import type { Server } from 'node:net'
import type { MeshService, UnservedPort, Workload } from '@gary/protocol'
import { meshServices, spreadTargets } from '@gary/protocol'
import type { Logger } from '../logger.js'
import { type EndpointNode, type EndpointRow, endpointRows } from './endpoint-rows.js'
import { KernelForwarder } from './kernel-forwarder.js'
import { chooseMeshMode, lockNetns, type MeshMode } from './mesh-mode.js'
import { NameServer, NameServerError } from './name-server.js'
import type { ForwardedPort } from './nat-ruleset.js'
import { type Netfilter, NftNetfilter } from './netfilter.js'
import { Mesh, type MeshInit } from './router.js'
import { type MeshStats, newMeshStats } from './stats.js'

export interface NodeMeshInit {
  mesh?: MeshInit
  /** The name server's address; `off` for none. */
  dns: string
  /** Who forwards published ports: the kernel (nftables) or the userland proxy. Default `userland`. */
  mode?: MeshMode
}

export interface NodeMeshComponents {
  self: string
  logger: Logger
  /** Monotonic ms. */
  now: () => number
  /** The live declarations. */
  workloads: () => Workload[]
  /** Every member this node reads with its promises, this node included. */
  nodes: () => EndpointNode[]
  /** Whether a live workload has this name (asked for every DNS query: cheaper than the view). */
  declared: (name: string) => boolean
  /** The published ports this node does not serve changed: promise it. */
  publishUnserved: (ports: UnservedPort[]) => void
  /** A container's address on the engine's network, where this node reaches its ports directly. */
  containerAddress?: (container: string) => Promise<string | undefined>
  /** Where other machines reach this node (decides whether `auto` may use the kernel). */
  advertiseHost?: () => string
  /** This network namespace's packet filter. Default nftables through `nft`. */
  netfilter?: Netfilter
  /** Takes the namespace's kernel mesh for this daemon (default an abstract socket). */
  lockNetns?: () => Promise<Server | undefined>
}

/** Whether the mesh serves anything of `workload` (`meshServices` reads only its published TCP ports). */
const publishes = (workload: Workload): boolean =>
  workload.ports.some((port) => port.publishedPort !== undefined && port.protocol === 'tcp')

/** How often the mesh re-reads the view with no trigger, ms (levels, not edges). */
const RESYNC_MS = 1000
/** A burst of triggers costs one read, ms. */
const COALESCE_MS = 5

/**
 * A node's part in reaching workloads: the routing mesh on published ports and the name server
 * its containers are given, both fed from the view the reconcile loop reads.
 */
export class NodeMesh {
  readonly stats: MeshStats = newMeshStats()
  readonly #mesh: Mesh
  #nameServer?: NameServer
  #timer?: NodeJS.Timeout
  #resync?: NodeJS.Timeout
  #lastUnserved = '[]'
  /** Own containers' addresses (null: it has none), and those being asked for. */
  readonly #addresses = new Map<string, string | null>()
  readonly #asking = new Set<string>()
  #kernel?: KernelForwarder
  #lock?: Server
  /** The services the last refresh gave the forwarding, and who waits for the next refresh. */
  #forwarded: readonly MeshService[] = []
  readonly #refreshWaiters = new Set<() => void>()
  #stopped = false

  constructor(
    private readonly init: NodeMeshInit,
    private readonly components: NodeMeshComponents,
  ) {
    this.#mesh = new Mesh(init.mesh ?? {}, {
      logger: components.logger,
      now: components.now,
      stats: this.stats,
      onUnservedChange: () => this.#publishUnserved(),
      onListening: () => this.viewChanged(),
    })
  }

  /** Who forwards published ports now. */
  get mode(): 'kernel' | 'userland' {
    return this.#kernel === undefined ? 'userland' : 'kernel'
  }

  /** The ports the kernel forwards now (the userland proxy holds them too, and serves the rest). */
  get kernelPorts(): readonly number[] {
    return this.#kernel?.ports ?? []
  }

  /** Waits until the kernel's table holds the last view read (tests). */
  async settled(): Promise<void> {
    await this.#kernel?.settled()
  }

  /**
   * Picks the forwarding mode (`MeshModeError` when `kernel` cannot be), then starts the name
   * server (unless it cannot listen: then containers keep the engine's).
   */
  async start(): Promise<void> {
    await this.#startForwarding()
    this.#resync = setInterval(() => this.viewChanged(), RESYNC_MS)
    this.#resync.unref()
    if (this.init.dns === 'off') return
    const address = this.init.dns
    const server = new NameServer(
      { address },
      {
        logger: this.components.logger,
        stats: this.stats,
        lookup: (name) => (this.components.declared(name) ? [address] : undefined),
      },
    )
    try {
      await server.start()
      this.#nameServer = server
      this.components.logger.info({ address }, 'name server listening: containers resolve workload names')
    } catch (err) {
      if (!(err instanceof NameServerError)) throw err
      this.components.logger.warn({ reason: err.message }, 'no name server: containers keep the engine’s')
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    for (const done of [...this.#refreshWaiters]) done()
    clearInterval(this.#resync)
    clearTimeout(this.#timer)
    await this.#kernel?.stop()
    this.#lock?.close()
    await this.#mesh.stop()
    await this.#nameServer?.stop()
  }

  /** The name servers new containers are given, while this node's runs. */
  containerDns(): string[] | undefined {
    return this.#nameServer === undefined ? undefined : [this.#nameServer.address]
  }

  /** Look again: promises, members or declarations changed. Bursts coalesce. */
  viewChanged(): void {
    if (this.#timer !== undefined || this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#refresh()
    }, COALESCE_MS)
  }

  /**
   * Resolves true once this node's forwarding no longer sends new connections to `container` of
   * `node` (the kernel's table written, when the kernel forwards); false if `signal` ends first.
   */
  async outOfRotation(node: string, container: string, signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted && !this.#stopped) {
      if (!this.#forwards(node, container)) {
        // The table being written may be an older view's: out once this view's (or a later) is in.
        if (this.#kernel !== undefined) await this.#kernel.reached(this.#kernel.updates)
        if (!this.#forwards(node, container)) return true
        continue
      }
      await this.#nextRefresh(signal)
    }
    return false
  }

  #forwards(node: string, container: string): boolean {
    return this.#forwarded.some((service) =>
      service.backends.some((backend) => backend.node === node && backend.container === container),
    )
  }

  #nextRefresh(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#refreshWaiters.delete(done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#refreshWaiters.add(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** `gary endpoints`: every published port, where it is served, and the ready slots behind it. */
  endpoints(): EndpointRow[] {
    const workloads = this.components.workloads()
    return endpointRows(this.components.self, workloads, this.#nodesFor(workloads.some(publishes)))
  }

  /** The members, when a workload publishes a port: with none, the mesh serves nothing whoever holds what. */
  #nodesFor(publishing: boolean): EndpointNode[] {
    return publishing ? this.components.nodes() : []
  }

  #refresh(): void {
    const workloads = this.components.workloads()
    const publishing = workloads.some(publishes)
    if (!publishing && this.#forwarded.length === 0 && this.#mesh.idle) {
      // Nothing was served and nothing is to be: only a kernel table not yet written is retried.
      this.#kernel?.update([])
      for (const done of [...this.#refreshWaiters]) done()
      return
    }
    const { services, clashes } = meshServices(this.components.self, workloads, this.#nodesFor(publishing))
    // A container that stopped may come back at another address: forget those out of rotation.
    const local = new Set(
      services.flatMap((service) =>
        service.backends.flatMap((b) => (b.local && b.container ? [b.container] : [])),
      ),
    )
    for (const container of this.#addresses.keys())
      if (!local.has(container)) this.#addresses.delete(container)
    const direct = services.map((service) => this.#direct(service))
    this.#forwarded = direct
    this.#mesh.update(direct, clashes)
    // Only ports this node's listener holds: never another process's.
    this.#kernel?.update(
      direct
        .filter((service) => this.#mesh.serving(service.publishedPort))
        .map(
          (service): ForwardedPort => ({
            port: service.publishedPort,
            targets: spreadTargets(service.backends).map(({ host, port, local }) => ({ host, port, local })),
          }),
        ),
    )
    this.#publishUnserved()
    for (const done of [...this.#refreshWaiters]) done()
  }

  async #startForwarding(): Promise<void> {
    const netfilter = this.components.netfilter ?? new NftNetfilter()
    const choice = await chooseMeshMode(this.init.mode ?? 'userland', {
      advertise: this.components.advertiseHost?.() ?? '127.0.0.1',
      probe: () => netfilter.probe(AbortSignal.timeout(10_000)),
      lock: async () => {
        this.#lock = await (this.components.lockNetns ?? lockNetns)()
        return this.#lock !== undefined
      },
    })
    if (choice.mode === 'userland') {
      this.components.logger.info(
        { reason: choice.reason },
        'routing mesh: the userland proxy forwards published ports',
      )
      return
    }
    const { forwarding } = choice
    this.#kernel = new KernelForwarder({ forwarding }, { netfilter, logger: this.components.logger })
    // A crashed daemon's table goes now, whatever the first view holds.
    this.#kernel.update([])
    await this.#kernel.settled()
    this.components.logger.info(
      { forwarding },
      forwarding
        ? 'routing mesh: the kernel forwards published ports (nftables table gary-mesh)'
        : 'routing mesh: the kernel forwards published ports to this node’s own slots; another firewall drops forwarded packets, so the userland proxy serves the others',
    )
  }

  /**
   * Own slots are reached at their container's address, not through the engine's host port:
   * Docker's userland proxy is a hop of its own, about as costly as the mesh's.
   */
  #direct(service: MeshService): MeshService {
    const lookup = this.components.containerAddress
    if (lookup === undefined || !service.backends.some((backend) => backend.local)) return service
    const backends = service.backends.map((backend) => {
      if (!backend.local || backend.container === undefined) return backend
      const address = this.#addresses.get(backend.container)
      if (address === undefined) this.#ask(backend.container, lookup)
      return typeof address === 'string'
        ? { ...backend, host: address, port: service.containerPort }
        : backend
    })
    return { ...service, backends }
  }

  #ask(container: string, lookup: (container: string) => Promise<string | undefined>): void {
    if (this.#asking.has(container)) return
    this.#asking.add(container)
    void lookup(container)
      .catch((err: Error) => {
        this.components.logger.debug({ container, err: err.message }, 'container address lookup failed')
        return undefined
      })
      .then((address) => {
        this.#asking.delete(container)
        this.#addresses.set(container, address ?? null)
        this.viewChanged()
      })
  }

  #publishUnserved(): void {
    const unserved = this.#mesh.unserved
    const key = JSON.stringify(unserved)
    if (key === this.#lastUnserved) return
    this.#lastUnserved = key
    this.components.publishUnserved(unserved)
  }
}

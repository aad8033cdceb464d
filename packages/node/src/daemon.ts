import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  deriveSecretsKey,
  describeEvent,
  type EventRecord,
  formatIssues,
  inScope,
  type MemberMark,
  NodeStateSchema,
  type RolloutStatus,
  restartedEntry,
  rollbackAfterFailure,
  rolloutStatus,
  shardOf,
} from '@gary/protocol'
import { type ContainerRuntime, registryOfImage } from '@gary/runtime'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  acceptedDeclarations,
  acceptedSecrets,
  type DeclarationWrites,
  type SecretWrites,
} from './api/accepted-writes.js'
import type { ClusterApi, EventView, NodeView } from './api/routes.js'
import { type SlotRow, slotRows } from './api/slot-rows.js'
import { type Clock, systemClock } from './clock/clock.js'
import { ClockGuard } from './clock/clock-guard.js'
import type { DaemonConfig } from './config/config.js'
import { loadOrCreatePeerKey, nextIncarnation } from './data-dir/identity.js'
import { Declarations } from './declarations/declarations.js'
import { UserError } from './errors.js'
import { type EventFilter, EventRing } from './events/ring.js'
import { type EventItem, EventService } from './events/service.js'
import { type Logger, swallowed } from './logger.js'
import { RetainedLogs } from './logs/retained.js'
import { type LogOpenOptions, LogService } from './logs/service.js'
import { logSources } from './logs/sources.js'
import { Membership } from './membership/membership.js'
import { SelfState } from './membership/self-state.js'
import { type DrainComponents, drainReleased } from './mesh/drain.js'
import type { EndpointNode, EndpointRow } from './mesh/endpoint-rows.js'
import { LaggingNetfilter } from './mesh/lagging-netfilter.js'
import { NftNetfilter } from './mesh/netfilter.js'
import { NodeMesh } from './mesh/node-mesh.js'
import { RotationService } from './mesh/rotation-service.js'
import type { MeshStats } from './mesh/stats.js'
import type { DaemonMetrics, Traffic } from './metrics/metrics.js'
import { dialableAddrs, hostOf } from './net/addresses.js'
import { clusterKeyBytes, readClusterKey } from './net/cluster-key.js'
import { Gossip } from './net/gossip.js'
import { handshakeReporter } from './net/handshake-watch.js'
import { createP2P, type P2P } from './net/p2p.js'
import { Rejections } from './net/rejections.js'
import { nodeLabel } from './node-label.js'
import { ClusterView } from './reconcile/cluster-view.js'
import { LABELS } from './reconcile/container-labels.js'
import { HostPathGuard } from './reconcile/host-paths.js'
import { Reconciler, type ReconcilerComponents } from './reconcile/reconciler.js'
import { watchRuntime } from './reconcile/runtime-watch.js'
import { SecretKeeper } from './secrets/keeper.js'
import { TmpfsSecretFiles } from './secrets/tmpfs-files.js'
import { ClusterVolumes } from './volumes/cluster-volumes.js'
import type { RemoveOutcome, RemoveReport, VolumeRow, VolumeSelector } from './volumes/remove.js'
import type { VolumeApi } from './volumes/routes.js'

/** Hooks for fault tests only: never set in production. */
export interface TestHooks {
  /** Drop this many declaration gossip messages on arrival. */
  dropDeclGossip?: number
  /** Serve `POST /v1/test/partition`. */
  partition?: boolean
  /** Run the daemon's wall clock this far ahead (or behind), ms: a machine whose clock is wrong. */
  wallOffsetMs?: number
  /** Write the kernel mesh's table this much late, ms: a node slow to follow the view. */
  meshLagMs?: number
}

export interface DaemonComponents {
  logger: Logger
  runtime: ContainerRuntime
  testHooks?: TestHooks
  /** Monotonic milliseconds; member ages are measured with it. */
  monotonicNow?: () => number
  /** Wall-clock milliseconds, for incarnations and declaration versions. */
  wallNow?: () => number
  /** Where the daemon's parts report what metrics count. */
  metrics?: DaemonMetrics
}

// Once a minute: every 10 s, the summary was most of an idle node's log.
const SUMMARY_MS = 60_000
const TOMBSTONE_COLLECT_MS = 60 * 60 * 1000
/** How long a graceful stop waits for its slots to run elsewhere before it leaves anyway. */
const LEAVE_TIMEOUT_MS = 30_000
const NOT_JOINED_WARN_MS = 10_000
/** How long the default advertise host is reused before the interfaces are read again, ms. */
const ADVERTISE_READ_MS = 5000
/**
 * Longest a released slot waits for the meshes to say they no longer send it connections, ms: a
 * peer that cannot answer (an older daemon, a link cut) costs the slot this much, no more.
 */
const ROTATION_TIMEOUT_MS = 10_000

/**
 * A Gary node: the libp2p host, membership (who is alive), and the cluster's declarations, with
 * the answers the API gives about them.
 */
export class Daemon implements ClusterApi, VolumeApi {
  readonly #config: DaemonConfig
  #log: Logger
  readonly #runtime: ContainerRuntime
  readonly #now: () => number
  readonly #wallNow: () => number
  readonly #testHooks: TestHooks
  readonly #metrics: DaemonMetrics | undefined
  readonly #clock: ClockGuard
  readonly #blocked = new Set<string>()
  /** Members banned by the declarations: no connection with them, either way. */
  readonly #banned = new Set<string>()
  /** A graceful stop under way: the node drains whatever its drain mark says. */
  #leaving = false
  readonly #timers: NodeJS.Timeout[] = []
  #p2p?: P2P
  #gossip?: Gossip
  #self?: SelfState
  #volumes?: ClusterVolumes
  #membership?: Membership
  #declarations?: Declarations
  #secrets?: SecretKeeper
  #writes?: { declarations: DeclarationWrites; secrets: SecretWrites }
  #secretFiles?: TmpfsSecretFiles
  #reconciler?: Reconciler
  #clusterView?: ClusterView
  #logs?: LogService
  /** Refused slots' last lines, for `gary logs --previous` (10 minutes, 64 KiB a slot). */
  readonly #retained = new RetainedLogs({}, () => performance.now())
  #events?: EventRing
  #eventService?: EventService
  #mesh?: NodeMesh
  /** Asks peers whether their mesh still sends connections to a released slot, and answers them. */
  #rotation?: RotationService
  readonly #stopping = new AbortController()
  /** Messages from peers refused, by reason code (membership and declarations alike). */
  readonly rejections: Rejections
  /** The default advertise host, and when it was read (monotonic ms). */
  #advertised: { host: string; at: number } | undefined

  constructor(config: DaemonConfig, components: DaemonComponents) {
    this.#config = config
    this.#log = components.logger
    this.#runtime = components.runtime
    this.#now = components.monotonicNow ?? (() => performance.now())
    this.#testHooks = components.testHooks ?? {}
    this.#metrics = components.metrics
    const skew = this.#testHooks.wallOffsetMs ?? 0
    this.#wallNow = components.wallNow ?? (skew === 0 ? Date.now : () => Date.now() + skew)
    this.rejections = new Rejections(this.#log)
    this.#clock = new ClockGuard(
      { maxOffsetMs: config.maxClockOffsetMs },
      { logger: this.#log, wallNow: this.#wallNow, now: this.#now },
    )
  }

  get peerId(): string {
    return this.#p2p?.peerId.toString() ?? ''
  }

  /** The cluster's declarations as the API writes them (each write logged and recorded as an event). */
  get declarations(): DeclarationWrites {
    return this.#writes!.declarations
  }

  /** The cluster's secrets and registry logins, as the API writes them (never their values). */
  get secrets(): SecretWrites {
    return this.#writes!.secrets
  }

  /**
   * A login for a registry tries again the workloads whose pulls from it were refused for
   * credentials: a refusal holds for its generation, so each gets fresh containers (a restart).
   */
  async #retryRefusedPulls(registry: string): Promise<void> {
    const refused = new Set(
      this.slots()
        .filter((row) =>
          row.reasons?.some((reason) => reason.includes(`the registry ${registry} refused the credentials`)),
        )
        .map((row) => row.workload),
    )
    const names = this.#declarations!.store.live()
      .filter((workload) => refused.has(workload.name) && registryOfImage(workload.image) === registry)
      .map((workload) => workload.name)
    if (names.length === 0) return
    const written = await this.declarations.update(names, (current, version) =>
      current?.workload === undefined ? undefined : restartedEntry(current, version),
    )
    this.#log.info(
      { registry, workloads: written.map((entry) => entry.name) },
      'retrying pulls refused for credentials',
    )
  }

  async start(): Promise<void> {
    const config = this.#config
    // What can fail for want of the user's files or engine goes first: a start refused for them
    // leaves no data dir behind.
    const clusterKey = config.clusterKey === undefined ? undefined : await readClusterKey(config.clusterKey)
    const info = await this.#runtime.info(AbortSignal.timeout(10_000))
    const privateKey = await loadOrCreatePeerKey(config.dataDir)
    const incarnation = await nextIncarnation(config.dataDir, this.#wallNow(), this.#log)

    const p2p = await createP2P({
      privateKey,
      listen: config.listen,
      clusterKey,
      allow: config.allow,
      blocked: { has: (peer) => this.#banned.has(peer) || this.#blocked.has(peer) },
      onHandshakeFailure: handshakeReporter(this.#log, clusterKey !== undefined),
      metrics: this.#metrics?.libp2p,
    })
    this.#p2p = p2p
    const self = p2p.peerId.toString()
    this.#events = new EventRing({}, { self, wallNow: this.#wallNow })
    // Every line from here on says which node wrote it, as people know it.
    this.#log = this.#log.child({ self: nodeLabel(self, config.name) })
    this.#self = new SelfState(self, incarnation, {
      name: config.name,
      addrs: this.#ownAddrs(),
      labels: config.labels,
      capacity: {
        cpuMillis: config.cpuMillis ?? info.cpuMillis,
        memoryBytes: config.memoryBytes ?? info.memoryBytes,
      },
      ...(config.allowHostPaths.length === 0 ? {} : { hostPaths: config.allowHostPaths }),
      draining: false,
      promises: [],
      refusals: [],
    })
    // Peers would refuse every state of this node, silently: a value out of the codec's range
    // (a label key, `--memory 1e30`) must stop it here instead.
    const own = NodeStateSchema.safeParse(this.#self.current)
    if (!own.success)
      throw new UserError(
        `this node's state would be refused by every peer (${formatIssues(own.error.issues)}): fix the setting it comes from`,
      )
    this.#gossip = new Gossip(p2p.services.pubsub)
    const trigger = () => {
      this.#applyBans()
      this.#applyDrain()
      this.#reconciler?.viewChanged()
      this.#mesh?.viewChanged()
    }
    const declarations = new Declarations(
      { cluster: config.cluster, dataDir: config.dataDir, dropGossip: this.#testHooks.dropDeclGossip },
      {
        libp2p: p2p,
        gossip: this.#gossip,
        logger: this.#log,
        self,
        wallNow: this.#wallNow,
        clock: this.#clock,
        onChange: trigger,
        rejections: this.rejections,
      },
    )
    this.#declarations = declarations
    await declarations.start()
    this.#applyBans()
    this.#applyDrain()
    const secrets = new SecretKeeper(
      clusterKey === undefined ? undefined : deriveSecretsKey(clusterKeyBytes(clusterKey)),
      { declarations },
    )
    this.#secrets = secrets
    const writers = { logger: this.#log, record: (event: EventRecord) => this.#record(event) }
    const accepted = acceptedDeclarations(declarations, (w) => secrets.stamp(w), writers)
    this.#writes = {
      declarations: accepted,
      secrets: acceptedSecrets(secrets, accepted, {
        ...writers,
        loggedIn: (registry) => this.#retryRefusedPulls(registry),
      }),
    }
    this.#secretFiles = new TmpfsSecretFiles(join(config.secretsDir, self), {
      open: (name) => secrets.open(name),
      logger: this.#log,
    })
    await this.#secretFiles.start()

    const membership = new Membership(config, {
      p2p,
      gossip: this.#gossip,
      logger: this.#log,
      self: this.#self,
      clock: this.#agentClock(),
      clockGuard: this.#clock,
      declsDigest: () => declarations.digest,
      // Anti-entropy: the peer's declaration digest rides its heartbeat.
      onHeartbeat: (peer, declDigest, now) => {
        this.#metrics?.heartbeat(peer, now)
        declarations.agent.check(peer, declDigest, now)
      },
      onChange: trigger,
      rejections: this.rejections,
      record: (event) => this.#record(event),
    })
    this.#membership = membership
    await membership.start()

    await this.#startMesh(self, membership, info.gateway)
    p2p.addEventListener('self:peer:update', () => {
      this.#advertised = undefined
      // Every member dials by these, including those that keep an older state of this node.
      if (this.#self!.update({ addrs: this.#ownAddrs() })) membership.publishState(true)
    })
    await this.#startReconciler(self, membership)
    this.#logs = new LogService(
      { cluster: config.cluster },
      {
        libp2p: p2p,
        runtime: this.#runtime,
        logger: this.#log,
        self,
        locate: (workload, slot) => logSources(this.slots(), workload, { slot })[0]?.node,
        ownContainer: (workload, slot) => this.#reconciler?.containerOf(workload, slot),
        previousContainer: (workload, slot) => this.#reconciler?.previousOf(workload, slot),
        retained: (workload, slot) => this.#retained.get(workload, slot),
      },
    )
    await this.#logs.start()
    this.#volumes = new ClusterVolumes({
      runtime: this.#runtime,
      libp2p: p2p,
      logger: this.#log,
      cluster: config.cluster,
      self,
      members: () =>
        membership.table
          .list()
          .map((m) => ({ id: m.id, status: m.status, left: m.left, volumes: m.state?.volumes })),
      label: (id) => this.#label(id),
      publish: (volumes, leftOut) => {
        const change = {
          volumes: volumes.length > 0 ? volumes : undefined,
          volumesLeftOut: leftOut > 0 ? leftOut : undefined,
        }
        if (this.#self!.update(change)) membership.publishState()
      },
    })
    await this.#volumes.start()
    this.#eventService = new EventService(
      { cluster: config.cluster },
      {
        libp2p: p2p,
        ring: this.#events,
        logger: this.#log,
        self,
        wallNow: this.#wallNow,
        members: () =>
          this.#membership!.table.list()
            .filter((member) => member.status !== 'dead')
            .map((member) => member.id),
      },
    )
    await this.#eventService.start()
    this.#timers.push(setInterval(() => this.#summary(), SUMMARY_MS))
    this.#timers.push(
      setInterval(() => {
        // A clock far ahead would forget tombstones that still guard against an older write.
        if (this.writesRefused() === undefined) declarations.collectTombstones()
      }, TOMBSTONE_COLLECT_MS),
    )
    this.#timers.push(setInterval(() => this.#warnIfNotJoined(), NOT_JOINED_WARN_MS))
    this.#metrics?.watch(this)

    if (config.clusterKey === undefined) {
      this.#log.warn(
        'no cluster key: this cluster is open to anyone who can reach its port (make one with `gary keygen`)',
      )
    }
    this.#log.info(
      {
        node: self,
        name: config.name,
        incarnation,
        cluster: config.cluster,
        // What it dials, and what others can dial it at (`gary id`).
        join: config.join,
        addrs: this.joinAddrs(),
        runtime: info.driver,
        ...(config.promiseShards > 1
          ? { shard: shardOf(self, config.promiseShards), shards: config.promiseShards }
          : {}),
        ...(config.allowHostPaths.length > 0 ? { allowHostPaths: config.allowHostPaths } : {}),
      },
      'started',
    )
    // An allowed prefix that is not there is a typo more often than a plan: every bind mount
    // under it would be refused.
    for (const prefix of config.allowHostPaths)
      await access(prefix).catch(() =>
        this.#log.warn(
          { prefix },
          'an allowed host path does not exist on this node: bind mounts under it are refused',
        ),
      )
  }

  /**
   * A graceful stop: drains (each slot handed over once its successor runs, rule 7), then tells
   * every member that this node left, so that they hold it dead at once and say it left. Gives up
   * waiting for the hand-over after `timeoutMs`; slots no other node can take stay where they are.
   */
  async leave(timeoutMs = LEAVE_TIMEOUT_MS): Promise<void> {
    const reconciler = this.#reconciler
    const membership = this.#membership
    if (reconciler === undefined || membership === undefined) return
    const held = reconciler.promises.length
    this.#log.info({ slots: held }, held > 0 ? 'leaving: handing every slot over' : 'leaving')
    this.#leaving = true
    this.#applyDrain()
    const deadline = this.#now() + timeoutMs
    // The pass that follows the drain says what cannot move: wait for it before trusting `handedOver`.
    const passes = reconciler.passes
    while (this.#now() < deadline && !(reconciler.passes > passes && reconciler.handedOver))
      await new Promise((resolve) => setTimeout(resolve, 50))
    const kept = reconciler.promises.map((p) => `${p.workload}/${p.slot}`)
    const peers = await membership.leave()
    this.#log.info(
      { handedOver: held - kept.length, ...(kept.length > 0 ? { kept } : {}), told: peers },
      'left the cluster',
    )
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer)
    this.#stopping.abort()
    await this.#reconciler?.stop()
    await this.#rotation?.stop()
    await this.#mesh?.stop()
    await this.#membership?.stop()
    await this.#declarations?.stop()
    await this.#secretFiles?.stop()
    await this.#logs?.stop()
    await this.#volumes?.stop()
    await this.#eventService?.stop()
    await this.#p2p?.stop()
    this.#log.info('stopped')
  }

  /** Why this node refuses `apply` and `rm` now (its clock is far from its peers'), or undefined. */
  writesRefused(): string | undefined {
    return this.#clock.writesRefused()
  }

  /** The log lines of one slot's container, read here or from the node that holds it. */
  logs(workload: string, slot: number, options: LogOpenOptions) {
    return this.#logs!.open(workload, slot, options)
  }

  /**
   * The events of every member that matches, merged in order (`gary events`), each with the
   * names of the nodes it mentions and a line of text; following, new ones as they come.
   */
  async events(options: {
    filter: Omit<EventFilter, 'sinceWall'>
    sinceMs?: number
    limit?: number
    follow: boolean
    signal: AbortSignal
  }): Promise<AsyncIterable<EventView>> {
    const { sinceMs, ...rest } = options
    const filter: EventFilter =
      sinceMs === undefined ? rest.filter : { ...rest.filter, sinceWall: this.#wallNow() - sinceMs }
    const items = await this.#eventService!.read({ ...rest, filter })
    const view = (item: EventItem) => this.#eventView(item)
    return (async function* () {
      for await (const item of items) yield view(item)
    })()
  }

  #eventView(item: EventItem): EventView {
    if (!('event' in item)) return { node: item.node, nodeName: this.#nameOf(item.node), error: item.error }
    const { event } = item
    return {
      time: new Date(event.at.wall).toISOString(),
      ...event,
      nodeName: this.#nameOf(event.node),
      ...(event.member === undefined ? {} : { memberName: this.#nameOf(event.member) }),
      text: describeEvent(event, (id) => this.#label(id)),
    }
  }

  /** A node's name as this node knows it (its own, or the member's latest state's). */
  #nameOf(id: string): string | undefined {
    if (id === this.#self?.current.node) return this.#self.current.name
    return this.#membership?.table.get(id)?.state?.name
  }

  /** A node as log lines and event texts show it: its name beside its short id. */
  #label(id: string): string {
    return nodeLabel(id, this.#nameOf(id))
  }

  #record(event: EventRecord): void {
    this.#events?.record(event)
  }

  /**
   * Starts or ends this node's drain (rule 7) as its drain mark in the declarations says, or for
   * a graceful stop: while draining it takes no new slots, and gives up each slot it holds once
   * the successor the rules place for it runs. The mark is an operator's wish, written from any
   * node; `draining` in this node's state is its own promise to honour it.
   */
  #applyDrain(): void {
    const self = this.#self!
    const on =
      this.#leaving || (this.#declarations?.store.marked('drain').includes(self.current.node) ?? false)
    if (!self.update({ draining: on })) return
    this.#log.info(
      { draining: on },
      on ? 'draining: handing every slot over' : 'drain ended: taking work again',
    )
    this.#membership?.publishState()
    this.#reconciler?.viewChanged()
  }

  /**
   * Keeps the last lines of a refused slot's container, about to be removed, for `gary logs
   * --previous`: read within 5 s, at most the newest RETAINED_LOGS_MAX_BYTES.
   */
  async #retainLogs(slot: { workload: string; slot: number; container: string }): Promise<void> {
    const lines = []
    for await (const line of this.#runtime.logs(slot.container, {
      tail: 5000,
      signal: AbortSignal.timeout(5000),
    }))
      lines.push(line)
    this.#retained.keep(slot.workload, slot.slot, lines)
  }

  /**
   * Every slot promised by a live node in this node's scope (all of them, with one shard), and the
   * slots no node can take, as `gary ps` shows them.
   */
  slots(): SlotRow[] {
    const view = this.#clusterView!.read()
    const own = this.#self!.current
    // The view carries no promises of members out of scope: their states are older on purpose.
    return slotRows(
      [...view.others, { id: own.node, promises: own.promises }],
      view.workloads,
      this.#reconciler?.unschedulable ?? [],
      this.#wallNow(),
    )
  }

  /** Where a workload's rollout stands as this node sees it (`gary rollout status`, `apply --wait`). */
  rollout(name: string, revision?: number): RolloutStatus {
    const view = this.#clusterView!.read()
    const own = this.#self!.current
    return rolloutStatus({
      entry: this.#declarations!.store.get(name),
      nodes: [...view.others, { id: own.node, promises: own.promises, refusals: own.refusals }],
      unschedulable: this.#reconciler?.unschedulable ?? [],
      ...(revision === undefined ? {} : { revision }),
    })
  }

  /** Connections, and gossip and link traffic by topic since start, for metrics. */
  traffic(): Traffic | undefined {
    if (this.#p2p === undefined || this.#gossip === undefined || this.#membership === undefined) return
    return {
      connections: this.#p2p.getConnections().length,
      gossip: this.#gossip.byTopic,
      links: this.#membership.links.counters,
    }
  }

  /** The mesh's and name server's counters (connections, failures, ports in use, DNS), for metrics. */
  get meshStats(): MeshStats | undefined {
    return this.#mesh?.stats
  }

  volumes(): Promise<VolumeRow[]> {
    return this.#volumes!.volumes()
  }

  removeVolumes(selector: VolumeSelector): Promise<RemoveReport | RemoveOutcome> {
    return this.#volumes!.removeVolumes(selector)
  }

  /** Every published port, where it is served, and the ready slots behind it (`gary endpoints`). */
  endpoints(): EndpointRow[] {
    return this.#mesh?.endpoints() ?? []
  }

  /** The routing mesh and the containers' name server, read from the same view as placement. */
  async #startMesh(self: string, membership: Membership, gateway: string | undefined): Promise<void> {
    const dns = this.#config.dns === 'gateway' ? (gateway ?? 'off') : this.#config.dns
    this.#mesh = new NodeMesh(
      { dns, mode: this.#config.meshMode },
      {
        self,
        logger: this.#log,
        now: this.#now,
        workloads: () => this.#declarations!.store.live(),
        nodes: () => this.#meshNodes(),
        declared: (name) => this.#declarations!.store.get(name)?.workload !== undefined,
        advertiseHost: () => this.#advertiseHost(),
        ...(this.#testHooks.meshLagMs
          ? { netfilter: new LaggingNetfilter(new NftNetfilter(), this.#testHooks.meshLagMs) }
          : {}),
        containerAddress: async (container) =>
          (await this.#runtime.inspect(container, AbortSignal.timeout(5000))).ipAddress,
        publishUnserved: (ports) => {
          if (this.#self!.update({ unserved: ports.length > 0 ? ports : undefined }))
            membership.publishState()
        },
      },
    )
    await this.#mesh.start()
    const mesh = this.#mesh
    this.#rotation = new RotationService(
      { cluster: this.#config.cluster, timeoutMs: ROTATION_TIMEOUT_MS },
      {
        libp2p: this.#p2p!,
        logger: this.#log,
        outOfRotation: (node, container, signal) => mesh.outOfRotation(node, container, signal),
      },
    )
    await this.#rotation.start()
  }

  /** A released slot of this node leaves its own mesh's rotation and every connected peer's in scope. */
  #drainReleased(self: string): ReconcilerComponents['outOfRotation'] {
    const table = this.#membership!.table
    const rotation = this.#rotation!
    const live = (peer: string) => {
      const member = table.get(peer)
      return member !== undefined && member.status !== 'dead' && member.left !== true
    }
    const components: DrainComponents = {
      self,
      logger: this.#log,
      now: this.#now,
      mesh: this.#mesh!,
      confirm: (query, peers, isLive, signal) => rotation.confirm(query, peers, isLive, signal),
      peers: () =>
        [...table.members()]
          .filter(
            (member) =>
              live(member.id) &&
              inScope(self, member.id, this.#config.promiseShards) &&
              this.#p2p!.getConnections(peerIdFromString(member.id)).length > 0,
          )
          .map((member) => member.id),
      live,
      timeoutMs: ROTATION_TIMEOUT_MS,
    }
    return (slot, signal) => drainReleased(components, slot, signal)
  }

  /** This node and every member it reads (in its shard scope), with their liveness and promises. */
  #meshNodes(): EndpointNode[] {
    const own = this.#self!.current
    const nodes: EndpointNode[] = [
      {
        id: own.node,
        status: 'alive',
        promises: own.promises,
        host: this.#advertiseHost(),
        ...(own.unserved === undefined ? {} : { unserved: own.unserved }),
      },
    ]
    for (const member of this.#membership!.table.members()) {
      const state = member.state
      if (state === undefined || !inScope(own.node, member.id, this.#config.promiseShards)) continue
      nodes.push({
        id: member.id,
        status: member.status,
        promises: state.promises,
        host: hostOf(state.addrs[0]),
        ...(state.unserved === undefined ? {} : { unserved: state.unserved }),
      })
    }
    return nodes
  }

  #advertiseHost(): string {
    return this.#config.advertiseHost ?? this.#defaultAdvertiseHost()
  }

  /**
   * A rollout failed on this node (rule 8): unless the workload asks to pause, its previous
   * revision is declared again, by this node alone. Every node whose slot failed may write the
   * same undo; they converge on one (`compareEntries`), and a later write beats them all.
   */
  async #rollBack(
    self: string,
    failure: { workload: string; slot: number; generation: string; reason: string },
  ): Promise<void> {
    const { workload, slot, generation } = failure
    const where = failure.reason.includes(self) ? '' : ` on ${self}`
    const reason = `${workload}/${slot}${where}: ${failure.reason}`
    const refused = this.writesRefused()
    if (refused !== undefined) {
      this.#log.warn({ workload, generation, reason: refused }, 'rollout failed: cannot roll back here')
      return
    }
    const written = await this.#declarations!.update([workload], (current, version) =>
      rollbackAfterFailure(current, generation, version, reason),
    ).catch((err: Error) => {
      this.#log.warn(
        { workload, generation, err: err.message },
        'rollout failed: the rollback was not written',
      )
      return []
    })
    for (const entry of written)
      this.#log.warn(
        { workload, generation, reason, revision: entry.revision },
        'rollout failed: rolled back',
      )
  }

  async #startReconciler(self: string, membership: Membership): Promise<void> {
    const clusterView = new ClusterView(
      { warmupMs: 2 * this.#config.heartbeatMs },
      {
        members: membership.table,
        declarations: this.#declarations!.store,
        now: this.#now,
        agreedAt: (peer) => membership.agreedAt(peer),
        reach: (members) => membership.reach(members),
        joined: () => this.#joined,
        reads: (id) => inScope(self, id, this.#config.promiseShards),
        maxClockOffsetMs: this.#config.maxClockOffsetMs,
        self: () => {
          const { labels, capacity, hostPaths, volumes, draining } = this.#self!.current
          return {
            labels,
            capacity,
            draining,
            ...(hostPaths === undefined ? {} : { hostPaths }),
            ...(volumes === undefined ? {} : { volumes }),
          }
        },
      },
    )
    this.#clusterView = clusterView
    const reconciler = new Reconciler(
      {
        placement: { settleMs: this.#config.settleMs, shards: this.#config.promiseShards },
        advertiseHost: this.#config.advertiseHost ?? (() => this.#defaultAdvertiseHost()),
        containerDns: () => this.#mesh?.containerDns(),
        drainMs: this.#config.drainMs,
      },
      {
        self,
        runtime: this.#runtime,
        logger: this.#log,
        clock: systemClock,
        view: () => clusterView.read(),
        onPlanned: this.#metrics?.planned.bind(this.#metrics),
        onPassed: this.#metrics?.passed.bind(this.#metrics),
        record: (event) => this.#record(event),
        formerHolder: (workload, slot) => clusterView.formerHolder(workload, slot),
        label: (id) => this.#label(id),
        publish: (promises, refusals, seenDead) => {
          if (this.#self!.update({ promises, refusals, seenDead })) membership.publishState()
          this.#mesh?.viewChanged()
        },
        onRolloutFailed: (failure) => void this.#rollBack(self, failure),
        secretFiles: this.#secretFiles,
        registryAuth: (image) => this.#secrets?.registryAuth(image),
        hostPaths: new HostPathGuard(this.#config.allowHostPaths, self),
        retainLogs: (slot) => this.#retainLogs(slot),
        outOfRotation: this.#drainReleased(self),
      },
    )
    this.#reconciler = reconciler
    // Files of containers gone while the daemon was away: before any new container needs its own.
    const ours = await this.#runtime.list({ [LABELS.node]: self })
    await this.#secretFiles?.sweep(new Set(ours.map((container) => container.name)))
    await reconciler.start()
    // The first claims wait for the warm-up to end.
    const warm = setTimeout(() => reconciler.trigger(), Math.max(0, clusterView.warmAt - this.#now()) + 1)
    this.#timers.push(warm)
    void watchRuntime(
      this.#runtime,
      { [LABELS.node]: self },
      // The loop's own starts and removals already trigger a pass when they end: only what
      // happens to containers behind its back needs one (a crash, an OOM kill, a manual rm, a
      // health check's verdict).
      (event) => {
        if (['die', 'oom', 'destroy', 'health'].includes(event.kind)) reconciler.trigger()
      },
      this.#stopping.signal,
      this.#log,
    )
  }

  async mark(mark: MemberMark, node: string, on: boolean): Promise<boolean> {
    const changed = await this.#declarations!.mark(mark, node, on)
    if (changed) this.#log.info({ mark, member: this.#label(node), on }, 'write accepted')
    return changed
  }

  /** Follows the bans in the declarations: hangs up on members newly banned. */
  #applyBans(): void {
    const banned = new Set(this.#declarations?.store.banned() ?? [])
    for (const peer of this.#banned)
      if (!banned.has(peer)) {
        this.#banned.delete(peer)
        this.#log.warn({ peer }, 'member ban lifted')
      }
    for (const peer of banned) {
      if (this.#banned.has(peer)) continue
      this.#banned.add(peer)
      // Its connections are dropped, its promises and writes ignored (the cluster view, declarations).
      this.#log.warn({ peer }, 'member banned')
      void this.#p2p
        ?.hangUp(peerIdFromString(peer))
        .catch((err: Error) =>
          this.#log.debug({ peer, err: err.message }, 'hang-up on a banned member failed'),
        )
    }
  }

  /** Test hook: refuse every connection with these peers (a partition), or none when empty. */
  async partition(peers: string[]): Promise<void> {
    this.#blocked.clear()
    for (const peer of peers) this.#blocked.add(peer)
    this.#log.info({ peers }, peers.length === 0 ? 'test hook: partition healed' : 'test hook: partitioned')
    await Promise.all(
      peers.map((peer) =>
        this.#p2p!.hangUp(peerIdFromString(peer)).catch(
          swallowed(this.#log, 'test hook: hang-up failed', { peer }),
        ),
      ),
    )
  }

  /**
   * Where a peer on another machine can dial this node, with its peer id: what another node passes
   * to `--join` (loopback and container bridges only when there is nothing else).
   */
  joinAddrs(): string[] {
    return dialableAddrs(this.#p2p?.getMultiaddrs().map((addr) => addr.toString()) ?? [])
  }

  /** Every known member and this node, ordered by id. */
  nodes(): NodeView[] {
    const now = this.#now()
    const self = this.#self!.current
    const views: NodeView[] = [
      {
        id: self.node,
        ...(self.name === undefined ? {} : { name: self.name }),
        self: true,
        state: 'alive',
        incarnation: self.incarnation,
        seq: self.seq,
        addrs: self.addrs,
        labels: self.labels,
        capacity: self.capacity,
        draining: self.draining,
        lastSeenMs: 0,
        joined: this.#joined,
      },
    ]
    for (const member of this.#membership!.table.list()) {
      if (member.state === undefined) continue
      views.push({
        id: member.id,
        ...(member.state.name === undefined ? {} : { name: member.state.name }),
        self: false,
        state: member.left === true ? 'left' : member.status,
        incarnation: member.state.incarnation,
        seq: member.state.seq,
        addrs: member.state.addrs,
        labels: member.state.labels,
        capacity: member.state.capacity,
        draining: member.state.draining,
        lastSeenMs: Math.max(0, Math.round(now - member.heardAt)),
        connected: member.direct,
      })
    }
    return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /**
   * A node told to join takes no work until it has heard a member (`MembershipAgent.joined`): one
   * that never reaches the cluster (a wrong cluster key, a wrong address) would otherwise run
   * everything alone.
   */
  get #joined(): boolean {
    return this.#membership?.agent.joined ?? this.#config.join.length === 0
  }

  /** The agents' clock: the daemon's monotonic and wall clocks (the latter shifted by a test hook). */
  #agentClock(): Clock {
    return { ...systemClock, now: this.#now, wallNow: this.#wallNow }
  }

  #notJoinedTicks = 0

  /** After 10 s without a member, then once a minute: the node is idle, and the log says why. */
  #warnIfNotJoined(): void {
    if (this.#joined || this.#notJoinedTicks++ % 6 !== 0) return
    this.#log.warn(
      { join: this.#config.join },
      'not joined: no member answered at the --join addresses, so this node takes no work (is one running, reachable, with the same cluster key?)',
    )
  }

  #ownAddrs(): string[] {
    // Members dial these: the peer id suffix is added by the dialler. A container bridge's address
    // is on every machine: a member that dialled it would reach itself.
    return dialableAddrs(
      (this.#p2p?.getMultiaddrs() ?? []).map((addr) => addr.toString().replace(/\/p2p\/[^/]+$/, '')),
    ).slice(0, 16)
  }

  /**
   * Where peers reach this node, so its published ports are reached there too. Read again at most
   * every 5 s, or when libp2p's addresses change: the mesh asks on every view change, and
   * each read lists the host's interfaces twice (a tenth of the daemons' CPU during a deploy).
   */
  #defaultAdvertiseHost(): string {
    const now = this.#now()
    if (this.#advertised === undefined || now - this.#advertised.at >= ADVERTISE_READ_MS)
      this.#advertised = { host: hostOf(this.#ownAddrs()[0]) ?? '127.0.0.1', at: now }
    return this.#advertised.host
  }

  #summary(): void {
    const gossip = this.#gossip!.counters
    const links = this.#membership!.links.counters
    const seconds = SUMMARY_MS / 1000
    const last = this.#lastCounters
    const now = {
      msgsIn: gossip.messagesIn + links.framesIn,
      msgsOut: gossip.messagesOut + links.framesOut,
      bytesIn: gossip.bytesIn + links.bytesIn,
      bytesOut: gossip.bytesOut + links.bytesOut,
    }
    this.#log.info(
      {
        members: this.#membership!.table.countByStatus(),
        connections: this.#p2p!.getConnections().length,
        mesh: this.#gossip!.meshPeers(this.#membership!.stateTopic),
        // Each shard topic needs a mesh of its own for promise changes to spread.
        ...(this.#config.promiseShards > 1
          ? { promiseMesh: this.#membership!.promiseTopics.map((topic) => this.#gossip!.meshPeers(topic)) }
          : {}),
        msgsInPerSec: round((now.msgsIn - last.msgsIn) / seconds),
        msgsOutPerSec: round((now.msgsOut - last.msgsOut) / seconds),
        bytesInPerSec: round((now.bytesIn - last.bytesIn) / seconds),
        bytesOutPerSec: round((now.bytesOut - last.bytesOut) / seconds),
      },
      'gossip summary',
    )
    this.#lastCounters = now
  }

  #lastCounters = { msgsIn: 0, msgsOut: 0, bytesIn: 0, bytesOut: 0 }
}

const round = (value: number) => Math.round(value * 10) / 10

import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { MeshStats } from '../mesh/stats.js'
import type { TopicCounters } from '../net/gossip.js'
import type { LinkCounters } from '../net/links.js'
import { COUNTED_LOG_LINES, type CountedLine, refusalKind } from './log-counters.js'
import { HEARTBEAT_PROTOCOL, withoutStreamTracking } from './untracked-streams.js'

/** What the daemon's traffic counters say now: totals since it started. */
export interface Traffic {
  connections: number
  gossip: TopicCounters
  links: LinkCounters
}

/** What the gauges read at each scrape: the daemon, through methods it already has for the API. */
export interface MetricsSource {
  readonly peerId: string
  nodes(): readonly { state: string }[]
  slots(): readonly { node: string | null; phase: string }[]
  readonly declarations: { readonly store: { entries(): readonly { deleted: boolean }[] } }
  readonly meshStats: MeshStats | undefined
  traffic(): Traffic | undefined
}

/** The narrow hooks the daemon's parts are given: none of them sees the registry. */
export interface DaemonMetrics {
  /** libp2p's own metrics (connections, streams, bytes by protocol), for `createLibp2p`. */
  readonly libp2p: ReturnType<typeof prometheusMetrics>
  /** A valid heartbeat arrived from a peer, at monotonic `now` ms. */
  heartbeat(peer: string, now: number): void
  /** One reconcile pass took this long, ms. */
  passed(ms: number): void
  /** One `plan` call took this long, ms. */
  planned(ms: number): void
  /** Read the gauges from this daemon from now on. */
  watch(source: MetricsSource): void
}

export interface MetricsInit {
  /** The heartbeat interval: a peer's heartbeat more than 1.5 of them after its last is late. */
  heartbeatMs: number
}

/** Figures the live page charts: totals since start (it takes the rates itself), and counts now. */
export interface Figures {
  gossipMessagesIn: number
  gossipMessagesOut: number
  gossipBytesIn: number
  gossipBytesOut: number
  heartbeatsLate: number
  suspicions: number
  memberDeaths: number
  claims: number
  containerStarts: number
  connections: number
}

const LATE_FACTOR = 1.5
/** Peers remembered for lateness; beyond this the oldest are forgotten (a member gone for good). */
const MAX_PEERS_TIMED = 10_000
const STATES = ['alive', 'suspect', 'dead'] as const
const PHASES = ['claimed', 'starting', 'running', 'restarting', 'failed', 'releasing'] as const

/**
 * Gary's Prometheus metrics: one registry holding the daemon's own series, libp2p's, and Node's
 * process metrics (event-loop lag among them). `text()` is the exposition `GET /metrics` serves.
 */
export class GaryMetrics implements DaemonMetrics {
  readonly registry = new Registry()
  readonly libp2p: ReturnType<typeof prometheusMetrics>
  readonly #lateAfterMs: number
  readonly #lastBeat = new Map<string, number>()
  #source: MetricsSource | undefined
  /** Totals already added to a counter that mirrors one of the daemon's own totals. */
  readonly #mirrored = new Map<string, number>()

  readonly #late: Counter
  readonly #suspicions: Counter<'outcome'>
  readonly #deaths: Counter
  readonly #claims: Counter
  readonly #releases: Counter
  readonly #restarts: Counter
  readonly #refusals: Counter<'reason'>
  readonly #starts: Counter<'outcome'>
  readonly #pulls: Counter<'outcome'>
  readonly #engineCalls: Counter<'call'>
  readonly #passes: Histogram
  readonly #planning: Histogram
  readonly #requests: Counter<'route' | 'status'>

  constructor(init: MetricsInit) {
    this.#lateAfterMs = init.heartbeatMs * LATE_FACTOR
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.libp2p = withoutStreamTracking(
      prometheusMetrics({ registry: this.registry, collectDefaultMetrics: false }),
      HEARTBEAT_PROTOCOL,
    )
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers })

    this.#late = counter(
      'gary_heartbeats_late_total',
      `heartbeats from a peer that came more than ${LATE_FACTOR} intervals after its previous one`,
    )
    this.#suspicions = counter(
      'gary_suspicions_total',
      'members this node suspected (raised), and suspects heard from again before they were dead (refuted)',
      ['outcome'],
    )
    this.#deaths = counter('gary_member_deaths_total', 'members this node came to hold dead')
    this.#claims = counter('gary_slot_claims_total', 'slots this node claimed')
    this.#releases = counter('gary_slot_releases_total', 'slots this node released')
    this.#restarts = counter('gary_container_restarts_total', "restarts of this node's exited containers")
    this.#refusals = counter(
      'gary_slot_refusals_total',
      'slots this node refused, by kind of reason (image, restart-policy, retries, other)',
      ['reason'],
    )
    this.#starts = counter('gary_container_starts_total', 'container starts asked of the engine', ['outcome'])
    this.#pulls = counter(
      'gary_image_pulls_total',
      'images made present (found or pulled) before a start, by outcome',
      ['outcome'],
    )
    this.#engineCalls = counter(
      'gary_engine_calls_total',
      'calls this daemon made of the container engine, by kind (create, start, list, inspect...)',
      ['call'],
    )
    this.#requests = counter(
      'gary_api_requests_total',
      'API requests, by route and status (0: the client went away before the answer)',
      ['route', 'status'],
    )
    for (const outcome of ['raised', 'refuted']) this.#suspicions.inc({ outcome }, 0)
    for (const outcome of ['ok', 'failed']) {
      this.#starts.inc({ outcome }, 0)
      this.#pulls.inc({ outcome }, 0)
    }
    this.#passes = new Histogram({
      name: 'gary_reconcile_pass_duration_seconds',
      help: 'reconcile passes (count) and how long each took',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    })
    this.#planning = new Histogram({
      name: 'gary_plan_duration_seconds',
      help: 'time spent in the placement rules (plan) per pass',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    })
    this.#gauges()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The exposition, in Prometheus' text format. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  watch(source: MetricsSource): void {
    this.#source = source
  }

  heartbeat(peer: string, now: number): void {
    const last = this.#lastBeat.get(peer)
    if (last !== undefined && now - last > this.#lateAfterMs) this.#late.inc()
    // Re-inserted, so that the map's order is the order peers were last heard in.
    this.#lastBeat.delete(peer)
    this.#lastBeat.set(peer, now)
    if (this.#lastBeat.size > MAX_PEERS_TIMED) this.#lastBeat.delete(this.#lastBeat.keys().next().value!)
  }

  passed(ms: number): void {
    this.#passes.observe(ms / 1000)
  }

  planned(ms: number): void {
    this.#planning.observe(ms / 1000)
  }

  /** An API request was answered: `route` is its pattern (`GET /v1/workloads/:name`), never the raw path. */
  answered(route: string, status: number): void {
    this.#requests.inc({ route, status: String(status) })
  }

  /** For the counting runtime. */
  readonly runtime = {
    started: (outcome: 'ok' | 'failed') => this.#starts.inc({ outcome }),
    imageEnsured: (outcome: 'ok' | 'failed') => this.#pulls.inc({ outcome }),
    called: (call: string) => this.#engineCalls.inc({ call }),
  }

  /** For the logger: counts the lines of `COUNTED_LOG_LINES`. */
  readonly logLine = (fields: Record<string, unknown> | undefined, msg: string): void => {
    const counted = LINE_OF.get(msg)
    if (counted !== undefined) this.#onLine[counted](fields)
  }

  readonly #onLine: Record<CountedLine, (fields: Record<string, unknown> | undefined) => void> = {
    suspicionRaised: () => this.#suspicions.inc({ outcome: 'raised' }),
    suspicionRefuted: () => this.#suspicions.inc({ outcome: 'refuted' }),
    memberDead: () => this.#deaths.inc(),
    claimed: () => this.#claims.inc(),
    released: () => this.#releases.inc(),
    restarted: () => this.#restarts.inc(),
    refused: (fields) => this.#refusals.inc({ reason: refusalKind(fields?.reason) }),
  }

  /** Totals for the live page's charts. */
  async figures(): Promise<Figures> {
    const traffic = this.#source?.traffic()
    let gossip = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 }
    for (const counters of traffic?.gossip.values() ?? []) {
      gossip = {
        messagesIn: gossip.messagesIn + counters.messagesIn,
        messagesOut: gossip.messagesOut + counters.messagesOut,
        bytesIn: gossip.bytesIn + counters.bytesIn,
        bytesOut: gossip.bytesOut + counters.bytesOut,
      }
    }
    const total = async (metric: Counter<string>) =>
      (await metric.get()).values.reduce((sum, value) => sum + value.value, 0)
    return {
      gossipMessagesIn: gossip.messagesIn,
      gossipMessagesOut: gossip.messagesOut,
      gossipBytesIn: gossip.bytesIn,
      gossipBytesOut: gossip.bytesOut,
      heartbeatsLate: await total(this.#late),
      suspicions:
        (await this.#suspicions.get()).values.find((v) => v.labels.outcome === 'raised')?.value ?? 0,
      memberDeaths: await total(this.#deaths),
      claims: await total(this.#claims),
      containerStarts: (await this.#starts.get()).values.find((v) => v.labels.outcome === 'ok')?.value ?? 0,
      connections: traffic?.connections ?? 0,
    }
  }

  /** Series read from the daemon at each scrape. */
  #gauges(): void {
    const registers = [this.registry]
    const source = () => this.#source
    new Gauge({
      name: 'gary_members',
      help: 'members this node knows (itself included), by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset()
        const counts = new Map<string, number>(STATES.map((state) => [state, 0]))
        for (const node of source()?.nodes() ?? []) counts.set(node.state, (counts.get(node.state) ?? 0) + 1)
        for (const [state, count] of counts) this.set({ state }, count)
      },
    })
    new Gauge({
      name: 'gary_connections',
      help: 'libp2p connections open to peers',
      registers,
      collect() {
        this.set(source()?.traffic()?.connections ?? 0)
      },
    })
    new Gauge({
      name: 'gary_slots',
      help: "this node's own slots, by phase",
      labelNames: ['phase'],
      registers,
      collect() {
        this.reset()
        const daemon = source()
        const counts = new Map<string, number>(PHASES.map((phase) => [phase, 0]))
        for (const slot of daemon?.slots() ?? [])
          if (slot.node === daemon?.peerId && slot.phase !== 'unschedulable')
            counts.set(slot.phase, (counts.get(slot.phase) ?? 0) + 1)
        for (const [phase, count] of counts) this.set({ phase }, count)
      },
    })
    new Gauge({
      name: 'gary_slots_unschedulable',
      help: 'slots no node can take, as this node plans them',
      registers,
      collect() {
        this.set(
          source()
            ?.slots()
            .filter((slot) => slot.phase === 'unschedulable').length ?? 0,
        )
      },
    })
    new Gauge({
      name: 'gary_declarations',
      help: 'workload declarations this node holds: live, and tombstones of deleted ones',
      labelNames: ['state'],
      registers,
      collect() {
        const entries = source()?.declarations.store.entries() ?? []
        const tombstones = entries.filter((entry) => entry.deleted).length
        this.set({ state: 'live' }, entries.length - tombstones)
        this.set({ state: 'tombstone' }, tombstones)
      },
    })
    const mirror = this.#mirror.bind(this)
    new Counter({
      name: 'gary_gossip_messages_total',
      help: 'gossip messages received (before validation) and published, by topic',
      labelNames: ['topic', 'direction'],
      registers,
      collect() {
        for (const [topic, counters] of source()?.traffic()?.gossip ?? []) {
          mirror(this, { topic: shortTopic(topic), direction: 'in' }, counters.messagesIn)
          mirror(this, { topic: shortTopic(topic), direction: 'out' }, counters.messagesOut)
        }
      },
    })
    new Counter({
      name: 'gary_gossip_bytes_total',
      help: 'gossip message payload bytes received and published, by topic',
      labelNames: ['topic', 'direction'],
      registers,
      collect() {
        for (const [topic, counters] of source()?.traffic()?.gossip ?? []) {
          mirror(this, { topic: shortTopic(topic), direction: 'in' }, counters.bytesIn)
          mirror(this, { topic: shortTopic(topic), direction: 'out' }, counters.bytesOut)
        }
      },
    })
    new Counter({
      name: 'gary_link_frames_total',
      help: 'frames on direct peer links (heartbeats, state pulls, hints, member sync, notes)',
      labelNames: ['direction'],
      registers,
      collect() {
        const links = source()?.traffic()?.links
        mirror(this, { direction: 'in' }, links?.framesIn ?? 0)
        mirror(this, { direction: 'out' }, links?.framesOut ?? 0)
      },
    })
    new Counter({
      name: 'gary_link_bytes_total',
      help: 'bytes of frames on direct peer links',
      labelNames: ['direction'],
      registers,
      collect() {
        const links = source()?.traffic()?.links
        mirror(this, { direction: 'in' }, links?.bytesIn ?? 0)
        mirror(this, { direction: 'out' }, links?.bytesOut ?? 0)
      },
    })
    new Counter({
      name: 'gary_mesh_connections_total',
      help: 'connections to published ports: forwarded to a slot, or closed unserved',
      labelNames: ['outcome'],
      registers,
      collect() {
        const mesh = source()?.meshStats
        mirror(this, { outcome: 'forwarded' }, mesh?.forwarded ?? 0)
        mirror(this, { outcome: 'unserved' }, mesh?.unserved ?? 0)
      },
    })
    new Counter({
      name: 'gary_dns_queries_total',
      help: "containers' DNS queries: answered from workload names, forwarded, failed",
      labelNames: ['outcome'],
      registers,
      collect() {
        const mesh = source()?.meshStats
        mirror(this, { outcome: 'answered' }, mesh?.dnsAnswered ?? 0)
        mirror(this, { outcome: 'forwarded' }, mesh?.dnsForwarded ?? 0)
        mirror(this, { outcome: 'failed' }, mesh?.dnsFailed ?? 0)
      },
    })
  }

  /** Brings a counter up to a total the daemon keeps itself. */
  #mirror(metric: Counter<string>, labels: Record<string, string>, total: number): void {
    const key = `${(metric as unknown as { name: string }).name}${JSON.stringify(labels)}`
    const added = this.#mirrored.get(key) ?? 0
    if (total > added) metric.inc(labels, total - added)
    else if (added === 0) metric.inc(labels, 0)
    this.#mirrored.set(key, Math.max(total, added))
  }
}

const LINE_OF = new Map(
  (Object.entries(COUNTED_LOG_LINES) as [CountedLine, string][]).map(([line, msg]) => [msg, line]),
)

/** `gary/1/default/promises/3` is `promises/3`: the cluster name is the same on every series. */
function shortTopic(topic: string): string {
  return topic.replace(/^gary\/\d+\/[^/]+\//, '')
}

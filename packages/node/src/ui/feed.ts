import { setTimeout as sleep } from 'node:timers/promises'
import type { Workload } from '@gary/protocol'
import type { NodeView } from '../api/routes.js'
import type { ServerSentEvent } from '../api/server.js'
import type { SlotRow } from '../api/slot-rows.js'

/** What the live page is fed from: the daemon, through the methods the API already answers with. */
export interface FeedSource {
  readonly peerId: string
  nodes(): NodeView[]
  slots(): SlotRow[]
  readonly declarations: { readonly store: { live(): Workload[] } }
}

/** A node as the page shows it: its promise, and what its slots ask of its capacity. */
export interface PageNode extends NodeView {
  used: { cpuMillis: number; memoryBytes: number }
}

/** One picture of the cluster as this node sees it, sent about once a second. */
export interface Snapshot {
  /** Wall-clock ms on the serving node. */
  at: number
  self: string
  nodes: PageNode[]
  workloads: { name: string; image: string; mode: string; replicas: number }[]
  slots: SlotRow[]
  /** Slots left out past MAX_SLOTS (a page of thousands of rows helps nobody). */
  slotsOmitted: number
  figures: Record<string, number>
}

/**
 * Where a cluster event stream plugs in: each item is sent to the page as a `cluster-event`
 * event, shown in its events area beside the changes the page sees itself. The page reads
 * `at` (wall ms), `kind`, and `node`, `workload`, `slot`, `reason` when present.
 */
export type EventSource = (signal: AbortSignal) => AsyncIterable<Record<string, unknown>>

export interface FeedInit {
  /** How often a snapshot is sent, ms. Default 1000. */
  intervalMs?: number
}

export interface FeedComponents {
  source: FeedSource
  /** Totals the page charts (gossip, failover), read at each snapshot. */
  figures?: () => Promise<object>
  /** The cluster's event stream, once the daemon has one (none yet: the page shows what it sees). */
  events?: EventSource
}

const MAX_SLOTS = 2000

/** Builds one snapshot. */
export async function snapshot(components: FeedComponents, now: number): Promise<Snapshot> {
  const { source } = components
  const workloads = source.declarations.store.live()
  const byName = new Map(workloads.map((workload) => [workload.name, workload]))
  const slots = source.slots()
  const used = new Map<string, { cpuMillis: number; memoryBytes: number }>()
  for (const slot of slots) {
    const resources = byName.get(slot.workload)?.resources
    if (slot.node === null || slot.phase === 'unschedulable' || resources === undefined) continue
    const node = used.get(slot.node) ?? { cpuMillis: 0, memoryBytes: 0 }
    node.cpuMillis += resources.cpuMillis
    node.memoryBytes += resources.memoryBytes
    used.set(slot.node, node)
  }
  return {
    at: now,
    self: source.peerId,
    nodes: source
      .nodes()
      .map((node) => ({ ...node, used: used.get(node.id) ?? { cpuMillis: 0, memoryBytes: 0 } })),
    workloads: workloads.map(({ name, image, mode, replicas }) => ({ name, image, mode, replicas })),
    slots: slots.slice(0, MAX_SLOTS),
    slotsOmitted: Math.max(0, slots.length - MAX_SLOTS),
    figures: { ...((await components.figures?.()) ?? {}) } as Record<string, number>,
  }
}

/**
 * The page's stream: a snapshot at once and then every interval, and the cluster's events as they
 * come, until the client goes away. Levels, not edges: a snapshot missed costs nothing.
 */
export async function* feed(
  init: FeedInit,
  components: FeedComponents,
  signal: AbortSignal,
): AsyncGenerator<ServerSentEvent> {
  const intervalMs = init.intervalMs ?? 1000
  const queued: ServerSentEvent[] = []
  let wake: (() => void) | undefined
  if (components.events !== undefined) void pipeEvents(components.events, signal, queued, () => wake?.())
  while (!signal.aborted) {
    yield { event: 'snapshot', data: await snapshot(components, Date.now()) }
    const tick = sleep(intervalMs, undefined, { signal }).catch(() => {})
    for (;;) {
      const next = queued.shift()
      if (next !== undefined) {
        yield next
        continue
      }
      const woken = new Promise<'event'>((resolve) => {
        wake = () => resolve('event')
      })
      if ((await Promise.race([tick.then(() => 'tick' as const), woken])) === 'tick') break
    }
  }
}

const MAX_QUEUED_EVENTS = 1000

async function pipeEvents(
  events: EventSource,
  signal: AbortSignal,
  queued: ServerSentEvent[],
  wake: () => void,
): Promise<void> {
  try {
    for await (const event of events(signal)) {
      if (signal.aborted) return
      // A page that cannot keep up loses the oldest events, never the snapshots.
      if (queued.length >= MAX_QUEUED_EVENTS) queued.shift()
      queued.push({ event: 'cluster-event', data: event })
      wake()
    }
  } catch {
    // The page keeps its snapshots when the event stream fails.
  }
}

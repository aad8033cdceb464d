import type { Capacity, ClusterEvent } from '@gary/protocol'
import {
  type DeclEntry,
  generationOf,
  type MemberMark,
  portConflicts,
  type RolloutStatus,
  WorkloadNameSchema,
} from '@gary/protocol'
import type { LogLine } from '@gary/runtime'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import type { Declarations } from '../declarations/declarations.js'
import { DataDirWriteError, LogStreamError, SlotNotHeldError, SlotNotPlacedError } from '../errors.js'
import { MAX_EVENTS_PER_REQUEST } from '../events/frames.js'
import type { EventFilter } from '../events/ring.js'
import { MAX_LOG_TAIL } from '../logs/frames.js'
import { RETAINED_LOGS_KEEP_MS, RETAINED_LOGS_MAX_BYTES } from '../logs/retained.js'
import type { LogOpenOptions } from '../logs/service.js'
import { logSources, previousCandidates, readPrevious, readSources } from '../logs/sources.js'
import type { EndpointRow } from '../mesh/endpoint-rows.js'
import type { SecretKeeper } from '../secrets/keeper.js'
import { isoTime } from './iso-time.js'
import { lifecycleRoutes } from './lifecycle-routes.js'
import { secretRoutes } from './secret-routes.js'
import { ApiRequestError, type Route } from './server.js'
import type { SlotRow } from './slot-rows.js'
import { type SpecParser, SpecTooCostlyError } from './spec-parser.js'

/** One member as the API reports it. */
export interface NodeView {
  id: string
  /** The member's human name (`--name`); absent for nodes that predate names. */
  name?: string
  self: boolean
  /** `left`: it said it leaves (a graceful stop), and is held dead. */
  state: 'alive' | 'suspect' | 'dead' | 'left'
  incarnation: number
  /**
   * Version of the member's state this node holds (its own, for itself). With promise shards, a
   * member out of this node's scope is held at an older version on purpose.
   */
  seq: number
  addrs: string[]
  labels: Record<string, string>
  capacity: Capacity
  draining: boolean
  /** Milliseconds since this node last heard from the member; 0 for itself. */
  lastSeenMs: number
  /**
   * Members only: whether this node hears the member's heartbeats over a connection of its own;
   * false while it knows the member by relay alone (another member's word).
   */
  connected?: boolean
  /**
   * This node only: false while a node started with `--join` has not heard from any member yet
   * (it takes no work meanwhile).
   */
  joined?: boolean
}

/**
 * One line of `GET /v1/events` (NDJSON): an event with its ISO `time`, the names of the nodes it
 * mentions and a line of `text` for people; or why a node's events could not be read.
 */
export type EventView =
  | (ClusterEvent & { time: string; nodeName?: string; memberName?: string; text: string })
  | { node: string; nodeName?: string; error: string }

/** What the API asks of the node it runs on (the daemon). */
export interface ClusterApi {
  readonly peerId: string
  readonly declarations: Pick<Declarations, 'apply' | 'remove' | 'store' | 'update'>
  /** Secrets and registry logins: written and listed, never read back. */
  readonly secrets: Pick<SecretKeeper, 'enabled' | 'put' | 'remove' | 'login' | 'logout' | 'list' | 'stamp'>
  joinAddrs(): string[]
  nodes(): NodeView[]
  slots(): SlotRow[]
  /** Every published port, where it is served, and the ready slots behind it. */
  endpoints(): EndpointRow[]
  /**
   * Sets or lifts a mark on a member for the whole cluster (a ban; a drain, which the member
   * honours); resolves once durable, true when it changed anything.
   */
  mark(mark: MemberMark, node: string, on: boolean): Promise<boolean>
  /** Why this node refuses writes now, in one sentence, or undefined. */
  writesRefused(): string | undefined
  logs(workload: string, slot: number, options: LogOpenOptions): Promise<AsyncIterable<LogLine>>
  /** Where a workload's rollout stands (`gary rollout status`). */
  rollout(name: string, revision?: number): RolloutStatus
  /**
   * Every member's events that match, merged in order; following, new ones as they come.
   * `sinceMs`: only those of the last so many ms, by this node's clock.
   */
  events(options: {
    filter: Omit<EventFilter, 'sinceWall'>
    sinceMs?: number
    limit?: number
    follow: boolean
    signal: AbortSignal
  }): Promise<AsyncIterable<EventView>>
  /** Test hook: refuse every connection with these peers. */
  partition(peers: string[]): Promise<void>
}

/** One row of `gary get`. */
export interface WorkloadRow {
  name: string
  image: string
  mode: 'replicated' | 'global'
  replicas: number
  generation: string
  /** ISO time of the version's hybrid logical clock. */
  updated: string
  origin: string
}

const ApplyBody = z.strictObject({ text: z.string() })
/** Without `node`, the node the API runs on drains; `node` is a member's id, name or unique part of its id. */
const DrainBody = z.strictObject({ on: z.boolean(), node: z.string().min(1).max(128).optional() })
const BanBody = z.strictObject({ node: z.string().min(1).max(128), banned: z.boolean() })
const PartitionBody = z.strictObject({ peers: z.array(z.string()).max(1000) })
const wholeNumber = z
  .string()
  .regex(/^\d{1,9}$/, 'must be a whole number')
  .transform(Number)
const LogQuery = z.strictObject({
  slot: wholeNumber.optional(),
  follow: z.enum(['0', '1', 'false', 'true']).optional(),
  tail: wholeNumber.refine((tail) => tail <= MAX_LOG_TAIL, `must be at most ${MAX_LOG_TAIL}`).optional(),
  previous: z.enum(['0', '1', 'false', 'true']).optional(),
})

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const EventQuery = z.strictObject({
  since: z
    .string()
    .regex(/^\d{1,9}(ms|s|m|h|d)$/, 'must be a duration like 90s, 10m, 2h or 1d')
    .transform((text) => {
      const [, amount, unit] = /^(\d+)([a-z]+)$/.exec(text)!
      return Number(amount) * DURATION_MS[unit!]!
    })
    .optional(),
  workload: WorkloadNameSchema.optional(),
  node: z.string().min(1).max(128).optional(),
  follow: z.enum(['0', '1', 'false', 'true']).optional(),
  limit: wholeNumber
    .refine(
      (limit) => limit >= 1 && limit <= MAX_EVENTS_PER_REQUEST,
      `must be from 1 to ${MAX_EVENTS_PER_REQUEST}`,
    )
    .optional(),
})

/** The member a query names: its id, its name, or a unique start or end of its id. */
function resolveNode(nodes: readonly NodeView[], given: string): string {
  const exact = nodes.find((node) => node.id === given)
  if (exact !== undefined) return exact.id
  const named = nodes.filter((node) => node.name === given)
  const matches =
    named.length > 0 ? named : nodes.filter((node) => node.id.startsWith(given) || node.id.endsWith(given))
  if (matches.length === 1) return matches[0]!.id
  if (matches.length === 0) throw new ApiRequestError(404, `no member ${given} is known to this node`)
  throw new ApiRequestError(400, `${given} names ${matches.length} members: give more of the id`)
}

/** Refuses a string that is not a node id, in one sentence. */
function nodeId(node: string): void {
  try {
    peerIdFromString(node)
  } catch {
    throw new ApiRequestError(400, `${node} is not a node id (see gary node ls)`)
  }
}

/** The daemon's HTTP API: every route answers from this node's view of the whole cluster. */
export function apiRoutes(
  daemon: ClusterApi,
  options: { specs: Pick<SpecParser, 'parse'>; testHooks?: boolean },
): Route[] {
  const routes: Route[] = [
    { method: 'GET', path: '/v1/health', handle: () => ({ ok: true }) },
    { method: 'GET', path: '/v1/id', handle: () => ({ id: daemon.peerId, addrs: daemon.joinAddrs() }) },
    { method: 'GET', path: '/v1/nodes', handle: () => daemon.nodes() },
    {
      method: 'POST',
      path: '/v1/drain',
      handle: async ({ body }) => {
        const { on, node: given } = parse(DrainBody, body)
        const node = given === undefined ? daemon.peerId : resolveNode(daemon.nodes(), given)
        refuseWrites(daemon)
        return { node, draining: on, changed: await durable(() => daemon.mark('drain', node, on)) }
      },
    },
    {
      method: 'POST',
      path: '/v1/ban',
      handle: async ({ body }) => {
        const { node, banned } = parse(BanBody, body)
        nodeId(node)
        if (node === daemon.peerId) throw new ApiRequestError(400, 'a node cannot ban itself')
        refuseWrites(daemon)
        return { node, banned, changed: await durable(() => daemon.mark('ban', node, banned)) }
      },
    },
    {
      method: 'POST',
      path: '/v1/apply',
      handle: async ({ body }) => {
        const { text } = parse(ApplyBody, body)
        refuseWrites(daemon)
        const parsed = await options.specs.parse(text).catch((err: Error) => {
          if (err instanceof SpecTooCostlyError)
            throw new ApiRequestError(400, 'invalid workload spec, nothing applied', [err.message])
          throw err
        })
        if (!parsed.ok)
          throw new ApiRequestError(400, 'invalid workload spec, nothing applied', parsed.problems)
        // Published ports are served on every node: one already declared cannot be taken again.
        const rootOf = (index: number) => (parsed.workloads.length === 1 ? 'spec' : `spec[${index}]`)
        const clashes = portConflicts(parsed.workloads, daemon.declarations.store.live(), rootOf)
        if (clashes.length > 0)
          throw new ApiRequestError(400, 'invalid workload spec, nothing applied', clashes)
        const reading = parsed.workloads.filter((workload) => workload.secrets !== undefined)
        if (!daemon.secrets.enabled && reading.length > 0)
          throw new ApiRequestError(
            409,
            `${reading.map((w) => w.name).join(', ')} read secrets, and this cluster has no cluster key, so it keeps none: start every daemon with --cluster-key (gary keygen makes one)`,
          )
        return durable(() => daemon.declarations.apply(parsed.workloads))
      },
    },
    {
      method: 'DELETE',
      path: '/v1/workloads/:name',
      handle: async ({ params }) => {
        refuseWrites(daemon)
        return (await durable(() => daemon.declarations.remove([params.name!])))[0]
      },
    },
    {
      method: 'GET',
      path: '/v1/workloads',
      handle: () =>
        daemon.declarations.store
          .entries()
          .filter((entry) => entry.workload !== undefined)
          .map(row),
    },
    {
      method: 'GET',
      path: '/v1/workloads/:name',
      handle: ({ params }) => {
        const entry = daemon.declarations.store.get(params.name!)
        if (entry?.workload === undefined) throw new ApiRequestError(404, `no workload named ${params.name}`)
        const slots = daemon.slots().filter((slot) => slot.workload === entry.name)
        return { ...row(entry), spec: entry.workload, version: entry.version, slots }
      },
    },
    { method: 'GET', path: '/v1/slots', handle: () => daemon.slots() },
    { method: 'GET', path: '/v1/endpoints', handle: () => daemon.endpoints() },
    {
      // NDJSON: {slot, node, stream, line} per line, or {slot, node, error} for a slot that cannot be read.
      method: 'GET',
      path: '/v1/logs/:name',
      handle: async ({ params, query, signal }) => {
        const parsed = LogQuery.safeParse(Object.fromEntries(query))
        if (!parsed.success) throw new ApiRequestError(400, `bad query: ${issue(parsed.error)}`)
        const { slot, tail } = parsed.data
        const follow = parsed.data.follow === '1' || parsed.data.follow === 'true'
        const workload = daemon.declarations.store.get(params.name!)?.workload
        if (workload === undefined) throw new ApiRequestError(404, `no workload named ${params.name}`)
        const global = workload.mode === 'global'
        if (parsed.data.previous === '1' || parsed.data.previous === 'true') {
          if (follow)
            throw new ApiRequestError(400, 'previous logs cannot be followed: drop follow or previous')
          const live = daemon
            .nodes()
            .filter((node) => node.state === 'alive' || node.state === 'suspect')
            .map((node) => node.id)
          const candidates = previousCandidates(daemon.slots(), workload.name, live, {
            slot,
            global,
            replicas: workload.replicas,
          })
          try {
            return await readPrevious(
              candidates,
              (source, signal) =>
                daemon.logs(workload.name, source.slot, { tail, signal, node: source.node, previous: true }),
              signal,
            )
          } catch (err) {
            if (!(err instanceof SlotNotHeldError || err instanceof LogStreamError)) throw err
            const what = slot === undefined ? workload.name : `${workload.name}/${slot}`
            throw new ApiRequestError(
              404,
              `no node keeps previous logs of ${what} (a slot keeps its last exited container until it is released, and a refused slot's last ${RETAINED_LOGS_MAX_BYTES / 1024} KiB for ${RETAINED_LOGS_KEEP_MS / 60_000} minutes)`,
            )
          }
        }
        const sources = logSources(daemon.slots(), workload.name, { slot, global })
        try {
          if (sources.length === 0) throw new SlotNotPlacedError(workload.name, slot)
          return await readSources(
            sources,
            (source, signal) =>
              daemon.logs(workload.name, source.slot, { follow, tail, signal, node: source.node }),
            { follow, signal },
          )
        } catch (err) {
          if (err instanceof SlotNotPlacedError) throw new ApiRequestError(404, err.message)
          // The holder gave the slot up since this node last heard: asking again finds the new one.
          if (err instanceof SlotNotHeldError) throw new ApiRequestError(409, err.message)
          if (err instanceof LogStreamError) throw new ApiRequestError(502, err.message)
          throw err
        }
      },
    },
    {
      // NDJSON, one EventView a line: the newest `limit` (default 1000) events since `since`,
      // oldest first; with `follow`, then new ones as every node records them.
      method: 'GET',
      path: '/v1/events',
      handle: async ({ query, signal }) => {
        const parsed = EventQuery.safeParse(Object.fromEntries(query))
        if (!parsed.success) throw new ApiRequestError(400, `bad query: ${issue(parsed.error)}`)
        const { since, workload, node, limit } = parsed.data
        const filter: EventFilter = {
          ...(workload === undefined ? {} : { workload }),
          ...(node === undefined ? {} : { node: resolveNode(daemon.nodes(), node) }),
        }
        const follow = parsed.data.follow === '1' || parsed.data.follow === 'true'
        return daemon.events({
          filter,
          ...(since === undefined ? {} : { sinceMs: since }),
          limit: limit ?? 1000,
          follow,
          signal,
        })
      },
    },
  ]
  routes.push(...lifecycleRoutes(daemon), ...secretRoutes(daemon))
  if (options.testHooks === true) {
    routes.push({
      method: 'POST',
      path: '/v1/test/partition',
      handle: async ({ body }) => {
        await daemon.partition(parse(PartitionBody, body).peers)
        return { ok: true }
      },
    })
  }
  return routes
}

/** A write the data dir refused is answered 507, with the sentence that says why: nothing was applied. */
export async function durable<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    if (err instanceof DataDirWriteError) throw new ApiRequestError(507, `${err.message}: nothing applied`)
    throw err
  }
}

function row(entry: DeclEntry): WorkloadRow {
  const workload = entry.workload!
  return {
    name: entry.name,
    image: workload.image,
    mode: workload.mode,
    replicas: workload.replicas,
    generation: generationOf(workload),
    updated: isoTime(entry.version.hlc.wall) ?? `${entry.version.hlc.wall} (no such date)`,
    origin: entry.version.origin,
  }
}

/**
 * A node whose clock is far from its peers' would stamp writes that win or lose by its error. 409,
 * not 503: a clock is fixed by a person, not within a client's retries.
 */
export function refuseWrites(daemon: ClusterApi): void {
  const reason = daemon.writesRefused()
  if (reason !== undefined) throw new ApiRequestError(409, reason)
}

function issue(error: z.ZodError): string {
  const first = error.issues[0]
  const path = first?.path.join('.') ?? ''
  return `${path === '' ? '' : `${path}: `}${first?.message ?? 'invalid'}`
}

export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body)
  if (!result.success) throw new ApiRequestError(400, `bad request body: ${result.error.issues[0]?.message}`)
  return result.data
}

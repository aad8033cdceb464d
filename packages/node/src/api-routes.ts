import { type DeclEntry, generationOf, parseWorkloadFile } from '@gary/protocol'
import { z } from 'zod'
import { ApiRequestError, type Route } from './api.js'
import type { Daemon } from './daemon.js'

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
const PartitionBody = z.strictObject({ peers: z.array(z.string()).max(1000) })

/** The daemon's HTTP API: every route answers from this node's view of the whole cluster. */
export function apiRoutes(daemon: Daemon, options: { testHooks?: boolean } = {}): Route[] {
  const routes: Route[] = [
    { method: 'GET', path: '/v1/health', handle: () => ({ ok: true }) },
    { method: 'GET', path: '/v1/id', handle: () => ({ id: daemon.peerId, addrs: daemon.joinAddrs() }) },
    { method: 'GET', path: '/v1/nodes', handle: () => daemon.nodes() },
    {
      method: 'POST',
      path: '/v1/apply',
      handle: async ({ body }) => {
        const { text } = parse(ApplyBody, body)
        const parsed = parseWorkloadFile(text)
        if (!parsed.ok)
          throw new ApiRequestError(400, 'invalid workload spec, nothing applied', parsed.problems)
        return daemon.declarations.apply(parsed.workloads)
      },
    },
    {
      method: 'DELETE',
      path: '/v1/workloads/:name',
      handle: async ({ params }) => (await daemon.declarations.remove([params.name!]))[0],
    },
    {
      method: 'GET',
      path: '/v1/workloads',
      handle: () =>
        daemon.declarations.store
          .entries()
          .filter((entry) => !entry.deleted)
          .map(row),
    },
    {
      method: 'GET',
      path: '/v1/workloads/:name',
      handle: ({ params }) => {
        const entry = daemon.declarations.store.get(params.name!)
        if (entry?.workload === undefined) throw new ApiRequestError(404, `no workload named ${params.name}`)
        return { ...row(entry), spec: entry.workload, version: entry.version }
      },
    },
  ]
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

function row(entry: DeclEntry): WorkloadRow {
  const workload = entry.workload!
  return {
    name: entry.name,
    image: workload.image,
    mode: workload.mode,
    replicas: workload.replicas,
    generation: generationOf(workload),
    updated: new Date(entry.version.hlc.wall).toISOString(),
    origin: entry.version.origin,
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body)
  if (!result.success) throw new ApiRequestError(400, `bad request body: ${result.error.issues[0]?.message}`)
  return result.data
}

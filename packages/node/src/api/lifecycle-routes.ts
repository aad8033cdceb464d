import {
  type DeclEntry,
  generationOf,
  MAX_REPLICAS,
  type Revision,
  restartedEntry,
  restoredEntry,
  revisionsOf,
  scaledEntry,
} from '@gary/protocol'
import { z } from 'zod'
import { isoTime } from './iso-time.js'
import { type ClusterApi, durable, parse, refuseWrites } from './routes.js'
import { ApiRequestError, type Route } from './server.js'

/** One row of `gary history`. */
export interface HistoryRow {
  revision: number
  current: boolean
  generation: string
  image: string
  replicas: number
  /** ISO time of the write. */
  written: string
  origin: string
  /** `apply`, `scale 5`, `restart`, `rollback to 2`, or `rolled back: REASON` for an automatic one. */
  cause: string
}

/** What a write of `gary scale`, `restart` or `rollback` answers, per workload. */
export interface LifecycleResult {
  name: string
  outcome: 'updated' | 'unchanged'
  revision: number
  generation: string
}

const ScaleBody = z.strictObject({
  replicas: z.record(z.string().max(63), z.number().int().min(0).max(MAX_REPLICAS)),
})
const RollbackBody = z.strictObject({ to: z.number().int().min(1).optional() })
const RevisionQuery = z.strictObject({
  revision: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number)
    .optional(),
})

/** `gary rollout status`, `history`, `rollback`, `scale` and `restart`. */
export function lifecycleRoutes(daemon: ClusterApi): Route[] {
  const live = (name: string): DeclEntry => {
    const entry = daemon.declarations.store.get(name)
    if (entry?.workload === undefined) throw new ApiRequestError(404, `no workload named ${name}`)
    return entry
  }
  /** Writes what `build` makes of the workload's entry; a string it returns is the 400 answer. */
  const write = async (
    name: string,
    build: (current: DeclEntry, version: DeclEntry['version']) => DeclEntry | string | undefined,
  ): Promise<LifecycleResult> => {
    refuseWrites(daemon)
    const entry = live(name)
    let problem: string | undefined
    const written = await durable(() =>
      daemon.declarations.update([name], (current, version) => {
        if (current?.workload === undefined) return undefined
        const next = build(current, version)
        if (typeof next === 'string') problem = next
        return typeof next === 'string' ? undefined : next
      }),
    )
    if (problem !== undefined) throw new ApiRequestError(400, problem)
    const now = written[0] ?? entry
    return {
      name,
      outcome: written.length > 0 ? 'updated' : 'unchanged',
      revision: now.revision ?? 1,
      generation: generationOf(now.workload!),
    }
  }
  return [
    {
      method: 'GET',
      path: '/v1/rollout/:name',
      handle: ({ params, query }) => {
        const parsed = RevisionQuery.safeParse(Object.fromEntries(query))
        if (!parsed.success) throw new ApiRequestError(400, `bad query: ${parsed.error.issues[0]?.message}`)
        if (daemon.declarations.store.get(params.name!) === undefined)
          throw new ApiRequestError(404, `no workload named ${params.name}`)
        return daemon.rollout(params.name!, parsed.data.revision)
      },
    },
    {
      method: 'GET',
      path: '/v1/workloads/:name/history',
      handle: ({ params }) =>
        revisionsOf(live(params.name!)).map((revision, index) => historyRow(revision, index === 0)),
    },
    {
      method: 'POST',
      path: '/v1/workloads/:name/rollback',
      handle: ({ params, body }) => {
        const { to } = parse(RollbackBody, body ?? {})
        return write(params.name!, (current, version) => restoredEntry(current, version, to))
      },
    },
    {
      method: 'POST',
      path: '/v1/workloads/:name/restart',
      handle: ({ params }) => write(params.name!, (current, version) => restartedEntry(current, version)),
    },
    {
      method: 'POST',
      path: '/v1/scale',
      handle: async ({ body }) => {
        const { replicas } = parse(ScaleBody, body)
        const results: LifecycleResult[] = []
        // Every name is checked before anything is written: a typo applies nothing.
        for (const name of Object.keys(replicas)) {
          if (live(name).workload!.mode === 'global')
            throw new ApiRequestError(
              400,
              `${name} is global: it runs one slot per node and has no replicas to scale`,
            )
        }
        for (const [name, count] of Object.entries(replicas))
          results.push(await write(name, (current, version) => scaledEntry(current, count, version)))
        return results
      },
    },
  ]
}

function historyRow(revision: Revision, current: boolean): HistoryRow {
  const { workload } = revision
  return {
    revision: revision.revision,
    current,
    generation: revision.generation,
    image: workload.image,
    replicas: workload.replicas,
    written: isoTime(revision.version.hlc.wall) ?? `${revision.version.hlc.wall}`,
    origin: revision.version.origin,
    cause:
      revision.rollback !== undefined
        ? `rolled back revision ${revision.rollback.revision}: ${revision.rollback.reason}`
        : (revision.cause ?? 'apply'),
  }
}

import { z } from 'zod'
import { ApiRequestError, type Route } from '../api/server.js'
import type { RemoveOutcome, RemoveReport, VolumeRow, VolumeSelector } from './remove.js'

/** What the volume routes ask of the daemon. */
export interface VolumeApi {
  /** Every known node's named volumes, as each last published them (this node's: read now). */
  volumes(): Promise<VolumeRow[]>
  /** Removes the volumes the selector names from the nodes holding them; an outcome when none is removed. */
  removeVolumes(selector: VolumeSelector): Promise<RemoveReport | RemoveOutcome>
}

const RemoveQuery = z.strictObject({
  workload: z.string().min(1).max(63),
  slot: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .optional(),
  name: z.string().min(1).max(63).optional(),
})

const STATUS = { none: 404, 'in-use': 409 } as const

/** `gary volume ls` and `gary volume rm`. */
export function volumeRoutes(daemon: VolumeApi): Route[] {
  return [
    { method: 'GET', path: '/v1/volumes', handle: () => daemon.volumes() },
    {
      method: 'DELETE',
      path: '/v1/volumes',
      handle: async ({ query }) => {
        const parsed = RemoveQuery.safeParse(Object.fromEntries(query))
        if (!parsed.success)
          throw new ApiRequestError(
            400,
            `bad query: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}`,
          )
        const { workload, slot, name } = parsed.data
        const selector: VolumeSelector = {
          workload,
          ...(slot === undefined ? {} : { slot }),
          ...(name === undefined ? {} : { name }),
        }
        const outcome = await daemon.removeVolumes(selector)
        if ('ok' in outcome) {
          if (!outcome.ok) throw new ApiRequestError(STATUS[outcome.kind], outcome.message)
          return { removed: [], refused: [] }
        }
        return outcome
      },
    },
  ]
}

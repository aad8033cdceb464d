import { VolumeInUseError } from '@gary/runtime'
import { z } from 'zod'
import { ApiRequestError, type Route } from '../api/server.js'
import type { RemoveOutcome, VolumeRow, VolumeSelector } from './remove.js'

/** What the volume routes ask of the daemon. */
export interface VolumeApi {
  /** Every known node's named volumes, as each last published them (this node's: read now). */
  volumes(): Promise<VolumeRow[]>
  /** Removes this node's volumes the selector names, all or none. */
  removeVolumes(selector: VolumeSelector): Promise<RemoveOutcome>
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

const STATUS = { none: 404, elsewhere: 404, 'in-use': 409 } as const

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
        const outcome = await daemon.removeVolumes(selector).catch((err: unknown) => {
          // Mounted since the node last looked: the engine refused, as the node would have.
          if (err instanceof VolumeInUseError) throw new ApiRequestError(409, err.message)
          throw err
        })
        if (!outcome.ok) throw new ApiRequestError(STATUS[outcome.kind], outcome.message)
        return { removed: outcome.removed }
      },
    },
  ]
}

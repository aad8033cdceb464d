import type { Command } from 'commander'
import type { LifecycleResult } from '../../api/lifecycle-routes.js'
import { UserError } from '../../errors.js'
import { waitOptions } from '../follow-rollout.js'
import { reportWrites } from '../lifecycle-write.js'
import { client, clientCommand } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary scale NAME=N...`: sets replicas, each a new revision of its workload. */
export function add(program: Command, entry: CommandEntry): Command {
  return waitOptions(clientCommand(program, entry))
    .argument('<name=replicas...>', 'workloads and their replica counts: web=5 api=2')
    .action(async (pairs: string[], options) => {
      const replicas: Record<string, number> = {}
      for (const pair of pairs) {
        const match = /^([^=]+)=(\d{1,9})$/.exec(pair)
        if (match === null)
          throw new UserError(`scale takes NAME=REPLICAS, like web=5, not ${JSON.stringify(pair)}`)
        replicas[match[1] as string] = Number(match[2])
      }
      const api = client(options)
      const results = await api.request<LifecycleResult[]>('POST', '/v1/scale', { replicas })
      await reportWrites(api, options, results)
    })
}

import type { Command } from 'commander'
import type { LifecycleResult } from '../../api/lifecycle-routes.js'
import { waitOptions } from '../follow-rollout.js'
import { reportWrites } from '../lifecycle-write.js'
import { client, clientCommand } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary restart NAME...`: fresh containers for every slot, in waves, as a rollout does. */
export function add(program: Command, entry: CommandEntry): Command {
  return waitOptions(clientCommand(program, entry))
    .argument('<names...>', 'workload names')
    .action(async (names: string[], options) => {
      const api = client(options)
      const results: LifecycleResult[] = []
      for (const name of names)
        results.push(await api.request('POST', `/v1/workloads/${encodeURIComponent(name)}/restart`, {}))
      await reportWrites(api, options, results)
    })
}

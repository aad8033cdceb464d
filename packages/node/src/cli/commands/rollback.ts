import type { Command } from 'commander'
import type { LifecycleResult } from '../../api/lifecycle-routes.js'
import { waitOptions } from '../follow-rollout.js'
import { reportWrites } from '../lifecycle-write.js'
import { client, clientCommand, wholeNumber } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary rollback NAME [--to REV]`: declares an earlier revision again, as a new one. */
export function add(program: Command, entry: CommandEntry): Command {
  return waitOptions(clientCommand(program, entry))
    .argument('<name>', 'workload name')
    .option(
      '--to <revision>',
      'the revision to restore (default: the newest earlier one that runs something else)',
    )
    .action(async (name: string, options) => {
      const api = client(options)
      const body = options.to === undefined ? {} : { to: Number(wholeNumber('--to', options.to)) }
      const result = await api.request<LifecycleResult>(
        'POST',
        `/v1/workloads/${encodeURIComponent(name)}/rollback`,
        body,
      )
      await reportWrites(api, options, [result])
    })
}

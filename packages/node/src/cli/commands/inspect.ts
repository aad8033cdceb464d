import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary inspect NAME`: a workload as stored. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('<name>', 'workload name')
    .action(async (name: string, options) => {
      const workload = await client(options).get<unknown>(`/v1/workloads/${encodeURIComponent(name)}`)
      const { stringify } = await import('yaml')
      print(options, workload, () => stringify(workload).trimEnd())
    })
}

import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'

/** `gary inspect NAME`: a workload as stored. */
export function inspectCommand(program: Command): Command {
  return clientCommand(
    program,
    'inspect',
    'show a workload as stored, with its version and where each slot runs',
  )
    .argument('<name>', 'workload name')
    .action(async (name: string, options) => {
      const workload = await client(options).get<unknown>(`/v1/workloads/${encodeURIComponent(name)}`)
      const { stringify } = await import('yaml')
      print(options, workload, () => stringify(workload).trimEnd())
    })
}

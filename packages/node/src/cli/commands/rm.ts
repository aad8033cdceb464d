import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary rm NAME...`: deletes workloads. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('<names...>', 'workload names')
    .action(async (names: string[], options) => {
      const api = client(options)
      const results: { name: string; outcome: string }[] = []
      for (const name of names) {
        results.push(await api.request('DELETE', `/v1/workloads/${encodeURIComponent(name)}`))
      }
      print(options, results, () => results.map((r) => `${r.name}: ${r.outcome}`).join('\n'))
      if (results.some((r) => r.outcome === 'not found')) process.exitCode = 1
    })
}

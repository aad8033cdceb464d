import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary logout REGISTRY`: forget the cluster's login for a registry. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('<registry>', 'the registry, as gary login was given it')
    .action(async (registry: string, options) => {
      const answer = await client(options).request<{ registry: string; outcome: string }>(
        'DELETE',
        `/v1/login/${encodeURIComponent(registry)}`,
      )
      print(options, answer, () => `${answer.registry}: login ${answer.outcome}`)
      if (answer.outcome === 'not found') process.exitCode = 1
    })
}

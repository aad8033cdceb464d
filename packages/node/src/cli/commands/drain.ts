import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary drain [--off]`: the node the CLI talks to hands its slots over. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .option('--off', 'end the drain: take work again (slots already moved stay where they are)')
    .action(async (options) => {
      const on = options.off !== true
      const answer = await client(options).request<{ node: string; draining: boolean; changed: boolean }>(
        'POST',
        '/v1/drain',
        { on },
      )
      print(
        options,
        answer,
        () =>
          `${answer.node}: ${answer.draining ? 'draining' : 'not draining'}${answer.changed ? '' : ' (already)'}`,
      )
    })
}

import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/**
 * `gary drain [NODE] [--off]`: a member hands its slots over (the node the CLI talks to, without
 * NODE). Written as a declaration, so any node takes it and it outlasts restarts.
 */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument(
      '[node]',
      "a member's name, id, or a unique start or end of its id (default: the node the CLI talks to)",
    )
    .option('--off', 'end the drain: take work again (slots already moved stay where they are)')
    .action(async (node: string | undefined, options) => {
      const on = options.off !== true
      const answer = await client(options).request<{ node: string; draining: boolean; changed: boolean }>(
        'POST',
        '/v1/drain',
        node === undefined ? { on } : { on, node },
      )
      print(
        options,
        answer,
        () =>
          `${answer.node}: ${answer.draining ? 'draining' : 'not draining'}${answer.changed ? '' : ' (already)'}`,
      )
    })
}

import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'

/** `gary id`: where other machines reach the node. */
export function idCommand(program: Command): Command {
  return clientCommand(
    program,
    'id',
    "print where other machines reach this node, to pass to another node's --join",
  ).action(async (options) => {
    const id = await client(options).get<{ id: string; addrs: string[] }>('/v1/id')
    print(options, id, () => id.addrs.join('\n'))
  })
}

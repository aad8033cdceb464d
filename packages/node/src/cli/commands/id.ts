import type { Command } from 'commander'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary id`: where other machines reach the node. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry).action(async (options) => {
    const id = await client(options).get<{ id: string; addrs: string[] }>('/v1/id')
    print(options, id, () => id.addrs.join('\n'))
  })
}

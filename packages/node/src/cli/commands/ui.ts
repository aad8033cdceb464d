import type { Command } from 'commander'
import { parseApiAddress } from '../api-address.js'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary ui`: the address of the live page the daemon serves, once it is known to answer. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry).action(async (options) => {
    const api = client(options)
    await api.get('/v1/health')
    const address = parseApiAddress(
      (options.api as string | undefined) ?? (process.env.GARY_API || '127.0.0.1:7947'),
    )
    const url = `http://${address}/`
    print(options, { url }, () => url)
    if (api.hasToken && options.json !== true)
      process.stderr.write('the page asks for a user name (any) and a password: give the API token\n')
  })
}

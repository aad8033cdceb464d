import type { Command } from 'commander'
import { UserError } from '../../errors.js'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'
import { readValue } from './secret.js'

/** `gary login REGISTRY -u USER --password-stdin`: a login every node pulls from that registry with. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('<registry>', 'the registry as image names give it: ghcr.io, registry.example.com:5000')
    .requiredOption('-u, --username <user>', 'the user name')
    .option('--password-stdin', 'read the password (or token) from standard input')
    .action(async (registry: string, options) => {
      // A password on the command line is in the shell's history and in `ps`: standard input only.
      if (options.passwordStdin !== true)
        throw new UserError(
          `give the password on standard input: echo "$TOKEN" | gary login ${registry} -u USER --password-stdin`,
        )
      const password = (await readValue('-')).toString('utf8').replace(/\r?\n$/, '')
      const answer = await client(options).request<{ registry: string; outcome: string }>(
        'POST',
        '/v1/login',
        {
          registry,
          username: options.username,
          password,
        },
      )
      print(options, answer, () => `${answer.registry}: login ${answer.outcome}`)
    })
}

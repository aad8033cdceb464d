import type { Command } from 'commander'
import { loadSpecs, reportIgnored } from '../load-specs.js'
import { client, clientCommand, collect, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary apply -f FILE...`: declares the workloads of spec or Compose files on the whole cluster. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .requiredOption(
      '-f, --file <file>',
      'a spec or Compose file, a directory of them, or - for stdin; repeatable',
      collect,
    )
    .action(async (options) => {
      const { specs, ignored } = await loadSpecs(options.file as string[])
      reportIgnored(ignored, options.json === true)
      // All files go in one request: the daemon applies all of them or, on a problem, none.
      const results = await client(options).request<{ name: string; outcome: string }[]>(
        'POST',
        '/v1/apply',
        {
          text: JSON.stringify(specs),
        },
      )
      print(options, results, () => results.map((r) => `${r.name}: ${r.outcome}`).join('\n'))
    })
}

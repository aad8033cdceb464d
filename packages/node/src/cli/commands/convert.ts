import type { Command } from 'commander'
import { loadSpecs, reportIgnored } from '../load-specs.js'
import { collect, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary convert -f compose.yaml`: the Gary specs a file declares, as `gary apply` would send them. */
export function add(program: Command, entry: CommandEntry): Command {
  return program
    .command(entry.name)
    .description(entry.description)
    .requiredOption('-f, --file <file>', 'a file, a directory of them, or - for stdin; repeatable', collect)
    .option('--json', 'print JSON')
    .action(async (options) => {
      const loaded = await loadSpecs(options.file as string[])
      reportIgnored(loaded.ignored, options.json === true)
      const { stringify } = await import('yaml')
      print(options, loaded.specs, () =>
        loaded.specs.map((spec) => stringify(spec).trimEnd()).join('\n---\n'),
      )
    })
}

import type { Command } from 'commander'
import type { CommandEntry } from './index.js'

/** `gary keygen`: a new cluster key. */
export function add(program: Command, entry: CommandEntry): Command {
  return program
    .command(entry.name)
    .description(entry.description)
    .action(async () => {
      const { generateClusterKey } = await import('../../net/cluster-key.js')
      process.stdout.write(generateClusterKey())
      process.stdout.write('\n')
    })
}

import type { Command } from 'commander'

/** `gary keygen`: a new cluster key. */
export function keygenCommand(program: Command): Command {
  return program
    .command('keygen')
    .description('print a new cluster key; give every node the same file with --cluster-key')
    .action(async () => {
      const { generateClusterKey } = await import('../../net/cluster-key.js')
      process.stdout.write(generateClusterKey())
      process.stdout.write('\n')
    })
}

import { Argument, type Command } from 'commander'
import { completionScript, type Shell } from '../completion.js'
import type { CommandEntry } from './index.js'

/** `gary completion bash|zsh|fish`: a script that completes gary's commands and flags. */
export function add(program: Command, entry: CommandEntry): Command {
  return program
    .command(entry.name)
    .description(entry.description)
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .action((shell: Shell) => {
      process.stdout.write(completionScript(program, shell))
    })
}

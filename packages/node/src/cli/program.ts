import { readFileSync } from 'node:fs'
import { Command } from 'commander'

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

/** The `gary` command, without its subcommands. */
export function newProgram(): Command {
  return new Command('gary')
    .description('Gary: a container orchestrator with no control plane')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
}

/** Errors a user can act on print as one sentence; anything else is a bug and prints its stack. */
const USER_ERRORS = new Set([
  'UserError',
  'ConfigError',
  'ClusterKeyError',
  'DaemonUnreachableError',
  'ApiError',
  'RuntimeUnavailableError',
  'ImagePullError',
])

/** Runs the program on `argv`; a failure prints `gary: ...` and exits 1. */
export function run(program: Command, argv: string[]): void {
  program.parseAsync(argv).catch((err: Error) => {
    process.stderr.write(`gary: ${USER_ERRORS.has(err.name) ? err.message : (err.stack ?? String(err))}\n`)
    process.exit(1)
  })
}

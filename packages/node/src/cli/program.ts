import { readFileSync } from 'node:fs'
import { Command } from 'commander'

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

/**
 * The `gary` command, without its subcommands. With `json`, every error (the program's own and
 * commander's usage errors) is one JSON object on stderr instead of a sentence.
 */
export function newProgram(json: boolean): Command {
  const program = new Command('gary')
    .description('Gary: a container orchestrator with no control plane')
    .version(version)
  if (!json) return program.showHelpAfterError('(run with --help for usage)')
  return program.configureOutput({
    outputError: (text) => writeJsonError('UsageError', text.trim().replace(/^error: /, '')),
  })
}

/** Errors a user can act on print as one sentence; anything else is a bug and prints its stack. */
const USER_ERRORS = new Set([
  'UserError',
  'ConfigError',
  'ApiExposedError',
  'DataDirWriteError',
  'ClusterKeyError',
  'DaemonUnreachableError',
  'ApiError',
  'InvalidSpecError',
  'RuntimeUnavailableError',
  'ImagePullError',
])

/** Runs the program on `argv`; a failure prints `gary: ...` (or a JSON error) and exits 1. */
export function run(program: Command, argv: string[], json: boolean): void {
  quietOnClosedOutput()
  program.parseAsync(argv).catch((err: Error & { details?: unknown }) => {
    if (json) writeJsonError(err.name, err.message, err.details)
    else
      process.stderr.write(`gary: ${USER_ERRORS.has(err.name) ? err.message : (err.stack ?? String(err))}\n`)
    process.exit(1)
  })
}

function writeJsonError(name: string, message: string, details?: unknown): void {
  process.stderr.write(
    `${JSON.stringify({ error: message, name, ...(details === undefined ? {} : { details }) })}\n`,
  )
}

/**
 * `gary keygen | head -c 30`: once the reader has gone, there is nobody to tell anything to. End
 * quietly, as a command killed by SIGPIPE would, instead of crashing on EPIPE.
 */
function quietOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0)
      throw err
    })
  }
}

import { applyCommand } from './cli/commands/apply.js'
import { daemonCommand } from './cli/commands/daemon.js'
import { drainCommand } from './cli/commands/drain.js'
import { getCommand } from './cli/commands/get.js'
import { idCommand } from './cli/commands/id.js'
import { inspectCommand } from './cli/commands/inspect.js'
import { keygenCommand } from './cli/commands/keygen.js'
import { logsCommand } from './cli/commands/logs.js'
import { nodesCommand } from './cli/commands/nodes.js'
import { psCommand } from './cli/commands/ps.js'
import { rmCommand } from './cli/commands/rm.js'
import { newProgram, run } from './cli/program.js'

// The `gary` command: each subcommand lives in its own file under cli/commands/.
const program = newProgram()
for (const add of [
  daemonCommand,
  keygenCommand,
  idCommand,
  nodesCommand,
  applyCommand,
  rmCommand,
  getCommand,
  drainCommand,
  psCommand,
  inspectCommand,
  logsCommand,
]) {
  add(program)
}
run(program, process.argv)

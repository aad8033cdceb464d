import { COMMANDS } from './cli/commands/index.js'
import { newProgram, run } from './cli/program.js'

// The `gary` command. Each subcommand lives in its own file under cli/commands/ and is loaded
// only when it runs: a client command must start in a fraction of the daemon's start-up.
const args = process.argv.slice(2)
const json = args.includes('--json')
const words = args.filter((arg) => !arg.startsWith('-'))
const wanted = COMMANDS.find((entry) => entry.name === (words[0] === 'help' ? words[1] : words[0]))

const program = newProgram(json)
const everything = wanted === undefined || wanted.name === 'completion'
for (const entry of COMMANDS) {
  if (everything || entry === wanted) (await entry.load()).add(program, entry)
  else program.command(entry.name).description(entry.description)
}
run(program, process.argv, json)

import type { Command } from 'commander'
import { listNodes } from '../node-views.js'
import { clientCommand } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary nodes`: the same as `gary node ls`. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry).action(listNodes)
}

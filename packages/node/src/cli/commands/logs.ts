import type { Command } from 'commander'
import type { WorkloadRow } from '../../api/routes.js'
import { UserError } from '../../errors.js'
import type { LogItem } from '../../logs/sources.js'
import { client, clientCommand, wholeNumber } from '../options.js'
import { streamOutput } from '../stream-output.js'
import type { CommandEntry } from './index.js'

/** `gary logs NAME`: a workload's container output, from whichever node holds each slot. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('<name>', 'workload name')
    .option('--slot <n>', 'only this slot')
    .option('-f, --follow', "keep printing new lines until Ctrl-C or the container's process exits")
    .option('--tail <n>', 'only the last n lines of each slot')
    .option(
      '-p, --previous',
      "the slot's last exited container instead (kept until the slot is released), or a refused slot's last lines (kept 10 minutes)",
    )
    .action(async (name: string, options) => {
      const query = new URLSearchParams()
      if (options.slot !== undefined) query.set('slot', wholeNumber('--slot', options.slot as string))
      if (options.follow === true) query.set('follow', '1')
      if (options.tail !== undefined) query.set('tail', wholeNumber('--tail', options.tail as string))
      if (options.previous === true) {
        if (options.follow === true)
          throw new UserError('--previous cannot be followed: drop --follow or --previous')
        query.set('previous', '1')
      }
      const api = client(options)
      // A global workload runs its one slot on every node: its lines are told apart by node.
      const { mode } = await api.get<WorkloadRow>(`/v1/workloads/${encodeURIComponent(name)}`)
      const prefixed = mode === 'global' || options.slot === undefined
      const prefix = (item: LogItem) =>
        !prefixed ? '' : mode === 'global' ? `[${name}@${item.node.slice(-8)}] ` : `[${name}/${item.slot}] `
      const { signal, write, close } = streamOutput()
      const path = `/v1/logs/${encodeURIComponent(name)}?${query}`
      try {
        for await (const item of api.stream<LogItem | { error: string }>(path, signal)) {
          if (options.json === true) await write(`${JSON.stringify(item)}\n`)
          else if (!('slot' in item))
            throw new UserError(`the daemon failed while streaming logs: ${item.error}`)
          else if ('error' in item) process.stderr.write(`gary: ${prefix(item)}${item.error}\n`)
          else if (item.stream === 'stderr') process.stderr.write(`${prefix(item)}${item.line}\n`)
          else await write(`${prefix(item)}${item.line}\n`)
          if ('error' in item) process.exitCode = 1
        }
      } finally {
        close()
      }
    })
}

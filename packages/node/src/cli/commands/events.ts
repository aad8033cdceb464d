import type { Command } from 'commander'
import type { EventView } from '../../api/routes.js'
import { UserError } from '../../errors.js'
import { nodeLabel } from '../../node-label.js'
import { client, clientCommand, wholeNumber } from '../options.js'
import { streamOutput } from '../stream-output.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

const HEADER = ['TIME', 'NODE', 'EVENT', 'WHAT']

/** `gary events`: what every node did and saw, and why, in one order. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .option('-f, --follow', 'keep printing new events as every node records them, until Ctrl-C')
    .option('--since <duration>', 'only events of the last 90s, 10m, 2h, 1d...')
    .option('--workload <name>', "only this workload's events")
    .option(
      '--node <node>',
      'only events recorded by this node or about it (its id, name, or a unique part of its id)',
    )
    .option('--limit <n>', 'at most the newest n events before following (default 1000)')
    .action(async (options) => {
      const query = new URLSearchParams()
      if (options.since !== undefined) {
        if (!/^\d{1,9}(ms|s|m|h|d)$/.test(options.since as string))
          throw new UserError(
            `--since takes a duration like 90s, 10m, 2h or 1d, not ${JSON.stringify(options.since)}`,
          )
        query.set('since', options.since as string)
      }
      if (options.workload !== undefined) query.set('workload', options.workload as string)
      if (options.node !== undefined) query.set('node', options.node as string)
      if (options.limit !== undefined) query.set('limit', wholeNumber('--limit', options.limit as string))
      if (options.follow === true) query.set('follow', '1')
      const { signal, write, close } = streamOutput()
      const rows: string[][] = []
      try {
        for await (const item of client(options).stream<EventView>(`/v1/events?${query}`, signal)) {
          if ('error' in item) {
            process.exitCode = 1
            if (options.json === true) await write(`${JSON.stringify(item)}\n`)
            else process.stderr.write(`gary: ${nodeLabel(item.node, item.nodeName)}: ${item.error}\n`)
            continue
          }
          if (options.json === true) await write(`${JSON.stringify(item)}\n`)
          else if (options.follow === true) {
            // Rows print as they come: columns of fixed width, since later rows are not known yet.
            const [time, node, kind, what] = row(item)
            await write(`${time!.padEnd(12)}  ${node!.padEnd(28)}  ${kind!.padEnd(9)}  ${what}\n`)
          } else rows.push(row(item))
        }
      } finally {
        close()
      }
      if (options.json !== true && options.follow !== true) await write(`${renderTable(HEADER, rows)}\n`)
    })
}

function row(event: Exclude<EventView, { error: string }>): string[] {
  return [clock(event.at.wall), nodeLabel(event.node, event.nodeName), event.kind, event.text]
}

/** A time of day (local), with the date before it when not today. */
function clock(wall: number): string {
  const at = new Date(wall)
  const two = (n: number) => String(n).padStart(2, '0')
  const time = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`
  const today = new Date()
  const sameDay =
    at.getFullYear() === today.getFullYear() &&
    at.getMonth() === today.getMonth() &&
    at.getDate() === today.getDate()
  return sameDay ? time : `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${time}`
}

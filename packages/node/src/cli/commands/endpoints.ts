import type { Command } from 'commander'
import type { EndpointRow } from '../../mesh/endpoint-rows.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

/** `gary endpoints [NAME]`: every workload's stable addresses, and the ready slots behind them. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('[name]', 'only this workload')
    .action(async (name: string | undefined, options) => {
      const all = await client(options).get<EndpointRow[]>('/v1/endpoints')
      const rows = name === undefined ? all : all.filter((row) => row.workload === name)
      print(options, rows, () => renderEndpoints(rows))
    })
}

export function renderEndpoints(rows: EndpointRow[]): string {
  const table = renderTable(
    ['WORKLOAD', 'PORT', 'CONTAINER', 'ADDRESSES', 'SLOTS'],
    rows.map((row) => [
      row.workload,
      `${row.port}/${row.protocol}`,
      String(row.containerPort),
      row.addresses.join(',') || '-',
      row.slots.map((slot) => `${slot.slot}@${slot.endpoint}`).join(',') || 'none ready',
    ]),
  )
  return [table, ...unservedLines(rows)].join('\n')
}

/** One line per node that does not serve a published port, with its reason. */
export function unservedLines(rows: EndpointRow[]): string[] {
  const lines = rows.flatMap((row) =>
    row.unserved.map(
      (u) => `${row.workload}: port ${row.port}/${row.protocol} not served on ${u.node}: ${u.reason}`,
    ),
  )
  return lines.length > 0 ? ['', ...lines] : []
}

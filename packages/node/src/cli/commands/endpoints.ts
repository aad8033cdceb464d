import type { Command } from 'commander'
import type { EndpointRow } from '../../mesh/endpoint-rows.js'
import { fetchLabeller, type NodeLabeller } from '../node-names.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

/** `gary endpoints [NAME]`: every workload's stable addresses, and the ready slots behind them. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('[name]', 'only this workload')
    .action(async (name: string | undefined, options) => {
      const api = client(options)
      const all = await api.get<EndpointRow[]>('/v1/endpoints')
      const rows = name === undefined ? all : all.filter((row) => row.workload === name)
      const label = await fetchLabeller(api, options.json === true)
      print(options, rows, () => renderEndpoints(rows, label))
    })
}

export function renderEndpoints(rows: EndpointRow[], label: NodeLabeller = (id) => id): string {
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
  return [table, ...unservedLines(rows, label)].join('\n')
}

/** One line per node that does not serve a published port, with its reason. */
export function unservedLines(rows: EndpointRow[], label: NodeLabeller = (id) => id): string[] {
  const lines = rows.flatMap((row) =>
    row.unserved.map(
      (u) => `${row.workload}: port ${row.port}/${row.protocol} not served on ${label(u.node)}: ${u.reason}`,
    ),
  )
  return lines.length > 0 ? ['', ...lines] : []
}

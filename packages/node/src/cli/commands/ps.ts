import type { Command } from 'commander'
import type { SlotRow } from '../../api/slot-rows.js'
import type { EndpointRow } from '../../mesh/endpoint-rows.js'
import { fetchLabeller, type NodeLabeller } from '../node-names.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import { unservedLines } from './endpoints.js'
import type { CommandEntry } from './index.js'

/** `gary ps [NAME]`: every slot, and the slots no node can take. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('[name]', 'only this workload')
    .action(async (name: string | undefined, options) => {
      const api = client(options)
      const all = await api.get<SlotRow[]>('/v1/slots')
      const rows = name === undefined ? all : all.filter((row) => row.workload === name)
      // The published ports a node does not serve are said after the slots (`gary endpoints --json` has them).
      const endpoints = options.json ? [] : await api.get<EndpointRow[]>('/v1/endpoints')
      const ports = name === undefined ? endpoints : endpoints.filter((row) => row.workload === name)
      const label = await fetchLabeller(api, options.json === true)
      print(options, rows, () => [renderSlots(rows, label), ...unservedLines(ports, label)].join('\n'))
    })
}

function renderSlots(rows: SlotRow[], label: NodeLabeller): string {
  const placed = rows.filter((row) => row.phase !== 'unschedulable')
  const stuck = rows.filter((row) => row.phase === 'unschedulable')
  const table = renderTable(
    ['WORKLOAD', 'SLOT', 'NODE', 'PHASE', 'READY', 'RESTARTS', 'CONTAINER', 'GENERATION', 'AGE', 'ENDPOINTS'],
    placed.map((row) => [
      row.workload,
      String(row.slot),
      row.node === null ? '-' : label(row.node),
      row.phase,
      row.ready ? 'yes' : 'no',
      restarts(row),
      row.containerId?.slice(0, 12) ?? '-',
      row.generation.slice(0, 12),
      formatAge(row.ageMs ?? 0),
      row.endpoints.join(','),
    ]),
  )
  const lines = stuck.map(
    (row) =>
      `${row.workload}/${row.slot}${row.node === null ? '' : ` on ${label(row.node)}`}: unschedulable: ${(row.reasons ?? []).join('; ')}`,
  )
  return [table, ...(lines.length > 0 ? ['', ...lines] : [])].join('\n')
}

/** `3 (exit 1)`, `1 (unhealthy)`, or `0`. */
function restarts(row: SlotRow): string {
  const count = String(row.restarts ?? 0)
  return row.lastExit === undefined ? count : `${count} (${row.lastExit})`
}

function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`
  return `${Math.floor(seconds / 3600)}h`
}

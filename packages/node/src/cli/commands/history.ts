import type { Command } from 'commander'
import type { HistoryRow } from '../../api/lifecycle-routes.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

/** `gary history NAME`: the revisions a workload keeps, newest first. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry)
    .argument('<name>', 'workload name')
    .action(async (name: string, options) => {
      const rows = await client(options).get<HistoryRow[]>(
        `/v1/workloads/${encodeURIComponent(name)}/history`,
      )
      print(options, rows, () =>
        renderTable(
          ['REVISION', 'GENERATION', 'IMAGE', 'REPLICAS', 'WRITTEN', 'ORIGIN', 'CAUSE'],
          rows.map((r) => [
            `${r.revision}${r.current ? '*' : ''}`,
            r.generation,
            r.image,
            String(r.replicas),
            r.written,
            r.origin,
            r.cause,
          ]),
        ),
      )
    })
}

import type { Command } from 'commander'
import type { WorkloadRow } from '../../api/routes.js'
import { fetchLabeller } from '../node-names.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

/** `gary get`: the declared workloads. */
export function add(program: Command, entry: CommandEntry): Command {
  return clientCommand(program, entry).action(async (options) => {
    const api = client(options)
    const rows = await api.get<WorkloadRow[]>('/v1/workloads')
    const label = await fetchLabeller(api, options.json === true)
    print(options, rows, () =>
      renderTable(
        ['NAME', 'IMAGE', 'REPLICAS', 'GENERATION', 'UPDATED', 'ORIGIN'],
        rows.map((r) => [
          r.name,
          r.image,
          r.mode === 'global' ? 'global' : String(r.replicas),
          r.generation,
          r.updated,
          label(r.origin),
        ]),
      ),
    )
  })
}

import type { Command } from 'commander'
import { UserError } from '../../errors.js'
import type { RemoveReport, VolumeRow } from '../../volumes/remove.js'
import { fetchLabeller } from '../node-names.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

/** `gary volume ls` (every node's named volumes) and `gary volume rm WORKLOAD[/SLOT[/NAME]]`. */
export function add(program: Command, entry: CommandEntry): Command {
  const volume = program.command(entry.name).description(entry.description)
  clientCommand(volume, {
    name: 'ls',
    description: "list every node's named volumes, as each last published them (within about 10 s)",
  }).action(async (options) => {
    const api = client(options)
    const rows = await api.get<VolumeRow[]>('/v1/volumes')
    const label = await fetchLabeller(api, options.json === true)
    print(options, rows, () =>
      renderTable(
        ['VOLUME', 'NODE', 'IN USE', 'NODE STATE'],
        rows.map((v) => [
          `${v.workload}/${v.slot}/${v.name}`,
          label(v.node),
          v.inUse ? 'yes' : 'no',
          v.state,
        ]),
      ),
    )
  })
  clientCommand(volume, {
    name: 'rm',
    description:
      "remove a workload's named volumes and their data from every node that holds them: all of them (db), one slot's (db/0) or one (db/0/data); none while a container mounts one",
  })
    .argument('<volumes...>', 'WORKLOAD, WORKLOAD/SLOT or WORKLOAD/SLOT/NAME, as gary volume ls shows them')
    .action(async (refs: string[], options) => {
      const api = client(options)
      const report: RemoveReport = { removed: [], refused: [] }
      for (const ref of refs) {
        const answer = await api.request<RemoveReport>('DELETE', `/v1/volumes?${query(ref)}`)
        report.removed.push(...answer.removed)
        report.refused.push(...answer.refused)
      }
      const label = await fetchLabeller(api, options.json === true)
      print(options, report, () =>
        [
          ...report.removed.map((r) => `${r.volume}: removed on ${label(r.node)}`),
          ...report.refused.map((r) => `${label(r.node)}: ${r.reason}`),
        ].join('\n'),
      )
      if (report.refused.length > 0) process.exitCode = 1
    })
  return volume
}

function query(ref: string): string {
  const [workload, slot, name, ...rest] = ref.split('/')
  if (
    workload === undefined ||
    workload === '' ||
    rest.length > 0 ||
    (slot !== undefined && !/^\d+$/.test(slot))
  )
    throw new UserError(`${ref} is not WORKLOAD, WORKLOAD/SLOT or WORKLOAD/SLOT/NAME (see gary volume ls)`)
  const params = new URLSearchParams({ workload })
  if (slot !== undefined) params.set('slot', slot)
  if (name !== undefined && name !== '') params.set('name', name)
  return params.toString()
}

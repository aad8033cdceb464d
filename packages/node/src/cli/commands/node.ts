import type { Command } from 'commander'
import type { NodeView } from '../../api/routes.js'
import type { SlotRow } from '../../api/slot-rows.js'
import { findNode, listNodes } from '../node-views.js'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary node ls` and `gary node inspect ID`: the members, from any node. */
export function add(program: Command, entry: CommandEntry): Command {
  const node = program.command(entry.name).description(entry.description)
  clientCommand(node, { name: 'ls', description: 'list the cluster members this node knows' }).action(
    listNodes,
  )
  clientCommand(node, {
    name: 'inspect',
    description: 'show one member as this node knows it, and the slots it holds',
  })
    .argument('<id>', 'node id, or a unique part of it (its start or end)')
    .action(async (id: string, options) => {
      const api = client(options)
      const found = findNode(await api.get<NodeView[]>('/v1/nodes'), id)
      const slots = (await api.get<SlotRow[]>('/v1/slots')).filter((slot) => slot.node === found.id)
      const view = { ...found, slots }
      const { stringify } = await import('yaml')
      print(options, view, () => stringify(view).trimEnd())
    })
  return node
}

import type { Command } from 'commander'
import type { NodeView } from '../../api/routes.js'
import type { SlotRow } from '../../api/slot-rows.js'
import { findNode, listNodes } from '../node-views.js'
import { client, clientCommand, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary node ls`, `gary node inspect ID`, `gary node ban ID` and `unban ID`: the members, from any node. */
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
  for (const banned of [true, false])
    clientCommand(node, {
      name: banned ? 'ban' : 'unban',
      description: banned
        ? 'ban a member from the whole cluster: every node drops its connections and ignores its promises and writes'
        : "lift a member's ban",
    })
      .argument('<id>', 'node id, or a unique part of the id of a member this node knows')
      .action(async (id: string, options) => {
        const api = client(options)
        const target = memberId(await api.get<NodeView[]>('/v1/nodes'), id)
        const answer = await api.request<{ node: string; banned: boolean; changed: boolean }>(
          'POST',
          '/v1/ban',
          {
            node: target,
            banned,
          },
        )
        print(
          options,
          answer,
          () =>
            `${answer.node}: ${answer.banned ? 'banned' : 'not banned'}${answer.changed ? '' : ' (already)'}`,
        )
      })
  return node
}

/** The member `id` names; a whole id as given when no member this node knows has it (a member long gone). */
function memberId(nodes: NodeView[], id: string): string {
  try {
    return findNode(nodes, id).id
  } catch (err) {
    if (nodes.some((node) => node.id.includes(id)) || !/^[1-9A-HJ-NP-Za-km-z]{46,}$/.test(id)) throw err
    return id
  }
}

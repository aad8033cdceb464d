import type { Command } from 'commander'
import type { NodeView } from '../../api/routes.js'
import { formatBytes } from '../../config/units.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'

/** `gary nodes`: the members the node knows. */
export function nodesCommand(program: Command): Command {
  return clientCommand(program, 'nodes', 'list the cluster members this node knows').action(
    async (options) => {
      const nodes = await client(options).get<NodeView[]>('/v1/nodes')
      print(options, nodes, () =>
        renderTable(
          ['NODE', 'STATE', 'ADDRESSES', 'LABELS', 'CPU', 'MEMORY', 'LAST HEARD'],
          nodes.map((node) => [
            node.self ? `${node.id} (self)` : node.id,
            node.state,
            node.addrs.join(','),
            Object.entries(node.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
            `${node.capacity.cpuMillis / 1000}`,
            formatBytes(node.capacity.memoryBytes),
            node.self ? '-' : `${(node.lastSeenMs / 1000).toFixed(1)}s ago`,
          ]),
        ),
      )
    },
  )
}

import { formatCpu, formatMemory } from '@gary/protocol/quantity'
import type { NodeView } from '../api/routes.js'
import { UserError } from '../errors.js'
import { nodeLabel } from '../node-label.js'
import { client, print } from './options.js'
import { renderTable } from './table.js'

/** Prints the members the daemon knows: `gary node ls` and `gary nodes`. */
export async function listNodes(options: Record<string, unknown>): Promise<void> {
  const nodes = await client(options).get<NodeView[]>('/v1/nodes')
  const alone = nodes.some((node) => node.self && node.joined === false)
  print(options, nodes, () =>
    [
      renderTable(
        ['NODE', 'STATE', 'DRAINING', 'ADDRESSES', 'LABELS', 'CPU', 'MEMORY', 'LAST HEARD'],
        nodes.map((node) => [
          nodeLabel(node.id, node.name, node.self ? 'self' : undefined),
          node.state,
          node.draining ? 'yes' : 'no',
          node.addrs.join(','),
          Object.entries(node.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
          formatCpu(node.capacity.cpuMillis),
          formatMemory(node.capacity.memoryBytes),
          node.self ? '-' : `${(node.lastSeenMs / 1000).toFixed(1)}s ago`,
        ]),
      ),
      ...(alone ? ['', NOT_JOINED] : []),
    ].join('\n'),
  )
}

const NOT_JOINED =
  'this node has not joined: no member has answered at its --join addresses, and it takes no work until one does (see its log)'

/** The one member whose id or name is `id`, or whose id starts or ends with it. */
export function findNode(nodes: NodeView[], id: string): NodeView {
  const exact = nodes.find((node) => node.id === id) ?? only(nodes.filter((node) => node.name === id))
  if (exact !== undefined) return exact
  const matches = nodes.filter((node) => node.id.startsWith(id) || node.id.endsWith(id))
  if (matches.length === 1) return matches[0]!
  if (matches.length === 0) throw new UserError(`no member ${id} is known to this node (see gary node ls)`)
  throw new UserError(
    `${id} names ${matches.length} members (${matches.map((node) => node.id).join(', ')}): give more of the id`,
  )
}

const only = <T>(list: readonly T[]): T | undefined => (list.length === 1 ? list[0] : undefined)

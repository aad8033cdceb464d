import type { NodeView } from '../api/routes.js'
import { nodeLabel } from '../node-label.js'
import type { ApiClient } from './client.js'

/** Shows a node id as people know it: `alpha (Kx7fQ2ab)`. */
export type NodeLabeller = (id: string) => string

/** The members' names, as the daemon knows them, for showing node ids in tables. */
export function labeller(nodes: readonly NodeView[]): NodeLabeller {
  const names = new Map(nodes.flatMap((node) => (node.name === undefined ? [] : [[node.id, node.name]])))
  return (id) => nodeLabel(id, names.get(id))
}

/** Asks the daemon for its members' names; under `--json` nothing is asked (JSON keeps full ids). */
export async function fetchLabeller(api: ApiClient, json: boolean): Promise<NodeLabeller> {
  if (json) return (id) => id
  return labeller(await api.get<NodeView[]>('/v1/nodes'))
}

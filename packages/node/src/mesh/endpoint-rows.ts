import { type MeshNode, meshServices, type UnservedPort, type Workload } from '@gary/protocol'

/** A node as `gary endpoints` reads it: where it is reached, and what its mesh does not serve. */
export interface EndpointNode extends MeshNode {
  /** Where other machines reach it (its first address), if known. */
  host?: string
  unserved?: readonly UnservedPort[]
}

/** One row of `gary endpoints`: a published port, where it is served, and the slots behind it. */
export interface EndpointRow {
  workload: string
  port: number
  protocol: 'tcp'
  containerPort: number
  /** `host:port` on every live node whose mesh serves it: any of them reaches a ready slot. */
  addresses: string[]
  /** Live nodes that do not serve it, and why. */
  unserved: { node: string; reason: string }[]
  /** The ready slots behind it, where each node's mesh sends connections. */
  slots: { slot: number; node: string; endpoint: string }[]
}

/** The rows of `gary endpoints`, from the same view every node's mesh reads. */
export function endpointRows(
  self: string,
  workloads: readonly Workload[],
  nodes: readonly EndpointNode[],
): EndpointRow[] {
  const { services } = meshServices(self, workloads, nodes)
  const live = nodes
    .filter((node) => node.status === 'alive' || node.id === self)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return services.map((service) => {
    const addresses: string[] = []
    const unserved: EndpointRow['unserved'] = []
    for (const node of live) {
      const why = node.unserved?.find((u) => u.port === service.publishedPort && u.protocol === 'tcp')
      if (why !== undefined) unserved.push({ node: node.id, reason: why.reason })
      else if (node.host !== undefined)
        addresses.push(`${node.host.includes(':') ? `[${node.host}]` : node.host}:${service.publishedPort}`)
    }
    return {
      workload: service.workload,
      port: service.publishedPort,
      protocol: 'tcp',
      containerPort: service.containerPort,
      addresses,
      unserved,
      slots: service.backends.map((backend) => ({
        slot: backend.slot,
        node: backend.node,
        endpoint: `${backend.host.includes(':') ? `[${backend.host}]` : backend.host}:${backend.port}`,
      })),
    }
  })
}

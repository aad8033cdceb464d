import type { SlotPromise } from '../node-state.js'
import type { Workload } from '../spec.js'
import { parseEndpoint } from './endpoint.js'

/** A node as the mesh reads it: its liveness and the promises it published. */
export interface MeshNode {
  id: string
  status: 'alive' | 'suspect' | 'dead'
  promises: readonly SlotPromise[]
}

/** One slot's container, where a published port's connections can be sent. */
export interface Backend {
  /** `node/workload/slot`. */
  key: string
  node: string
  workload: string
  slot: number
  host: string
  port: number
  /** On the node that reads the view. */
  local: boolean
  /** The engine's id of the slot's container, when its promise names it. */
  container?: string
}

/** A published port and the slots that serve it now. */
export interface MeshService {
  workload: string
  publishedPort: number
  containerPort: number
  protocol: 'tcp'
  backends: Backend[]
}

/** A published port that another workload took first (concurrent applies the checks missed). */
export interface PortClash {
  port: number
  protocol: 'tcp'
  workload: string
  /** The workload that serves it. */
  servedBy: string
}

/**
 * What every node's mesh serves: each published port of the live declarations, and behind it the
 * slots that may take a connection, running and ready on a node that is alive (a suspect node is
 * out of rotation until it is heard again). Two workloads publishing one port: the first by name
 * serves it on every node alike, the other is a clash. Equal views give equal services.
 */
export function meshServices(
  self: string,
  workloads: readonly Workload[],
  nodes: readonly MeshNode[],
): { services: MeshService[]; clashes: PortClash[] } {
  const byPort = new Map<number, MeshService>()
  const clashes: PortClash[] = []
  const sorted = [...workloads].sort((a, b) => compare(a.name, b.name))
  for (const workload of sorted) {
    for (const port of workload.ports) {
      if (port.publishedPort === undefined || port.protocol !== 'tcp') continue
      const taken = byPort.get(port.publishedPort)
      if (taken !== undefined) {
        if (taken.workload !== workload.name)
          clashes.push({
            port: port.publishedPort,
            protocol: 'tcp',
            workload: workload.name,
            servedBy: taken.workload,
          })
        continue
      }
      byPort.set(port.publishedPort, {
        workload: workload.name,
        publishedPort: port.publishedPort,
        containerPort: port.containerPort,
        protocol: 'tcp',
        backends: [],
      })
    }
  }
  const byWorkload = new Map<string, MeshService[]>()
  for (const service of byPort.values()) {
    const list = byWorkload.get(service.workload) ?? []
    list.push(service)
    byWorkload.set(service.workload, list)
  }
  for (const node of nodes) {
    if (node.status !== 'alive' && node.id !== self) continue
    for (const promise of node.promises) {
      if (promise.phase !== 'running' || !promise.ready) continue
      const services = byWorkload.get(promise.workload)
      if (services === undefined) continue
      for (const text of promise.endpoints) {
        const endpoint = parseEndpoint(text)
        if (endpoint === undefined || endpoint.protocol !== 'tcp') continue
        for (const service of services) {
          if (service.containerPort !== endpoint.containerPort) continue
          service.backends.push({
            key: `${node.id}/${promise.workload}/${promise.slot}`,
            node: node.id,
            workload: promise.workload,
            slot: promise.slot,
            host: endpoint.host,
            port: endpoint.port,
            local: node.id === self,
            ...(promise.container === undefined ? {} : { container: promise.container }),
          })
        }
      }
    }
  }
  const services = [...byPort.values()].sort((a, b) => a.publishedPort - b.publishedPort)
  for (const service of services) service.backends.sort((a, b) => compare(a.key, b.key))
  return { services, clashes }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

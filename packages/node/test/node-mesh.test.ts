import { normaliseWorkload, type Workload } from '@gary/protocol'
import pino from 'pino'
import { afterEach, expect, test } from 'vitest'
import type { EndpointNode } from '../src/mesh/endpoint-rows.js'
import { NodeMesh } from '../src/mesh/node-mesh.js'
import { FakeNetfilter } from '../src/testing/fake-netfilter.js'
import { takenPort } from '../src/testing/taken-port.js'
import { waitFor } from '../src/testing/wait.js'

const logger = pino({ level: 'silent' })
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

function workload(name: string, ports: { container: number; published?: number }[]): Workload {
  const result = normaliseWorkload({ name, image: 'busybox', ports })
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.workloads[0]!
}

const n3: EndpointNode = {
  id: 'n3',
  status: 'alive',
  host: '10.0.0.3',
  promises: [
    {
      workload: 'web',
      slot: 0,
      generation: 'g1',
      phase: 'running',
      since: { wall: 1, logical: 0 },
      ready: true,
      endpoints: ['10.0.0.3:32768->8080/tcp'],
    },
  ],
}

test('the mesh reads no member while no workload publishes a port, and serves one as soon as one does', async () => {
  // A port another process holds: the mesh says it does not serve it, which shows each view it read.
  const { port, close } = await takenPort()
  closers.push(close)
  const unserved: number[][] = []
  const reads = { workloads: 0, nodes: 0 }
  let workloads = [workload('worker', []), workload('web', [{ container: 8080 }])]
  const mesh = new NodeMesh(
    { dns: 'off', mode: 'userland', mesh: { host: '127.0.0.1' } },
    {
      self: 'n1',
      logger,
      now: () => performance.now(),
      workloads: () => {
        reads.workloads++
        return workloads
      },
      nodes: () => {
        reads.nodes++
        return [{ id: 'n1', status: 'alive', promises: [], host: '10.0.0.1' }, n3]
      },
      declared: () => false,
      publishUnserved: (ports) => unserved.push(ports.map((p) => p.port)),
      netfilter: new FakeNetfilter(),
    },
  )
  closers.push(() => mesh.stop())
  await mesh.start()
  mesh.viewChanged()
  await waitFor('the view read', () => reads.workloads > 0)
  expect(mesh.endpoints()).toEqual([])
  expect(reads.nodes).toBe(0)

  workloads = [workloads[0]!, workload('web', [{ container: 8080, published: port }])]
  mesh.viewChanged()
  await waitFor('the published port reported unserved', () => unserved.at(-1)?.[0] === port)
  expect(reads.nodes).toBeGreaterThan(0)
  expect(mesh.endpoints()[0]).toMatchObject({
    workload: 'web',
    port,
    slots: [{ slot: 0, node: 'n3', endpoint: '10.0.0.3:32768' }],
  })

  // Published no more: the port is let go, and the members are no longer read.
  workloads = [workloads[0]!]
  mesh.viewChanged()
  await waitFor('nothing unserved', () => unserved.at(-1)?.length === 0)
  const nodeReads = reads.nodes
  const workloadReads = reads.workloads
  mesh.viewChanged()
  await waitFor('the view read again', () => reads.workloads > workloadReads)
  expect(reads.nodes).toBe(nodeReads)
  expect(mesh.endpoints()).toEqual([])
})

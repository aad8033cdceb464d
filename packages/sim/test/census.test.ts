import { expect, test } from 'vitest'
import { SimCluster, type SimNode } from '../src/index.js'

// What INV-3 and the simulator's two kinds of node loss mean, on a cluster of three nodes with no
// workloads: the invariants are about membership alone.

async function formed(): Promise<{ cluster: SimCluster; nodes: SimNode[] }> {
  const cluster = new SimCluster({ nodes: 3, seed: 1 })
  for (const node of cluster.nodes) node.start()
  await cluster.run(3000)
  expect(cluster.violation([])).toBeUndefined()
  return { cluster, nodes: cluster.nodes }
}

const statusOf = (node: SimNode, of: SimNode) => node.table.get(of.id)?.status

test('INV-3 fails while a node holds a live node dead', async () => {
  const { cluster, nodes } = await formed()
  const [a, b] = nodes as [SimNode, SimNode]
  // A cut link: after 3 s of silence A and B each hold the other dead, lone witnesses that C
  // does not believe.
  cluster.network.setLink(a.id, b.id, false)
  const judged = () => statusOf(a, b) === 'dead' || statusOf(b, a) === 'dead'
  for (let ms = 0; ms < 5000 && !judged(); ms += 100) await cluster.run(100)
  expect(judged()).toBe(true)
  expect(a.up && b.up).toBe(true)
  expect(cluster.violation([])).toMatch(
    new RegExp(`^INV-3: (${a.id}|${b.id}) holds (${a.id}|${b.id}) dead, though it is up$`),
  )
})

test('a process crash is seen dead at once; a machine lost silently only after 3 s of silence', async () => {
  const { cluster, nodes } = await formed()
  const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
  c.crash()
  await cluster.run(100)
  expect([statusOf(a, c), statusOf(b, c)]).toEqual(['dead', 'dead'])
  expect(cluster.violation([])).toBeUndefined()

  b.crash({ silent: true })
  // Its peer still holds it alive: INV-3 wants a node that is down held dead.
  expect(cluster.violation([])).toBe(`INV-3: ${a.id} holds ${b.id} alive, though it is down`)
  await cluster.run(1900)
  expect(statusOf(a, b)).not.toBe('dead')
  await cluster.run(2000)
  expect(statusOf(a, b)).toBe('dead')
  expect(cluster.violation([])).toBeUndefined()
})

import { expect, test } from 'vitest'
import { runScenario } from '../src/index.js'

// At 1000 nodes a node is connected to 32 others (liveness is relayed) and plans only its own
// slots. A node crash covers both: 10,000 replicas deployed, a machine lost, its slots placed
// again by the nodes on their walks. About two minutes; the whole table at 1000 nodes runs from
// `npm run sim -- --nodes 1000` (docs/simulator.md).
test('node-crash at 1000 nodes converges with every invariant holding', async () => {
  const result = await runScenario('node-crash', { nodes: 1000, seed: 1 })
  expect(result.violation).toBeUndefined()
  expect(result.recoverMs).toBeDefined()
}, 600_000)

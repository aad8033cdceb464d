import { describe, expect, test } from 'vitest'
import { runScenario, SCENARIO_NAMES } from '../src/index.js'

// Every scenario, at two cluster sizes, runs Gary's own reconcile code on the simulated network
// and must end with the invariants holding. Timings are printed by `npm run sim`, not tested.

describe.each([10, 100])('the simulator at %i nodes', (nodes) => {
  test.each(SCENARIO_NAMES)('%s converges with every invariant holding', async (scenario) => {
    const result = await runScenario(scenario, { nodes, seed: 1 })
    expect(result.violation).toBeUndefined()
    expect(result.convergeMs).toBeDefined()
  })
})

test('the same seed gives the same run, another seed another one', async () => {
  const [a, b, c] = await Promise.all([
    runScenario('node-crash', { nodes: 20, seed: 7 }),
    runScenario('node-crash', { nodes: 20, seed: 7 }),
    runScenario('node-crash', { nodes: 20, seed: 8 }),
  ])
  const figures = ({ planMsPerNodePerSec: _real, ...rest }: typeof a) => rest
  expect(figures(b)).toEqual(figures(a))
  expect(figures(c)).not.toEqual(figures(a))
})

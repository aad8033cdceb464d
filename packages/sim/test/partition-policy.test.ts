import { expect, test } from 'vitest'
import { POLICY_SCENARIO_NAMES, runScenario } from '../src/index.js'

// Each partition policy in a simulated cut of a third of the nodes (scenarios.ts says what each
// checks at every sample and as the cut ends), then the heal: the invariants hold again.
test.each(POLICY_SCENARIO_NAMES)(
  '%s: the minority does what the policy says, and the heal converges',
  async (name) => {
    const result = await runScenario(name, { nodes: 10, seed: 1 })
    expect(result.violation).toBeUndefined()
    expect(result.convergeMs).toBeDefined()
  },
)

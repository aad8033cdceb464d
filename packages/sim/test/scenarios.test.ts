import { expect, test } from 'vitest'
import { runScenario } from '../src/index.js'

// Every scenario at every size is run by table.test.ts, through the CLI; here, in process, what
// makes its figures worth quoting: the same seed gives the same run.

test.each([1, 4])(
  'the same seed gives the same run, another seed another one (%i shards)',
  async (shards) => {
    const [a, b, c] = await Promise.all([
      runScenario('process-crash', { nodes: 20, seed: 7, shards }),
      runScenario('process-crash', { nodes: 20, seed: 7, shards }),
      runScenario('process-crash', { nodes: 20, seed: 8, shards }),
    ])
    const figures = ({ planMsPerNodePerSec: _real, ...rest }: typeof a) => rest
    expect(figures(b)).toEqual(figures(a))
    expect(figures(c)).not.toEqual(figures(a))
  },
)

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

test('a traced loss says when each node accused, reported and saw the lost machine dead, and how; tracing changes no figure', async () => {
  const [plain, traced] = await Promise.all([
    runScenario('machine-loss', { nodes: 20, seed: 3 }),
    runScenario('machine-loss', { nodes: 20, seed: 3, trace: true }),
  ])
  const { trace, planMsPerNodePerSec: _real, ...figures } = traced
  const { planMsPerNodePerSec: _plain, ...plainFigures } = plain
  expect(figures).toEqual(plainFigures)
  const lines = trace?.split('\n') ?? []
  expect(lines[0]).toMatch(/^trace of n\d+ \(ms since its loss\):$/)
  // Its ring watchers knock, accuse and report it; two reports make it dead everywhere.
  expect(lines.filter((line) => / accused: silent \d+ ms/.test(line)).length).toBeGreaterThanOrEqual(2)
  expect(lines.some((line) => / {2}reported$/.test(line))).toBe(true)
  expect(lines.filter((line) => / dead: .* by reports/.test(line)).length).toBeGreaterThanOrEqual(18)
  expect(lines.at(-1)).toMatch(/^seen dead: /)
})

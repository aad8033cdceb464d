import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import type { RunOutcome } from '../src/children.js'
import { SCENARIO_NAMES } from '../src/index.js'

// The whole table of `npm run sim`, as the simulator's CLI runs it (built by the test command),
// two runs at a time on the machine's two cores: every scenario at every size must end with the
// invariants holding. Timings are printed by `npm run sim`, not tested.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function table(nodes: number): Promise<RunOutcome[]> {
  // A young generation of 64 MiB: the simulator allocates fast, and with the default a fifth of
  // a run went to the collector (a mass apply at 1000 nodes: 26.4 s, 22.5 s with 64 MiB).
  const args = [
    '--max-old-space-size=8192',
    '--max-semi-space-size=64',
    CLI,
    '--nodes',
    `${nodes}`,
    '--jobs',
    '2',
    '--json',
  ]
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(stderr || err.message))
      else
        resolve(
          stdout
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as RunOutcome),
        )
    }),
  )
}

test.each([10, 100, 1000])(
  'every scenario at %i nodes converges with every invariant holding',
  async (nodes) => {
    const rows = await table(nodes)
    expect(rows.map((row) => row.scenario)).toEqual(SCENARIO_NAMES)
    for (const row of rows) {
      expect(row.violation, `${row.scenario} at ${nodes} nodes`).toBeUndefined()
      expect(row.convergeMs, `${row.scenario} at ${nodes} nodes`).toBeDefined()
    }
  },
  1_800_000,
)

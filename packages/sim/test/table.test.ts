import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import type { RunOutcome } from '../src/children.js'
import { SCENARIO_NAMES } from '../src/index.js'

// The whole table of `npm run sim`, as the simulator's CLI runs it (built by the test command),
// two runs at a time on the machine's two cores: every scenario at every size must end with the
// invariants holding. Timings are printed by `npm run sim`, not tested.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function table(sizes: number[]): Promise<RunOutcome[]> {
  // A young generation of 64 MiB: the simulator allocates fast, and with the default a fifth of
  // a run went to the collector (a mass apply at 1000 nodes: 26.4 s, 22.5 s with 64 MiB).
  const args = [
    '--max-old-space-size=8192',
    '--max-semi-space-size=64',
    CLI,
    '--nodes',
    sizes.join(','),
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

// One run of the CLI, largest size first: the small runs fill the cores while the last large
// ones end, rather than running after them.
const SIZES = [1000, 100, 10]

test(`every scenario at ${SIZES.join(', ')} nodes converges with every invariant holding`, async () => {
  const rows = await table(SIZES)
  expect(rows.map((row) => [row.nodes, row.scenario])).toEqual(
    SIZES.flatMap((nodes) => SCENARIO_NAMES.map((scenario) => [nodes, scenario])),
  )
  for (const row of rows) {
    expect(row.violation, `${row.scenario} at ${row.nodes} nodes`).toBeUndefined()
    expect(row.convergeMs, `${row.scenario} at ${row.nodes} nodes`).toBeDefined()
  }
}, 1_800_000)

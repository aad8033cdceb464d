import { parseArgs } from 'node:util'
import { runScenario, SCENARIO_NAMES } from './scenarios.js'
import { renderRow, TABLE_HEADER } from './table.js'

// npm run sim -- --nodes 10,100 [--scenario NAME[,NAME...]] [--seed S]
function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`)
  process.exit(1)
}

let values: { nodes: string; scenario?: string; seed: string }
try {
  ;({ values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10,100' },
      scenario: { type: 'string' },
      seed: { type: 'string', default: '1' },
    },
  }))
} catch (err) {
  fail(`${(err as Error).message} (usage: npm run sim -- --nodes 10,100 [--scenario NAME] [--seed S])`)
}
const sizes = values.nodes.split(',').map(Number)
const scenarios = values.scenario?.split(',') ?? SCENARIO_NAMES
const unknown = scenarios.filter((name) => !SCENARIO_NAMES.includes(name))
const seed = Number(values.seed)
if (unknown.length > 0) fail(`unknown scenario ${unknown.join(', ')} (known: ${SCENARIO_NAMES.join(', ')})`)
if (sizes.some((n) => !Number.isInteger(n) || n < 2))
  fail('--nodes takes whole numbers of at least 2, like 10,100')
if (!Number.isInteger(seed) || seed < 0) fail('--seed takes a whole number of at least 0, like 1')

// Each row is printed as its run ends: a table at 1000 nodes takes most of an hour, and an
// interrupted run keeps what it measured.
console.log(TABLE_HEADER)
let peakRss = 0
for (const nodes of sizes) {
  for (const scenario of scenarios) {
    const started = performance.now()
    console.log(renderRow(await runScenario(scenario, { nodes, seed })))
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
    process.stderr.write(
      `${scenario} at ${nodes} nodes: ${((performance.now() - started) / 1000).toFixed(1)} s real\n`,
    )
  }
}
console.log(`\nseed ${seed}; peak RSS of the simulator ${Math.round(peakRss / 2 ** 20)} MiB`)

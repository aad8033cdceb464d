import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { MAX_SHARDS } from '@gary/protocol'
import { inOrder, type RunOutcome, runInChild, stopChildren } from './children.js'
import { POLICY_SCENARIO_NAMES, runScenario, SCENARIO_NAMES } from './scenarios.js'
import { renderRow, TABLE_HEADER } from './table.js'

const USAGE =
  'npm run sim -- --nodes 10,100 [--scenario NAME[,NAME...]] [--seed S] [--shards S|auto] [--jobs J] [--json] [--trace-loss]'

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`)
  process.exit(1)
}

let values: {
  nodes: string
  scenario?: string
  seed: string
  shards: string
  jobs: string
  json: boolean
  'trace-loss': boolean
}
try {
  ;({ values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10,100' },
      scenario: { type: 'string' },
      seed: { type: 'string', default: '1' },
      shards: { type: 'string', default: 'auto' },
      jobs: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      // What every node did about the first node lost (loss scenarios), to stderr.
      'trace-loss': { type: 'boolean', default: false },
    },
  }))
} catch (err) {
  fail(`${(err as Error).message} (usage: ${USAGE})`)
}
const sizes = values.nodes.split(',').map(Number)
const scenarios = values.scenario?.split(',') ?? SCENARIO_NAMES
const unknown = scenarios.filter(
  (name) => !SCENARIO_NAMES.includes(name) && !POLICY_SCENARIO_NAMES.includes(name),
)
const seed = Number(values.seed)
const jobs = Number(values.jobs)
const shards = values.shards === 'auto' ? undefined : Number(values.shards)
const trace = values['trace-loss']
if (unknown.length > 0)
  fail(
    `unknown scenario ${unknown.join(', ')} (known: ${[...SCENARIO_NAMES, ...POLICY_SCENARIO_NAMES].join(', ')})`,
  )
if (sizes.some((n) => !Number.isInteger(n) || n < 2))
  fail('--nodes takes whole numbers of at least 2, like 10,100')
if (!Number.isInteger(seed) || seed < 0) fail('--seed takes a whole number of at least 0, like 1')
if (shards !== undefined && (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS))
  fail(`--shards takes auto (one per 32 nodes) or a whole number from 1 to ${MAX_SHARDS}, like 31`)
if (!Number.isInteger(jobs) || jobs < 1) fail('--jobs takes a whole number of at least 1, like 2')

const runs = sizes.flatMap((nodes) => scenarios.map((scenario) => ({ nodes, scenario })))

/** One run in this process: what a child prints with --json, and what --jobs 1 runs. */
async function runHere(scenario: string, nodes: number): Promise<RunOutcome> {
  const result = await runScenario(scenario, {
    nodes,
    seed,
    ...(shards === undefined ? {} : { shards }),
    ...(trace ? { trace } : {}),
  })
  return { ...result, peakRssBytes: process.resourceUsage().maxRSS * 1024 }
}

// Each row is printed as soon as it and the rows before it are measured: a table at 1000 nodes
// takes many minutes, and an interrupted run keeps what it measured.
if (!values.json) console.log(TABLE_HEADER)
const cli = fileURLToPath(import.meta.url)
let peakRss = 0
const table = inOrder(
  runs.map(({ nodes, scenario }) => async () => {
    const started = performance.now()
    const outcome =
      jobs === 1
        ? await runHere(scenario, nodes)
        : await runInChild(cli, scenario, nodes, seed, shards, trace)
    if (!values.json)
      process.stderr.write(
        `${scenario} at ${nodes} nodes: ${((performance.now() - started) / 1000).toFixed(1)} s real\n`,
      )
    return outcome
  }),
  jobs,
  (outcome) => {
    peakRss = Math.max(peakRss, outcome.peakRssBytes)
    if (!values.json && outcome.trace !== undefined) process.stderr.write(`${outcome.trace}\n`)
    console.log(values.json ? JSON.stringify(outcome) : renderRow(outcome))
  },
)
// A failed run ends the others: the table is not printed whole anyway.
await table.catch((err: Error) => {
  stopChildren()
  fail(err.message)
})
if (!values.json)
  console.log(
    `\nseed ${seed}; peak RSS of the simulator ${Math.round(peakRss / 2 ** 20)} MiB${jobs > 1 ? ' (the largest of its processes)' : ''}`,
  )

import type { ScenarioResult } from './scenarios.js'

const ms = (value: number | undefined) => (value === undefined ? 'never' : `${Math.round(value)} ms`)
const num = (value: number) => (value >= 100 ? Math.round(value).toString() : value.toFixed(1))

/** The results as a Markdown table, one row per scenario and cluster size. */
export function renderResults(results: ScenarioResult[]): string {
  const header =
    '| scenario | nodes | replicas | converged after | recovered after | msgs/node/s mean (max) | bytes/node/s mean (max) | duplicate s | missing s | plan ms/node/s | invariants |'
  const rows = results.map(
    (r) =>
      `| ${r.scenario} | ${r.nodes} | ${r.replicas} | ${ms(r.convergeMs)} | ${r.recoverMs === undefined ? '-' : ms(r.recoverMs)} | ` +
      `${num(r.msgsPerNodePerSec.mean)} (${num(r.msgsPerNodePerSec.max)}) | ${num(r.bytesPerNodePerSec.mean)} (${num(r.bytesPerNodePerSec.max)}) | ` +
      `${num(r.duplicateSeconds)} | ${num(r.missingSeconds)} | ${r.planMsPerNodePerSec.toFixed(2)} | ${r.violation ?? 'hold'} |`,
  )
  return [header, `|${'---|'.repeat(11)}`, ...rows].join('\n')
}

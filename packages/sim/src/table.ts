import type { ScenarioResult } from './scenarios.js'

const ms = (value: number | undefined) => (value === undefined ? 'never' : `${Math.round(value)} ms`)
const num = (value: number) => (value >= 100 ? Math.round(value).toString() : value.toFixed(1))

/** The Markdown table's header and separator lines. */
export const TABLE_HEADER = [
  '| scenario | nodes | shards | replicas | converged after | loss seen after | msgs/node/s mean (max) | bytes/node/s mean (max) | duplicate s | missing s | plan ms/node/s | invariants |',
  `|${'---|'.repeat(12)}`,
].join('\n')

/** One result as a row of the table. */
export function renderRow(r: ScenarioResult): string {
  return (
    `| ${r.scenario} | ${r.nodes} | ${r.shards} | ${r.replicas} | ${ms(r.convergeMs)} | ${r.lossSeenMs === undefined ? '-' : ms(r.lossSeenMs ?? undefined)} | ` +
    `${num(r.msgsPerNodePerSec.mean)} (${num(r.msgsPerNodePerSec.max)}) | ${num(r.bytesPerNodePerSec.mean)} (${num(r.bytesPerNodePerSec.max)}) | ` +
    `${num(r.duplicateSeconds)} | ${num(r.missingSeconds)} | ${r.planMsPerNodePerSec.toFixed(2)} | ${r.violation ?? 'hold'} |`
  )
}

/** The results as a Markdown table, one row per scenario and cluster size. */
export function renderResults(results: ScenarioResult[]): string {
  return [TABLE_HEADER, ...results.map(renderRow)].join('\n')
}

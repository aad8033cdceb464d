/**
 * A deterministic simulator that runs Gary's own code (the membership and declarations agents,
 * the placement rules and the reconcile loop) for many nodes on one virtual clock, with the
 * network, the clock and the container engine simulated.
 *
 * @example
 * ```ts
 * import { runScenario } from '@gary/sim'
 *
 * const result = await runScenario('machine-loss', { nodes: 100, seed: 1 })
 * console.log(result.lossSeenMs, result.convergeMs, result.violation ?? 'invariants hold')
 * ```
 */
export { SimCluster, simWorkload } from './cluster.js'
export { Engine } from './engine.js'
export { LAN, Network, type NetworkConfig } from './network.js'
export { nodeSeed, Random } from './random.js'
export { POLICY_SCENARIO_NAMES, runScenario, SCENARIO_NAMES, type ScenarioResult } from './scenarios.js'
export { SimNode } from './sim-node.js'
export { renderResults } from './table.js'
